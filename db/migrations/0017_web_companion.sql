-- The web companion: secret tokens behind calendar subscriptions and public pages, and each server's opt-in.
-- A token is the capability (whoever has the URL may read); lookups go by its SHA-256 and the token itself is then
-- compared in constant time. One token per (scope, owner); replacing it makes the old URL answer 404.
-- Times are integer Unix epoch seconds (UTC).
CREATE TABLE web_tokens (
    token_hash TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('guild_calendar', 'member_calendar', 'public_page')),
    owner_id   INTEGER NOT NULL,            -- a server id, or a member's user id for 'member_calendar'
    created_at INTEGER NOT NULL,
    UNIQUE (scope, owner_id)
);

-- Whether the server's public fan page is shown (off by default).
ALTER TABLE guild_settings ADD COLUMN web_public INTEGER NOT NULL DEFAULT 0;
