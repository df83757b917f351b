"""Per-server settings and bot-wide state (all SQL for them lives here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from db.database import IN_CHUNK, Database
from db.models import CHANNEL_KINDS, ROLE_KINDS, GuildSettings

# SQLite's default limit on host parameters per statement is 999 (older builds); stay well under it.
_FIELDS = [f.name for f in dataclasses.fields(GuildSettings)]
_SELECT_SETTINGS = f"SELECT {', '.join(_FIELDS)} FROM guild_settings WHERE guild_id = ?"  # noqa: S608
# Columns an update may name; anything else is a programming error, never interpolated from input.
_UPDATABLE = frozenset(
    [f"{k}_channel_id" for k in CHANNEL_KINDS]
    + [f"{k}_role_id" for k in ROLE_KINDS]
    + ["timezone", "reminder_offsets", "thread_archive_minutes", "max_parties_per_guild", "max_parties_per_member",
       "max_party_title_length", "max_party_description_length", "guide_posted_at",
       "web_public", "spoiler_mode", "news_threads"]
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class GuildSettingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure(self, guild_id: int) -> tuple[GuildSettings, bool]:
        """The server's settings, created with defaults if missing; the flag says whether they were created."""
        now = _now()
        created = await self.db.execute(
            "INSERT INTO guild_settings (guild_id, created_at, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO NOTHING",
            (guild_id, now, now),
        )
        return await self.get(guild_id), created.rowcount == 1

    async def ensure_many(self, guild_ids: Sequence[int]) -> int:
        """Default settings for every server in `guild_ids` that has none, in one transaction; how many were created.

        What start-up does for thousands of servers at once instead of one `ensure` (two statements) per server.
        """
        if not guild_ids:
            return 0
        now = _now()
        async with self.db.transaction() as tx:
            before = await tx.fetch_one("SELECT total_changes() AS n")
            await tx.executemany(
                "INSERT INTO guild_settings (guild_id, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id) DO NOTHING",
                [(guild_id, now, now) for guild_id in guild_ids],
            )
            after = await tx.fetch_one("SELECT total_changes() AS n")
        return int(after["n"] if after else 0) - int(before["n"] if before else 0)

    async def without_guide(self, guild_ids: Sequence[int]) -> set[int]:
        """Those of `guild_ids` whose set-up guide was never posted (servers without settings included)."""
        posted: set[int] = set()
        for start in range(0, len(guild_ids), IN_CHUNK):
            chunk = list(guild_ids[start:start + IN_CHUNK])
            marks = ", ".join("?" * len(chunk))
            rows = await self.db.fetch_all(
                f"SELECT guild_id FROM guild_settings WHERE guide_posted_at IS NOT NULL AND guild_id IN ({marks})",  # noqa: S608
                chunk,
            )
            posted.update(int(row["guild_id"]) for row in rows)
        return {guild_id for guild_id in guild_ids if guild_id not in posted}

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self.db.fetch_one(_SELECT_SETTINGS, (guild_id,))
        if row is None:
            return GuildSettings(guild_id=guild_id)
        values = {name: row[name] for name in _FIELDS}
        values["web_public"] = bool(values["web_public"])
        values["news_threads"] = bool(values["news_threads"])
        return GuildSettings(**values)

    async def update(self, guild_id: int, **values: object) -> GuildSettings:
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a guild setting: {sorted(unknown)}")
        now = _now()
        columns = sorted(values)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id) DO NOTHING",
                (guild_id, now, now),
            )
            assignments = ", ".join(f"{c} = ?" for c in columns)
            await tx.execute(
                f"UPDATE guild_settings SET {assignments}, updated_at = ? WHERE guild_id = ?",  # noqa: S608
                [values[c] for c in columns] + [now, guild_id],
            )
        return await self.get(guild_id)


class BotStateRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        row = await self.db.fetch_one("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if row is None else row["value"]

    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
