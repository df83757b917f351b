-- Alert threads that are never lost (issue 12). A news alert whose discussion thread could not be opened when it
-- was posted gets a row here; rows are deleted once the thread exists. Times are integer Unix epoch seconds (UTC).
-- state: pending (a failure that may pass: 5xx, 429, timeout; retried from next_attempt_at with backoff),
-- refused (403: no Create Public Threads permission; not retried, the admins were told), failed (the message or
-- channel is gone, or Discord rejected the request), given_up (still failing after the bounded attempts).
-- title and archive_minutes are what the thread is opened with (named in the server's language at that time).
CREATE TABLE news_alert_threads (
    delivery_id     INTEGER PRIMARY KEY REFERENCES news_deliveries (id) ON DELETE CASCADE,
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    title           TEXT NOT NULL,
    archive_minutes INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    next_attempt_at INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX news_alert_threads_due ON news_alert_threads (next_attempt_at) WHERE state = 'pending';

-- A channel where Discord refused to open alert threads (403) and whose admins were told: told once, until a thread
-- opens there again.
CREATE TABLE news_thread_refusals (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    notified_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
