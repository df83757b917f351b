-- Watch-party reminders reconciled after a crash (exactly once in the channel, at most once per DM).
-- claimed_at: the real time (UTC epoch seconds) the post was claimed; after a crash the channel is searched for the
-- reminder's marker from shortly before it. party_reminder_dms: each DM is recorded (committed) BEFORE it is sent,
-- so a DM is never sent twice; a crash between the record and the send loses that one DM.
ALTER TABLE party_reminders ADD COLUMN claimed_at INTEGER;
CREATE TABLE party_reminder_dms (
    party_id       INTEGER NOT NULL,
    offset_seconds INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    PRIMARY KEY (party_id, offset_seconds, user_id),
    FOREIGN KEY (party_id, offset_seconds) REFERENCES party_reminders (party_id, offset_seconds) ON DELETE CASCADE
);
