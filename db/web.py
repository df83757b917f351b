"""What the web companion reads: its secret tokens, and read-only views of parties, episodes, ratings and news.

Everything here is read-only except the tokens. The views return plain records with only what a page or a
calendar shows: never a member's name.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from db.database import Database
from db.watchparties import from_epoch, to_epoch

TOKEN_SCOPES = ("guild_calendar", "member_calendar", "public_page")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredToken:
    token: str
    owner_id: int


@dataclass(frozen=True, slots=True)
class CalendarParty:
    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    voice_channel_id: int | None
    scheduled_event_id: int | None
    title: str
    description: str | None
    show: str | None
    episode: int | None
    starts_at: datetime
    ends_at: datetime
    status: str  # scheduled | cancelled | ended
    sequence: int
    updated_at: datetime
    going: int
    maybe: int


@dataclass(frozen=True, slots=True)
class AiringEpisode:
    """An episode's air time, or (`number` None) a season's premiere; `id` is the episode's, or the show's."""

    id: int
    show_title: str
    season: int
    number: int | None
    title: str | None
    airs_at: datetime

    @property
    def is_premiere(self) -> bool:
        return self.number is None


@dataclass(frozen=True, slots=True)
class EpisodeAverage:
    show_title: str
    season: int
    number: int
    votes: int
    average: float


@dataclass(frozen=True, slots=True)
class PostedStory:
    title: str
    link: str | None
    source: str | None
    sent_at: datetime


_PARTY_COLUMNS = """
    p.id, p.guild_id, p.channel_id, p.message_id, p.voice_channel_id, p.scheduled_event_id, p.title, p.description,
    p.show, p.episode, p.starts_at, p.duration_minutes, p.status, p.sequence, p.updated_at,
    (SELECT COUNT(*) FROM rsvps r WHERE r.party_id = p.id AND r.status = 'going') AS going,
    (SELECT COUNT(*) FROM rsvps r WHERE r.party_id = p.id AND r.status = 'maybe') AS maybe
"""


def _party(row: sqlite3.Row) -> CalendarParty:
    starts = from_epoch(row["starts_at"])
    return CalendarParty(
        id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"], message_id=row["message_id"],
        voice_channel_id=row["voice_channel_id"], scheduled_event_id=row["scheduled_event_id"], title=row["title"],
        description=row["description"], show=row["show"], episode=row["episode"], starts_at=starts,
        ends_at=from_epoch(row["starts_at"] + 60 * row["duration_minutes"]), status=row["status"],
        sequence=row["sequence"], updated_at=from_epoch(row["updated_at"]), going=row["going"], maybe=row["maybe"],
    )


class WebRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tokens -----------------------------------------------------------------------------------------------------
    async def token_of(self, scope: str, owner_id: int) -> str | None:
        row = await self.db.fetch_one("SELECT token FROM web_tokens WHERE scope = ? AND owner_id = ?",
                                      (scope, owner_id))
        return str(row["token"]) if row else None

    async def add_token(self, scope: str, owner_id: int, token: str, now: datetime) -> str:
        """Store `token` unless the owner has one already; the owner's token either way."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO web_tokens (token_hash, token, scope, owner_id, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, owner_id) DO NOTHING",
                (token_hash(token), token, scope, owner_id, to_epoch(now)),
            )
            row = await tx.fetch_one("SELECT token FROM web_tokens WHERE scope = ? AND owner_id = ?",
                                     (scope, owner_id))
        return str(row["token"]) if row is not None else token

    async def replace_token(self, scope: str, owner_id: int, token: str, now: datetime) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM web_tokens WHERE scope = ? AND owner_id = ?", (scope, owner_id))
            await tx.execute(
                "INSERT INTO web_tokens (token_hash, token, scope, owner_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_hash(token), token, scope, owner_id, to_epoch(now)),
            )

    async def find_token(self, scope: str, token: str) -> StoredToken | None:
        """The stored token with this hash in `scope` (the caller compares the token itself in constant time)."""
        row = await self.db.fetch_one("SELECT token, owner_id FROM web_tokens WHERE token_hash = ? AND scope = ?",
                                      (token_hash(token), scope))
        return StoredToken(str(row["token"]), int(row["owner_id"])) if row else None

    # -- calendars --------------------------------------------------------------------------------------------------
    async def guild_parties(self, guild_id: int, since: datetime) -> list[CalendarParty]:
        """The server's parties starting from `since` on, cancelled ones included (calendars must drop them)."""
        rows = await self.db.fetch_all(
            f"SELECT {_PARTY_COLUMNS} FROM watch_parties p WHERE p.guild_id = ? AND p.starts_at >= ? "  # noqa: S608
            "ORDER BY p.starts_at, p.id",
            (guild_id, to_epoch(since)),
        )
        return [_party(row) for row in rows]

    async def member_parties(self, user_id: int, since: datetime) -> list[CalendarParty]:
        """Parties in any server that the member answered Going or Maybe to, from `since` on."""
        rows = await self.db.fetch_all(
            f"SELECT {_PARTY_COLUMNS} FROM watch_parties p JOIN rsvps mine ON mine.party_id = p.id "  # noqa: S608
            "WHERE mine.user_id = ? AND mine.status IN ('going', 'maybe') AND p.starts_at >= ? "
            "ORDER BY p.starts_at, p.id",
            (user_id, to_epoch(since)),
        )
        return [_party(row) for row in rows]

    async def airing_episodes(self, guild_id: int) -> list[AiringEpisode]:
        rows = await self.db.fetch_all(
            "SELECT e.id, s.title AS show_title, e.season, e.number, e.title, e.airs_at FROM episodes e "
            "JOIN shows s ON s.id = e.show_id WHERE s.guild_id = ? AND e.airs_at IS NOT NULL "
            "UNION ALL SELECT s.id, s.title, p.season, NULL, NULL, p.premiere_at FROM seasons p "
            "JOIN shows s ON s.id = p.show_id WHERE s.guild_id = ? AND p.premiere_at IS NOT NULL "
            "ORDER BY 6, 2, 3, 4",
            (guild_id, guild_id),
        )
        return [AiringEpisode(row["id"], row["show_title"], row["season"], row["number"], row["title"],
                              datetime.fromisoformat(row["airs_at"]).astimezone(UTC)) for row in rows]

    # -- the public page --------------------------------------------------------------------------------------------
    async def upcoming_parties(self, guild_id: int, now: datetime, limit: int) -> list[CalendarParty]:
        rows = await self.db.fetch_all(
            f"SELECT {_PARTY_COLUMNS} FROM watch_parties p WHERE p.guild_id = ? AND p.status = 'scheduled' "  # noqa: S608
            "AND p.starts_at + 60 * p.duration_minutes > ? ORDER BY p.starts_at, p.id LIMIT ?",
            (guild_id, to_epoch(now), limit),
        )
        return [_party(row) for row in rows]

    async def episode_averages(self, guild_id: int) -> list[EpisodeAverage]:
        rows = await self.db.fetch_all(
            "SELECT s.title AS show_title, e.season, e.number, COUNT(r.stars) AS votes, AVG(r.stars) AS average "
            "FROM episodes e JOIN shows s ON s.id = e.show_id JOIN episode_ratings r ON r.episode_id = e.id "
            "WHERE s.guild_id = ? GROUP BY e.id ORDER BY s.title, e.season, e.number",
            (guild_id,),
        )
        return [EpisodeAverage(row["show_title"], row["season"], row["number"], row["votes"], float(row["average"]))
                for row in rows]

    async def posted_stories(self, guild_id: int, limit: int) -> list[PostedStory]:
        rows = await self.db.fetch_all(
            "SELECT title, link, payload, sent_at FROM news_deliveries WHERE guild_id = ? AND state = 'sent' "
            "AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT ?",
            (guild_id, limit),
        )
        stories = []
        for row in rows:
            try:
                source = json.loads(row["payload"]).get("source")
            except (ValueError, AttributeError):
                source = None
            stories.append(PostedStory(row["title"], row["link"], source if isinstance(source, str) else None,
                                       from_epoch(row["sent_at"])))
        return stories
