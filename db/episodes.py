"""Shows, episodes, episode threads, ratings and progress: every SQL statement for episode discussions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from db.database import Database, Transaction

THREAD_STATES = ("open", "archived", "locked")
THREAD_KINDS = ("forum", "text")


@dataclass(frozen=True, slots=True)
class Show:
    id: int
    guild_id: int
    key: str
    title: str
    original_title: str | None
    short_name: str
    release_pace: str
    platform: str | None = None
    """Where the show streams ('Netflix'): the location of its premiere events."""


@dataclass(frozen=True, slots=True)
class Episode:
    id: int
    show_id: int
    season: int
    number: int
    title: str | None
    airs_at: datetime | None
    auto_open_pending: bool

    @property
    def key(self) -> tuple[int, int]:
        return (self.season, self.number)


@dataclass(frozen=True, slots=True)
class Season:
    """What is known of a season before (and while) it airs, and its premiere countdown's Discord objects."""

    id: int
    show_id: int
    number: int
    premiere_at: datetime | None
    """None: to be announced."""
    episode_count: int | None
    release_pace: str | None
    """None: the show's pace."""
    announcement_channel_id: int | None
    announcement_message_id: int | None
    scheduled_event_id: int | None


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    """An episode to write: (season, number) identifies it within its show."""

    season: int
    number: int
    title: str | None
    airs_at: datetime | None
    auto_open: bool | None = None
    """Whether its thread is still to open automatically; None keeps what is stored (False for a new row)."""


@dataclass(frozen=True, slots=True)
class EpisodeThread:
    guild_id: int
    episode_id: int
    channel_id: int
    thread_id: int
    starter_message_id: int
    kind: str
    state: str

    @property
    def starter_channel_id(self) -> int:
        """Where the starter message is: the forum post itself, or the text channel above the thread."""
        return self.thread_id if self.kind == "forum" else self.channel_id


@dataclass(frozen=True, slots=True)
class Progress:
    guild_id: int
    user_id: int
    show_id: int
    season: int
    episode: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.season, self.episode)


@dataclass(frozen=True, slots=True)
class SeasonRow:
    """A season to write: its premiere (None: to be announced), episode count and pace (None: unknown, the
    show's)."""

    number: int
    premiere_at: datetime | None
    episode_count: int | None
    release_pace: str | None = None


class DuplicateShow(Exception):
    """A show with this key already exists in the server."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _show(row: sqlite3.Row) -> Show:
    return Show(row["id"], row["guild_id"], row["key"], row["title"], row["original_title"], row["short_name"],
                row["release_pace"], row["platform"])


def _season(row: sqlite3.Row) -> Season:
    return Season(row["id"], row["show_id"], row["season"], _when(row["premiere_at"]), row["episode_count"],
                  row["release_pace"], row["announcement_channel_id"], row["announcement_message_id"],
                  row["scheduled_event_id"])


def _episode(row: sqlite3.Row) -> Episode:
    return Episode(row["id"], row["show_id"], row["season"], row["number"], row["title"], _when(row["airs_at"]),
                   bool(row["auto_open_pending"]))


def _thread(row: sqlite3.Row) -> EpisodeThread:
    return EpisodeThread(row["guild_id"], row["episode_id"], row["channel_id"], row["thread_id"],
                         row["starter_message_id"], row["kind"], row["state"])


_SHOW_COLUMNS = "id, guild_id, key, title, original_title, short_name, release_pace, platform"
_SEASON_COLUMNS = ("id, show_id, season, premiere_at, episode_count, release_pace, announcement_channel_id, "
                   "announcement_message_id, scheduled_event_id")
_EPISODE_COLUMNS = "id, show_id, season, number, title, airs_at, auto_open_pending"
_THREAD_COLUMNS = "guild_id, episode_id, channel_id, thread_id, starter_message_id, kind, state"


class EpisodeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- shows ----------------------------------------------------------------------------------------
    async def add_show(self, guild_id: int, key: str, title: str, original_title: str | None, short_name: str,
                       release_pace: str, episodes: Iterable[EpisodeRow] = (), *,
                       replace: bool = False, platform: str | None = None,
                       seasons: Iterable[SeasonRow] = ()) -> tuple[Show, bool]:
        """Create the show with its episodes in one transaction; return it and whether it was new.

        With `replace`, an existing show of that key has its names and pace updated and its episodes upserted
        (a preset installed again); otherwise an existing key raises DuplicateShow. `seasons` are upserted too.
        """
        async with self.db.transaction() as tx:
            existing = await tx.fetch_one("SELECT id FROM shows WHERE guild_id = ? AND key = ?", (guild_id, key))
            if existing is not None and not replace:
                raise DuplicateShow(key)
            if existing is None:
                inserted = await tx.execute(
                    "INSERT INTO shows (guild_id, key, title, original_title, short_name, release_pace, platform,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild_id, key, title, original_title, short_name, release_pace, platform, _now()),
                )
                if inserted.lastrowid is None:
                    raise RuntimeError("the new show got no row id")
                show_id: int = inserted.lastrowid
            else:
                show_id = existing["id"]
                await tx.execute(
                    "UPDATE shows SET title = ?, original_title = ?, short_name = ?, release_pace = ?,"
                    " platform = COALESCE(?, platform) WHERE id = ?",
                    (title, original_title, short_name, release_pace, platform, show_id),
                )
            await _upsert_episodes(tx, show_id, episodes)
            for season in seasons:
                await _save_season(tx, show_id, season)
            row = await tx.fetch_one(f"SELECT {_SHOW_COLUMNS} FROM shows WHERE id = ?", (show_id,))  # noqa: S608
        if row is None:
            raise RuntimeError(f"show {show_id} vanished inside its own transaction")
        return _show(row), existing is None

    async def get_show(self, guild_id: int, key: str) -> Show | None:
        row = await self.db.fetch_one(
            f"SELECT {_SHOW_COLUMNS} FROM shows WHERE guild_id = ? AND key = ?", (guild_id, key)  # noqa: S608
        )
        return None if row is None else _show(row)

    async def get_show_by_id(self, show_id: int) -> Show | None:
        row = await self.db.fetch_one(f"SELECT {_SHOW_COLUMNS} FROM shows WHERE id = ?", (show_id,))  # noqa: S608
        return None if row is None else _show(row)

    async def list_shows(self, guild_id: int) -> list[Show]:
        rows = await self.db.fetch_all(
            f"SELECT {_SHOW_COLUMNS} FROM shows WHERE guild_id = ? ORDER BY title", (guild_id,)  # noqa: S608
        )
        return [_show(row) for row in rows]

    async def set_release_pace(self, show_id: int, release_pace: str) -> None:
        await self.db.execute("UPDATE shows SET release_pace = ? WHERE id = ?", (release_pace, show_id))

    async def remove_show(self, show_id: int) -> bool:
        """Delete the show and (by cascade) its episodes, thread rows, ratings and progress."""
        return (await self.db.execute("DELETE FROM shows WHERE id = ?", (show_id,))).rowcount == 1

    # -- episodes -------------------------------------------------------------------------------------
    async def upsert_episodes(self, show_id: int, episodes: Iterable[EpisodeRow]) -> None:
        """Insert or update episodes by (season, number), all or nothing."""
        async with self.db.transaction() as tx:
            await _upsert_episodes(tx, show_id, episodes)

    async def get_episode(self, show_id: int, season: int, number: int) -> Episode | None:
        row = await self.db.fetch_one(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE show_id = ? AND season = ? AND number = ?",  # noqa: S608
            (show_id, season, number),
        )
        return None if row is None else _episode(row)

    async def get_episode_by_id(self, episode_id: int) -> Episode | None:
        row = await self.db.fetch_one(
            f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE id = ?", (episode_id,)  # noqa: S608
        )
        return None if row is None else _episode(row)

    async def list_episodes(self, show_id: int, season: int | None = None) -> list[Episode]:
        sql = f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE show_id = ?"  # noqa: S608
        params: list[object] = [show_id]
        if season is not None:
            sql += " AND season = ?"
            params.append(season)
        rows = await self.db.fetch_all(sql + " ORDER BY season, number", params)
        return [_episode(row) for row in rows]

    async def pending_shows(self) -> list[Show]:
        """Every show (of every server) with an episode still to be opened automatically."""
        rows = await self.db.fetch_all(
            f"SELECT {', '.join('s.' + c for c in _SHOW_COLUMNS.split(', '))} FROM shows s "  # noqa: S608
            "WHERE EXISTS (SELECT 1 FROM episodes e WHERE e.show_id = s.id AND e.auto_open_pending = 1) "
            "ORDER BY s.id"
        )
        return [_show(row) for row in rows]

    # -- seasons ---------------------------------------------------------------------------------------
    async def get_season(self, show_id: int, number: int) -> Season | None:
        row = await self.db.fetch_one(
            f"SELECT {_SEASON_COLUMNS} FROM seasons WHERE show_id = ? AND season = ?", (show_id, number)  # noqa: S608
        )
        return None if row is None else _season(row)

    async def list_seasons(self, show_id: int) -> list[Season]:
        rows = await self.db.fetch_all(
            f"SELECT {_SEASON_COLUMNS} FROM seasons WHERE show_id = ? ORDER BY season", (show_id,)  # noqa: S608
        )
        return [_season(row) for row in rows]

    async def save_season(self, show_id: int, season: SeasonRow, episodes: Iterable[EpisodeRow] = (), *,
                          air_times: Iterable[tuple[int, datetime | None]] = (),
                          remove_from: int | None = None) -> Season:
        """Write the season and its episodes in one transaction: `episodes` upserted, `air_times` (number, time)
        set exactly (None clears one: a premiere withdrawn), and episodes numbered `remove_from` and up removed
        (their thread rows, ratings go with them; the Discord threads stay)."""
        async with self.db.transaction() as tx:
            await _save_season(tx, show_id, season)
            await _upsert_episodes(tx, show_id, episodes)
            await tx.executemany(
                "UPDATE episodes SET airs_at = ? WHERE show_id = ? AND season = ? AND number = ?",
                [(_iso(at), show_id, season.number, number) for number, at in air_times],
            )
            if remove_from is not None:
                await tx.execute("DELETE FROM episodes WHERE show_id = ? AND season = ? AND number >= ?",
                                 (show_id, season.number, remove_from))
            row = await tx.fetch_one(
                f"SELECT {_SEASON_COLUMNS} FROM seasons WHERE show_id = ? AND season = ?",  # noqa: S608
                (show_id, season.number),
            )
        if row is None:
            raise RuntimeError("the season vanished inside its own transaction")
        return _season(row)

    async def remove_season(self, show_id: int, number: int) -> None:
        """Delete the season row and its episodes (with their thread rows and ratings; Discord keeps threads)."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM episodes WHERE show_id = ? AND season = ?", (show_id, number))
            await tx.execute("DELETE FROM seasons WHERE show_id = ? AND season = ?", (show_id, number))

    async def remove_episodes(self, show_id: int, keys: Iterable[tuple[int, int]]) -> None:
        async with self.db.transaction() as tx:
            await tx.executemany("DELETE FROM episodes WHERE show_id = ? AND season = ? AND number = ?",
                                 [(show_id, season, number) for season, number in keys])

    async def set_season_announcement(self, season_id: int, channel_id: int | None,
                                      message_id: int | None) -> None:
        await self.db.execute(
            "UPDATE seasons SET announcement_channel_id = ?, announcement_message_id = ? WHERE id = ?",
            (channel_id, message_id, season_id))

    async def set_season_event(self, season_id: int, event_id: int | None) -> None:
        await self.db.execute("UPDATE seasons SET scheduled_event_id = ? WHERE id = ?", (event_id, season_id))

    # -- failed automatic openings ---------------------------------------------------------------------
    async def record_open_failure(self, episode_id: int) -> int:
        """Count a failed automatic opening of the episode; return its failed attempts so far."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE episodes SET open_attempts = open_attempts + 1 WHERE id = ?", (episode_id,))
            row = await tx.fetch_one("SELECT open_attempts FROM episodes WHERE id = ?", (episode_id,))
        return 0 if row is None else row["open_attempts"]

    async def claim_open_notice(self, guild_id: int, kind: str) -> bool:
        """True once per (guild, failure kind) until the guild's next successful opening clears the notices."""
        claimed = await self.db.execute(
            "INSERT INTO episode_open_notices (guild_id, kind, notified_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, kind) DO NOTHING",
            (guild_id, kind, _now()),
        )
        return claimed.rowcount == 1

    async def release_open_notice(self, guild_id: int, kind: str) -> None:
        """Forget a claimed notice that could not be delivered, so a later retry tries to tell the admins again."""
        await self.db.execute("DELETE FROM episode_open_notices WHERE guild_id = ? AND kind = ?", (guild_id, kind))

    async def failed_openings(self, guild_id: int) -> list[int]:
        """Ids of the server's episodes whose automatic opening failed and is waiting for a retry."""
        rows = await self.db.fetch_all(
            "SELECT e.id FROM episodes e JOIN shows s ON s.id = e.show_id "
            "WHERE s.guild_id = ? AND e.auto_open_pending = 1 AND e.open_attempts > 0 ORDER BY e.id",
            (guild_id,),
        )
        return [row["id"] for row in rows]

    async def open_notices(self, guild_id: int) -> list[str]:
        rows = await self.db.fetch_all("SELECT kind FROM episode_open_notices WHERE guild_id = ? ORDER BY kind",
                                       (guild_id,))
        return [row["kind"] for row in rows]

    # -- threads --------------------------------------------------------------------------------------
    async def get_thread(self, episode_id: int) -> EpisodeThread | None:
        row = await self.db.fetch_one(
            f"SELECT {_THREAD_COLUMNS} FROM episode_threads WHERE episode_id = ?", (episode_id,)  # noqa: S608
        )
        return None if row is None else _thread(row)

    async def threads_for_episodes(self, episode_ids: Iterable[int]) -> dict[int, EpisodeThread]:
        ids = list(episode_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self.db.fetch_all(
            f"SELECT {_THREAD_COLUMNS} FROM episode_threads WHERE episode_id IN ({marks})", ids  # noqa: S608
        )
        return {row["episode_id"]: _thread(row) for row in rows}

    async def save_thread(self, thread: EpisodeThread, *, replaces: int | None = None) -> bool:
        """Record the episode's thread and clear its automatic opening; False if another thread got there first.

        `replaces` is the thread id of a row known to be gone from Discord: that row is overwritten.
        """
        async with self.db.transaction() as tx:
            if replaces is not None:
                await tx.execute("DELETE FROM episode_threads WHERE episode_id = ? AND thread_id = ?",
                                 (thread.episode_id, replaces))
            saved = await tx.execute(
                "INSERT INTO episode_threads (guild_id, episode_id, channel_id, thread_id, starter_message_id, kind,"
                " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (episode_id) DO NOTHING",
                (thread.guild_id, thread.episode_id, thread.channel_id, thread.thread_id, thread.starter_message_id,
                 thread.kind, thread.state, _now()),
            )
            await tx.execute("UPDATE episodes SET auto_open_pending = 0, open_attempts = 0 WHERE id = ?",
                             (thread.episode_id,))
            await tx.execute("DELETE FROM episode_open_notices WHERE guild_id = ?", (thread.guild_id,))
        return saved.rowcount == 1

    async def set_thread_state(self, episode_id: int, state: str) -> None:
        if state not in THREAD_STATES:
            raise ValueError(state)
        await self.db.execute("UPDATE episode_threads SET state = ? WHERE episode_id = ?", (state, episode_id))

    async def set_starter_message(self, episode_id: int, thread_id: int, message_id: int) -> None:
        """The thread's starter message was posted again (the old one was deleted)."""
        await self.db.execute(
            "UPDATE episode_threads SET starter_message_id = ? WHERE episode_id = ? AND thread_id = ?",
            (message_id, episode_id, thread_id))

    # -- ratings --------------------------------------------------------------------------------------
    async def set_rating(self, episode_id: int, user_id: int, stars: int) -> None:
        await self.db.execute(
            "INSERT INTO episode_ratings (episode_id, user_id, stars, rated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (episode_id, user_id) DO UPDATE SET stars = excluded.stars, rated_at = excluded.rated_at",
            (episode_id, user_id, stars, _now()),
        )

    async def rating_histograms(self, episode_ids: Iterable[int]) -> dict[int, dict[int, int]]:
        """Votes per star for each episode (episodes without votes are absent)."""
        ids = list(episode_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self.db.fetch_all(
            f"SELECT episode_id, stars, COUNT(*) AS votes FROM episode_ratings WHERE episode_id IN ({marks}) "  # noqa: S608
            "GROUP BY episode_id, stars",
            ids,
        )
        histograms: dict[int, dict[int, int]] = {}
        for row in rows:
            histograms.setdefault(row["episode_id"], {})[row["stars"]] = row["votes"]
        return histograms

    # -- progress -------------------------------------------------------------------------------------
    async def get_progress(self, user_id: int, show_id: int) -> Progress | None:
        row = await self.db.fetch_one(
            "SELECT guild_id, user_id, show_id, season, episode FROM episode_progress "
            "WHERE show_id = ? AND user_id = ?",
            (show_id, user_id),
        )
        return None if row is None else Progress(row["guild_id"], row["user_id"], row["show_id"], row["season"],
                                                 row["episode"])

    async def set_progress(self, guild_id: int, user_id: int, show_id: int, season: int, episode: int, *,
                           only_forward: bool = False) -> None:
        """Record how far the member has watched; with `only_forward`, never move it back."""
        guard = " WHERE (excluded.season, excluded.episode) > (episode_progress.season, episode_progress.episode)"
        await self.db.execute(
            "INSERT INTO episode_progress (guild_id, user_id, show_id, season, episode, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (show_id, user_id) DO UPDATE SET season = excluded.season, "
            "episode = excluded.episode, updated_at = excluded.updated_at" + (guard if only_forward else ""),
            (guild_id, user_id, show_id, season, episode, _now()),
        )

    async def list_progress(self, guild_id: int, user_id: int) -> list[tuple[Show, Progress]]:
        rows = await self.db.fetch_all(
            "SELECT s.id, s.guild_id, s.key, s.title, s.original_title, s.short_name, s.release_pace, s.platform, "
            "p.season, p.episode FROM episode_progress p JOIN shows s ON s.id = p.show_id "
            "WHERE p.guild_id = ? AND p.user_id = ? ORDER BY s.title",
            (guild_id, user_id),
        )
        return [(_show(row), Progress(guild_id, user_id, row["id"], row["season"], row["episode"])) for row in rows]


async def _save_season(tx: Transaction, show_id: int, season: SeasonRow) -> None:
    await tx.execute(
        "INSERT INTO seasons (show_id, season, premiere_at, episode_count, release_pace) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (show_id, season) DO UPDATE SET premiere_at = excluded.premiere_at, "
        "episode_count = excluded.episode_count, release_pace = excluded.release_pace",
        (show_id, season.number, _iso(season.premiere_at), season.episode_count, season.release_pace),
    )


async def _upsert_episodes(tx: Transaction, show_id: int, episodes: Iterable[EpisodeRow]) -> None:
    """Insert or update by (season, number); a missing title or air time keeps the stored one."""
    episodes = list(episodes)
    await tx.executemany(
        "INSERT INTO episodes (show_id, season, number, title, airs_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (show_id, season, number) DO UPDATE SET title = COALESCE(excluded.title, episodes.title), "
        "airs_at = COALESCE(excluded.airs_at, episodes.airs_at)",
        [(show_id, e.season, e.number, e.title, _iso(e.airs_at)) for e in episodes],
    )
    await tx.executemany(
        "UPDATE episodes SET auto_open_pending = ? WHERE show_id = ? AND season = ? AND number = ?",
        [(int(e.auto_open), show_id, e.season, e.number) for e in episodes if e.auto_open is not None],
    )
