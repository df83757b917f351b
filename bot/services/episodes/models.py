"""What the episode services return and the `ThreadGateway` through which they reach Discord."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.episodes import RatingSummary
from db.episodes import Episode, EpisodeThread, Progress, Show

__all__ = [
    "BulkOpenResult",
    "Episode",
    "EpisodeThread",
    "Progress",
    "RatingsTable",
    "Show",
    "StarterInfo",
    "ThreadGateway",
    "ThreadResult",
]


@dataclass(frozen=True, slots=True)
class StarterInfo:
    """What the starter message of an episode's thread shows."""

    guild_id: int
    show: Show
    episode: Episode
    previous: tuple[Episode, EpisodeThread | None] | None
    next: tuple[Episode, EpisodeThread | None] | None
    rating: RatingSummary


@dataclass(frozen=True, slots=True)
class ThreadResult:
    thread: EpisodeThread
    outcome: str
    """'created', 'recreated' (the old one was deleted in Discord), 'reopened' (was archived), 'linked', 'locked'."""


@dataclass(frozen=True, slots=True)
class BulkOpenResult:
    """What `/show open` did: each aired episode handled, in order, and the error that stopped it, if any."""

    results: list[tuple[Episode, ThreadResult]]
    error: Exception | None = None
    stopped_at: Episode | None = None

    def count(self, *outcomes: str) -> int:
        return sum(1 for _, result in self.results if result.outcome in outcomes)


@dataclass(frozen=True, slots=True)
class RatingsTable:
    show: Show
    rows: list[tuple[Episode, RatingSummary]]
    best: int | None
    """Episode id of the best-rated episode, if enough votes."""


class ThreadGateway(Protocol):
    """Discord operations on episode threads, implemented by the cog. Methods may raise UserFacingError."""

    async def ready(self) -> None:
        """Return once the Discord cache is ready (automatic opening may be scheduled before it is)."""

    def serves_guild(self, guild_id: int) -> bool:
        """Whether the bot is (still) in this server; openings of a server that removed it stop."""

    async def status(self, thread: EpisodeThread) -> str:
        """'active', 'archived', 'locked' (locked in Discord, archived or not) or 'missing' (deleted)."""

    async def create(self, starter: StarterInfo) -> EpisodeThread:
        """Open the thread with its starter message in the server's discussion channel.

        A thread of the same name that the bot made earlier and never recorded (it stopped in between) is
        adopted rather than duplicated.
        """

    async def reopen(self, thread: EpisodeThread) -> None: ...

    async def delete(self, thread: EpisodeThread) -> None: ...

    async def refresh_starter(self, thread: EpisodeThread, starter: StarterInfo) -> int | None:
        """Edit the starter message; the id of a new starter message when it was deleted and posted again."""

    async def lock(self, thread: EpisodeThread) -> None: ...

    async def add_member(self, thread: EpisodeThread, user_id: int) -> None: ...

    def failure_kind(self, error: BaseException) -> str:
        """What kind of failure `error` is, for retries and admin notices: 'no_channel',
        'missing_permissions:<names>', 'forbidden', 'discord_unavailable', 'unexpected', ..."""

    async def report_failure(self, guild_id: int, starter: StarterInfo, kind: str, error: BaseException,
                             retry_at: datetime | None) -> bool:
        """Tell the server's admins that an automatic opening failed and when it is retried; False if the
        notice could not be delivered (no log channel)."""

