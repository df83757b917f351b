-- Settings the feature areas read: reminder offsets, thread archiving, limits, the guide already posted.
ALTER TABLE guild_settings ADD COLUMN reminder_offsets TEXT NOT NULL DEFAULT '1d 1h 10m 0';
ALTER TABLE guild_settings ADD COLUMN thread_archive_minutes INTEGER NOT NULL DEFAULT 10080;
ALTER TABLE guild_settings ADD COLUMN max_parties_per_guild INTEGER NOT NULL DEFAULT 50;
ALTER TABLE guild_settings ADD COLUMN max_parties_per_member INTEGER NOT NULL DEFAULT 5;
ALTER TABLE guild_settings ADD COLUMN guide_posted_at TEXT;
