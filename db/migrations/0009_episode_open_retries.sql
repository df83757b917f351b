-- Automatic episode openings that fail are retried while the bot runs (issue #4 follow-up).
-- episodes.open_attempts: failed automatic attempts since the last success (drives the retry backoff);
-- reset when the episode's thread is recorded.
-- episode_open_notices: which failure kinds the server's admins were told about (once per kind, not once per
-- retry); a guild's rows are cleared when one of its threads opens, so a later failure is reported again.
-- Times are ISO-8601 UTC text with offset, like the rest of the schema.

ALTER TABLE episodes ADD COLUMN open_attempts INTEGER NOT NULL DEFAULT 0;

CREATE TABLE episode_open_notices (
    guild_id    INTEGER NOT NULL,
    kind        TEXT NOT NULL,             -- 'no_channel', 'missing_permissions:create_public_threads', ...
    notified_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, kind)
);
