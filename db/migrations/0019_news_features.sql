-- News features (issue 12): per-feed ping and alert threads, corrections, WebSub push. Times are integer Unix epoch
-- seconds (UTC), as in 0005.

-- Per feed: ping_role_id NULL = the server's news role, 0 = post quietly, else that role.
-- thread NULL = the server's setting (guild_settings.news_threads), 0 = off, 1 = each alert gets its own thread
-- (text channels; a forum channel already gets one post per story).
ALTER TABLE news_subscriptions ADD COLUMN ping_role_id INTEGER;
ALTER TABLE news_subscriptions ADD COLUMN thread INTEGER;
ALTER TABLE guild_settings ADD COLUMN news_threads INTEGER NOT NULL DEFAULT 0;

-- posted_channel_id: the channel the story was posted in (the news channel may change later), for edits and links.
-- revision: times the posted message was edited for a correction (bounded); edit_pending: a correction is stored in
-- the payload and the message still has to be edited (retried by the next delivery run).
ALTER TABLE news_deliveries ADD COLUMN posted_channel_id INTEGER;
ALTER TABLE news_deliveries ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE news_deliveries ADD COLUMN edit_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX news_deliveries_feed_entry ON news_deliveries (feed_id, entry_key);

-- WebSub subscriptions, one per feed URL that advertises a hub. No foreign key: the row must outlive the feed row
-- (deleted when nobody follows it) so the bot can still unsubscribe. callback_token names the callback URL
-- (/websub/<token>); secret is the hub.secret the hub signs pushes with. state: subscribing (request sent, waiting
-- for the hub's verification of intent), active (verified; lease_expires_at set), unsubscribing.
CREATE TABLE news_websub (
    feed_id          INTEGER PRIMARY KEY,
    topic            TEXT NOT NULL,
    hub              TEXT NOT NULL,
    callback_token   TEXT NOT NULL UNIQUE,
    secret           TEXT NOT NULL,
    state            TEXT NOT NULL,
    lease_expires_at INTEGER,
    requested_at     INTEGER NOT NULL,
    last_push_at     INTEGER
);
