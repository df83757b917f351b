-- News delivery retries (issue #6 review). Times are integer Unix epoch seconds (UTC), as in 0005.
-- retries: sends that failed for a reason that may pass (Discord 5xx, 429, timeouts, network); they do not count
--   toward giving up on a story (attempts - retries does: sends whose outcome was never recorded, i.e. crashes).
-- next_attempt_at: per-delivery backoff after such a failure (NULL = now); the channel's later stories wait too.
ALTER TABLE news_deliveries ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE news_deliveries ADD COLUMN next_attempt_at INTEGER;
