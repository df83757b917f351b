-- Watch parties (issue #5): member time zones, parties, RSVPs and the reminder ledger.
-- Every time is INTEGER epoch seconds, UTC (cheap to index and compare; shown to members as <t:...>).

-- A member's own zone, the same in every server (IANA name).
CREATE TABLE member_timezones (
    user_id    INTEGER PRIMARY KEY,
    timezone   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE watch_parties (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id           INTEGER NOT NULL,
    channel_id         INTEGER NOT NULL,            -- where the announcement and the reminders go
    message_id         INTEGER,                     -- the announcement, once posted
    host_id            INTEGER NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT,
    show               TEXT,                        -- free text (show name)
    episode            INTEGER,
    starts_at          INTEGER NOT NULL,
    duration_minutes   INTEGER NOT NULL,
    zone               TEXT NOT NULL,               -- the zone `when` was read in (weekly repeats keep its wall time)
    voice_channel_id   INTEGER,
    scheduled_event_id INTEGER,
    status             TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled', 'ended')),
    series_id          INTEGER,                     -- id of the first party of a repeat_weekly series
    sequence           INTEGER NOT NULL DEFAULT 0,  -- bumped on every edit (iCalendar SEQUENCE)
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- "upcoming by guild" (list, limits) and "upcoming by host" (per-member limit).
CREATE INDEX watch_parties_guild_upcoming ON watch_parties (guild_id, status, starts_at);
CREATE INDEX watch_parties_host_upcoming ON watch_parties (guild_id, host_id, status, starts_at);
-- start-up rebuild of end-of-party jobs.
CREATE INDEX watch_parties_status_start ON watch_parties (status, starts_at);

CREATE TABLE rsvps (
    party_id     INTEGER NOT NULL REFERENCES watch_parties (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    display_name TEXT NOT NULL,                    -- as it was when the member clicked (no members intent)
    status       TEXT NOT NULL CHECK (status IN ('going', 'maybe', 'declined')),
    dm_reminders INTEGER NOT NULL DEFAULT 0 CHECK (dm_reminders IN (0, 1)),
    updated_at   INTEGER NOT NULL,
    UNIQUE (party_id, user_id)
);

-- One row per (party, offset). States: pending -> sending -> sent | failed; pending -> skipped.
-- 'sending' is written (committed) before the post and 'sent' after it: a row left in 'sending' by a crash is
-- never sent again (see bot/services/watchparties.py, "Exactly once").
CREATE TABLE party_reminders (
    party_id       INTEGER NOT NULL REFERENCES watch_parties (id) ON DELETE CASCADE,
    offset_seconds INTEGER NOT NULL,
    fire_at        INTEGER NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    sent_at        INTEGER,
    UNIQUE (party_id, offset_seconds)
);
-- "due reminders": the pending ones by time.
CREATE INDEX party_reminders_due ON party_reminders (state, fire_at);
