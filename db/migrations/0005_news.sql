-- News alerts (issue #6). All times in these tables are integer Unix epoch seconds (UTC).

-- One row per distinct normalized feed URL, however many servers follow it: it is fetched once per interval.
CREATE TABLE news_feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT NOT NULL UNIQUE,
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_checked_at      INTEGER,
    last_success_at      INTEGER,
    last_new_item_at     INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX news_feeds_next_poll ON news_feeds (next_poll_at);

-- A server following a feed; channel_id NULL means the server's configured news channel.
CREATE TABLE news_subscriptions (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL,
    feed_id             INTEGER NOT NULL REFERENCES news_feeds (id) ON DELETE CASCADE,
    channel_id          INTEGER,
    paused              INTEGER NOT NULL DEFAULT 0,
    created_by          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    failure_notice_sent INTEGER NOT NULL DEFAULT 0,
    UNIQUE (guild_id, feed_id)
);
CREATE INDEX news_subscriptions_feed ON news_subscriptions (feed_id);

-- Keywords: server-wide (subscription_id NULL) or for one subscription, which then replaces the server-wide set.
-- kind: include, exclude, regex, regex_exclude (as parsed by bot.domain.news_match).
CREATE TABLE news_keywords (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    subscription_id INTEGER REFERENCES news_subscriptions (id) ON DELETE CASCADE,
    raw             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX news_keywords_unique ON news_keywords (guild_id, COALESCE(subscription_id, 0), raw);

-- Entries a feed has shown, by stable entry key: the per-feed dedupe. last_seen_at is refreshed on every full
-- fetch, so only entries that left the feed long ago are pruned.
CREATE TABLE news_seen_entries (
    feed_id       INTEGER NOT NULL REFERENCES news_feeds (id) ON DELETE CASCADE,
    entry_key     TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (feed_id, entry_key)
);

-- One row per story per server: the cross-feed dedupe window (dedupe_key = normalized link, else feed + entry key;
-- titles compared in code) and the crash-safety log. state: pending (intent written, not known to be posted),
-- sent (message_id recorded), failed (given up). attempted_at is set just before the send call.
CREATE TABLE news_deliveries (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    subscription_id   INTEGER REFERENCES news_subscriptions (id) ON DELETE SET NULL,
    feed_id           INTEGER REFERENCES news_feeds (id) ON DELETE SET NULL,
    channel_id        INTEGER,
    entry_key         TEXT NOT NULL,
    dedupe_key        TEXT NOT NULL,
    link              TEXT,
    title             TEXT NOT NULL,
    title_fingerprint TEXT NOT NULL,
    payload           TEXT NOT NULL,
    published_at      INTEGER,
    state             TEXT NOT NULL DEFAULT 'pending',
    attempts          INTEGER NOT NULL DEFAULT 0,
    attempted_at      INTEGER,
    message_id        INTEGER,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    sent_at           INTEGER,
    UNIQUE (guild_id, dedupe_key)
);
CREATE INDEX news_deliveries_state ON news_deliveries (state, created_at);
CREATE INDEX news_deliveries_recent ON news_deliveries (guild_id, created_at);
