"""Per-server settings: what the commands and the other services read and change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from db.database import Database
from db.guilds import BotStateRepository, GuildSettingsRepository
from db.models import CHANNEL_KINDS, ROLE_KINDS, GuildSettings

LAST_ONLINE_KEY = "last_online_at"


class SettingsService:
    def __init__(self, db: Database) -> None:
        self._repo = GuildSettingsRepository(db)
        self._state = BotStateRepository(db)

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._repo.get(guild_id)

    async def ensure(self, guild_id: int) -> tuple[GuildSettings, bool]:
        """The settings, creating the defaults for a server seen for the first time."""
        return await self._repo.ensure(guild_id)

    async def ensure_many(self, guild_ids: Sequence[int]) -> int:
        """Default settings for every one of these servers that has none (one transaction); how many were created."""
        return await self._repo.ensure_many(guild_ids)

    async def without_guide(self, guild_ids: Sequence[int]) -> set[int]:
        """Those of these servers that never got the set-up guide."""
        return await self._repo.without_guide(guild_ids)

    async def set_channel(self, guild_id: int, kind: str, channel_id: int | None) -> GuildSettings:
        if kind not in CHANNEL_KINDS:
            raise ValueError(kind)
        return await self._repo.update(guild_id, **{f"{kind}_channel_id": channel_id})

    async def set_role(self, guild_id: int, kind: str, role_id: int | None) -> GuildSettings:
        if kind not in ROLE_KINDS:
            raise ValueError(kind)
        return await self._repo.update(guild_id, **{f"{kind}_role_id": role_id})

    async def update(self, guild_id: int, **values: object) -> GuildSettings:
        return await self._repo.update(guild_id, **values)

    async def last_online(self) -> datetime | None:
        """When this bot was last known to be connected (before the current run), if ever."""
        value = await self._state.get(LAST_ONLINE_KEY)
        return datetime.fromisoformat(value) if value else None

    async def mark_online(self, now: datetime) -> None:
        await self._state.set(LAST_ONLINE_KEY, now.isoformat())
