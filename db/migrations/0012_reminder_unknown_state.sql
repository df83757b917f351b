-- Watch-party reminders: a final state 'unknown' for a reminder a crash left in 'sending' (we cannot know whether
-- Discord received it; it is never sent again). Start-up moves such rows to 'unknown' once, so they are not
-- re-read and warned about at every start. SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- with the same columns (times stay INTEGER epoch seconds, UTC), rows and index.
CREATE TABLE party_reminders_new (
    party_id       INTEGER NOT NULL REFERENCES watch_parties (id) ON DELETE CASCADE,
    offset_seconds INTEGER NOT NULL,
    fire_at        INTEGER NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'unknown')),
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    sent_at        INTEGER,
    UNIQUE (party_id, offset_seconds)
);
INSERT INTO party_reminders_new (party_id, offset_seconds, fire_at, state, late, sent_at)
    SELECT party_id, offset_seconds, fire_at, state, late, sent_at FROM party_reminders;
DROP TABLE party_reminders;
ALTER TABLE party_reminders_new RENAME TO party_reminders;
-- "due reminders": the pending ones by time (and the 'sending' ones at start-up).
CREATE INDEX party_reminders_due ON party_reminders (state, fire_at);
