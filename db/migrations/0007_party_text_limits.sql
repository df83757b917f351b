-- Per-server limits on watch-party titles and descriptions (characters).
ALTER TABLE guild_settings ADD COLUMN max_party_title_length INTEGER NOT NULL DEFAULT 100;
ALTER TABLE guild_settings ADD COLUMN max_party_description_length INTEGER NOT NULL DEFAULT 1000;
