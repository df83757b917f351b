-- Spoiler warnings fans opt into (issue 9): who /episode thread warns before linking an episode beyond their
-- recorded progress. 'tracked' (default): only members who recorded progress for the show; 'everyone': also
-- members who recorded none; 'off': nobody.
ALTER TABLE guild_settings ADD COLUMN spoiler_mode TEXT NOT NULL DEFAULT 'tracked'
    CHECK (spoiler_mode IN ('tracked', 'everyone', 'off'));
