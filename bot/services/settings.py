"""Per-server settings: what the commands and the other services read and change."""

from __future__ import annotations

from db.database import Database
from db.guilds import GuildSettingsRepository
from db.models import CHANNEL_KINDS, ROLE_KINDS, GuildSettings


class SettingsService:
    def __init__(self, db: Database) -> None:
        self._repo = GuildSettingsRepository(db)

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._repo.get(guild_id)

    async def ensure(self, guild_id: int) -> tuple[GuildSettings, bool]:
        """The settings, creating the defaults for a server seen for the first time."""
        return await self._repo.ensure(guild_id)

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
