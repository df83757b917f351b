-- Seasons announced before their dates (issue 9). A season row holds what is known before its episodes air:
-- the premiere (NULL: to be announced), how many episodes (NULL: unknown), its own release pace (NULL: the
-- show's), and the Discord objects of its premiere countdown: the announcement message (and the channel it is
-- in) and the scheduled event. Seasons of shows that existed before have no row until they are edited.
-- shows.platform: where the show streams ('Netflix'), the location of premiere events.
-- Times are ISO-8601 UTC text with offset, like the rest of the episodes schema.

ALTER TABLE shows ADD COLUMN platform TEXT;

CREATE TABLE seasons (
    id                      INTEGER PRIMARY KEY,
    show_id                 INTEGER NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    season                  INTEGER NOT NULL CHECK (season >= 1),
    premiere_at             TEXT,
    episode_count           INTEGER CHECK (episode_count IS NULL OR episode_count >= 1),
    release_pace            TEXT CHECK (release_pace IS NULL OR release_pace IN ('all_at_once', 'daily', 'on_air')),
    announcement_channel_id INTEGER,
    announcement_message_id INTEGER,
    scheduled_event_id      INTEGER,
    UNIQUE (show_id, season)
);
