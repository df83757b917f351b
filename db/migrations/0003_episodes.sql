-- Episode discussion threads (issue #4): shows, episodes, their threads, ratings and members' progress.
-- Times are ISO-8601 UTC text with offset ('2025-01-24T08:00:00+00:00'), like the rest of the schema.
-- Removing a show removes its episodes, thread rows, ratings and progress (ON DELETE CASCADE); the Discord
-- threads themselves are never touched by a delete.

CREATE TABLE shows (
    id             INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL,
    key            TEXT NOT NULL,          -- slug, unique per server: 'trauma-code'
    title          TEXT NOT NULL,
    original_title TEXT,
    short_name     TEXT NOT NULL,          -- used in thread names and forum tags
    release_pace   TEXT NOT NULL DEFAULT 'on_air' CHECK (release_pace IN ('all_at_once', 'daily', 'on_air')),
    created_at     TEXT NOT NULL,
    UNIQUE (guild_id, key)
);

CREATE TABLE episodes (
    id                INTEGER PRIMARY KEY,
    show_id           INTEGER NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    season            INTEGER NOT NULL CHECK (season >= 1),
    number            INTEGER NOT NULL CHECK (number >= 1),
    title             TEXT,
    airs_at           TEXT,                -- NULL: not scheduled yet
    -- 1 while the thread is still to be opened automatically; set when an open time is scheduled in the
    -- future, cleared once opened. An open time found in the past at start-up with this flag set was missed
    -- while the bot was down and is opened then, once.
    auto_open_pending INTEGER NOT NULL DEFAULT 0,
    UNIQUE (show_id, season, number)
);
CREATE INDEX episodes_pending ON episodes (auto_open_pending) WHERE auto_open_pending = 1;

CREATE TABLE episode_threads (
    id                 INTEGER PRIMARY KEY,
    guild_id           INTEGER NOT NULL,
    episode_id         INTEGER NOT NULL UNIQUE REFERENCES episodes (id) ON DELETE CASCADE,
    channel_id         INTEGER NOT NULL,   -- the discussion channel (forum or text) the thread lives in
    thread_id          INTEGER NOT NULL,
    starter_message_id INTEGER NOT NULL,   -- in the thread (forum) or in channel_id (text)
    kind               TEXT NOT NULL CHECK (kind IN ('forum', 'text')),
    state              TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'archived', 'locked')),
    created_at         TEXT NOT NULL
);
CREATE INDEX episode_threads_thread ON episode_threads (thread_id);

CREATE TABLE episode_ratings (
    episode_id INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    stars      INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    rated_at   TEXT NOT NULL,
    PRIMARY KEY (episode_id, user_id)
);

CREATE TABLE episode_progress (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    show_id    INTEGER NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    season     INTEGER NOT NULL,
    episode    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (show_id, user_id)
);
CREATE INDEX episode_progress_member ON episode_progress (guild_id, user_id);
