-- News polling speed (issue 12). The SHA-256 (hex) of the body of a feed's last fully ingested fetch: a body whose
-- bytes did not change (servers that ignore conditional requests) is recognized without being parsed again.
-- NULL until the next full fetch (rows written before this migration, and feeds never fetched successfully).
ALTER TABLE news_feeds ADD COLUMN body_hash TEXT;
