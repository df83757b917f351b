-- Per-server settings and bot-wide state.
CREATE TABLE guild_settings (
    guild_id                INTEGER PRIMARY KEY,
    news_channel_id         INTEGER,
    discussion_channel_id   INTEGER,
    watchparty_channel_id   INTEGER,
    log_channel_id          INTEGER,
    news_ping_role_id       INTEGER,
    watchparty_ping_role_id INTEGER,
    moderator_role_id       INTEGER,
    timezone                TEXT NOT NULL DEFAULT 'UTC',
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);

-- Small bot-wide facts, such as the hash of the last synced command tree.
CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
