"""Plain records the repositories return; no behaviour that needs the database."""

from __future__ import annotations

from dataclasses import dataclass

CHANNEL_KINDS = ("news", "discussion", "watchparty", "log")
ROLE_KINDS = ("news_ping", "watchparty_ping", "moderator")


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    news_channel_id: int | None = None
    discussion_channel_id: int | None = None
    watchparty_channel_id: int | None = None
    log_channel_id: int | None = None
    news_ping_role_id: int | None = None
    watchparty_ping_role_id: int | None = None
    moderator_role_id: int | None = None
    timezone: str = "UTC"
    reminder_offsets: str = "1d 1h 10m 0"
    thread_archive_minutes: int = 10080
    max_parties_per_guild: int = 50
    max_parties_per_member: int = 5
    max_party_title_length: int = 100
    max_party_description_length: int = 1000
    guide_posted_at: str | None = None
    web_public: bool = False
    spoiler_mode: str = "tracked"
    news_threads: bool = False  # each news alert in a text channel gets its own thread (migration 0019)

    def channel_id(self, kind: str) -> int | None:
        value: int | None = getattr(self, f"{kind}_channel_id")
        return value

    def role_id(self, kind: str) -> int | None:
        value: int | None = getattr(self, f"{kind}_role_id")
        return value
