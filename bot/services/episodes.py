"""Episode discussions: shows and schedules, opening each episode's thread exactly once, ratings and progress.

Everything that touches Discord goes through a `ThreadGateway` the cog attaches; this module knows no Discord.
Threads open on request (`open_or_link`) and automatically at the episode's open time (an APScheduler job
`episode:<id>:open` per pending episode). The rule for automatic opening: an episode is *pending* when its open
time was in the future when it was scheduled; pending episodes whose open time has passed (the bot was down) are
opened at start-up, once, and then stop being pending. An episode whose time was already past when it was added
(e.g. a preset of a show that aired last year) is never opened automatically: someone asks for it, or an admin
opens them all with `open_aired` (/show open).

A failed automatic opening (no discussion channel, a missing permission, a Discord error) stays pending and is
retried with a capped backoff (`RETRY_DELAYS`, same job id); admins are told once per failure kind and server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.jobstores.base import JobLookupError

from bot.domain.episodes import (
    MAX_EPISODE,
    MAX_SEASON,
    EpisodeSpec,
    PresetError,
    RatingSummary,
    ReleasePace,
    best_episode,
    is_beyond_progress,
    load_preset,
    parse_schedule_csv,
    parse_schedule_toml,
    thread_open_times,
)
from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from db.database import Database
from db.episodes import DuplicateShow, Episode, EpisodeRepository, EpisodeRow, EpisodeThread, Progress, Show

log = logging.getLogger(__name__)

__all__ = [
    "BulkOpenResult",
    "Episode",
    "EpisodeService",
    "EpisodeThread",
    "Progress",
    "RatingsTable",
    "Show",
    "StarterInfo",
    "ThreadGateway",
    "ThreadResult",
    "open_job_id",
    "parse_episode_ref",
    "show_key",
]


def open_job_id(episode_id: int) -> str:
    return f"episode:{episode_id}:open"


RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
"""Waits before retrying a failed automatic opening; after the last one it repeats (capped backoff)."""
TRANSIENT_FAILURES = frozenset({"discord_unavailable", "unexpected"})
"""Failure kinds an admin cannot fix: reported only once they persist for NOTICE_AFTER_TRANSIENT attempts."""
NOTICE_AFTER_TRANSIENT = 3
BULK_OPEN_SPACING = timedelta(seconds=1.5)
"""Pause between threads opened by `/show open`: stays well inside Discord's thread-creation rate limits."""


_EPISODE_REF = re.compile(
    r"^\s*(?:s(?:eason)?\s*(\d+)\s*[-.:,]?\s*e(?:p(?:isode)?)?\.?\s*|(\d+)\s*x\s*|e(?:p(?:isode)?)?\.?\s*)?(\d+)\s*$",
    re.IGNORECASE,
)


def parse_episode_ref(text: str) -> tuple[int | None, int] | None:
    """`3`, `E3`, `S1E3`, `s1 e3`, `1x3` -> (season or None, episode); None when unreadable."""
    match = _EPISODE_REF.match(text)
    if not match:
        return None
    season = match[1] or match[2]
    return (int(season) if season else None, int(match[3]))


def show_key(title: str) -> str:
    """A slug for a show title: lowercase words joined by hyphens (Hangul kept): `trauma-code-heroes-on-call`."""
    return re.sub(r"[^\w]+", "-", title.lower()).strip("-_")[:40].strip("-") or "show"


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


class EpisodeService:
    def __init__(self, db: Database, scheduler, settings: SettingsService,
                 clock: Callable[[], datetime]) -> None:
        self.repo = EpisodeRepository(db)
        self.scheduler = scheduler
        self.settings = settings
        self.clock = clock
        self.gateway: ThreadGateway | None = None
        self.retry_delays: tuple[timedelta, ...] = RETRY_DELAYS
        self.bulk_open_spacing: timedelta = BULK_OPEN_SPACING
        # Per-episode state lives only while some task holds it (weak values): nothing is kept for idle episodes.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._starter_edits: weakref.WeakValueDictionary[int, _StarterEdits] = weakref.WeakValueDictionary()

    # -- looking things up ----------------------------------------------------------------------------
    async def shows(self, guild_id: int) -> list[Show]:
        return await self.repo.list_shows(guild_id)

    async def show(self, guild_id: int, key: str) -> Show:
        show = await self.repo.get_show(guild_id, key.strip().lower())
        if show is None:
            for candidate in await self.repo.list_shows(guild_id):  # typed a title instead of picking
                if key.strip().casefold() in (candidate.title.casefold(), candidate.short_name.casefold()):
                    return candidate
            raise UserFacingError("episodes.unknown_show", show=key[:50])
        return show

    async def episodes(self, show: Show, season: int | None = None) -> list[Episode]:
        return await self.repo.list_episodes(show.id, season)

    async def episode(self, show: Show, ref: str | int, season: int | None = None) -> Episode:
        """The episode `ref` (`3`, `S1E3`) of the show; a bare number is in `season`, else the latest season."""
        parsed = (None, ref) if isinstance(ref, int) else parse_episode_ref(ref)
        if parsed is None:
            raise UserFacingError("episodes.bad_episode", episode=str(ref)[:20])
        ref_season, number = parsed
        episodes = await self.repo.list_episodes(show.id)
        if not episodes:
            raise UserFacingError("episodes.no_episodes", show=show.title)
        seasons = sorted({e.season for e in episodes})
        season = ref_season or season or seasons[-1]
        in_season = [e for e in episodes if e.season == season]
        if not in_season:
            raise UserFacingError("episodes.unknown_season", show=show.title, season=season)
        found = next((e for e in in_season if e.number == number), None)
        if found is None:
            if number > max(e.number for e in in_season):
                raise UserFacingError("episodes.beyond_season", show=show.title, season=season,
                                      count=max(e.number for e in in_season), episode=number)
            raise UserFacingError("episodes.unknown_episode", show=show.title, episode=f"S{season}E{number}")
        return found

    async def episode_by_id(self, episode_id: int) -> tuple[Show, Episode]:
        episode = await self.repo.get_episode_by_id(episode_id)
        show = None if episode is None else await self.repo.get_show_by_id(episode.show_id)
        if episode is None or show is None:
            raise UserFacingError("episodes.gone")
        return show, episode

    def has_aired(self, episode: Episode) -> bool:
        return episode.airs_at is not None and episode.airs_at <= self.clock()

    # -- shows and schedules ----------------------------------------------------------------------------
    async def install_preset(self, guild_id: int, name: str, pace: str | None = None) -> tuple[Show, int, bool]:
        """Install (or refresh) a shipped preset; return the show, its episode count and whether it was new."""
        try:
            preset = load_preset(name)
        except PresetError:
            raise UserFacingError("episodes.unknown_preset", name=name[:40]) from None
        pace = pace or preset.seasons[0].release_pace.value
        specs = [episode for season in preset.seasons for episode in season.episodes]
        existing = await self.repo.get_show(guild_id, preset.key)
        rows = await self._planned_rows(guild_id, existing, pace, specs)
        show, created = await self.repo.add_show(guild_id, preset.key, preset.title, preset.original_title,
                                                 preset.short_name, pace, rows, replace=True)
        await self.schedule_show(show)
        return show, len(specs), created

    async def add_show(self, guild_id: int, title: str, original_title: str | None, short_name: str | None,
                       pace: str) -> Show:
        title = " ".join(title.split())[:100]
        short_name = " ".join((short_name or title).split())[:50]
        if not title:
            raise UserFacingError("episodes.empty_title")
        try:
            show, _ = await self.repo.add_show(guild_id, show_key(title), title, original_title, short_name,
                                               ReleasePace(pace).value)
        except DuplicateShow:
            raise UserFacingError("episodes.duplicate_show", show=title) from None
        return show

    async def remove_show(self, show: Show) -> None:
        """Remove the show's rows and jobs; its Discord threads stay."""
        episodes = await self.repo.list_episodes(show.id)
        await self.repo.remove_show(show.id)
        for episode in episodes:
            self._remove_job(episode.id)

    async def set_pace(self, show: Show, pace: str) -> Show:
        pace = ReleasePace(pace).value
        rows = await self._planned_rows(show.guild_id, show, pace, [])
        await self.repo.upsert_episodes(show.id, rows)
        await self.repo.set_release_pace(show.id, pace)
        show = await self.repo.get_show_by_id(show.id)
        await self.schedule_show(show)
        return show

    async def add_episode(self, show: Show, season: int, number: int, title: str | None,
                          airs_at: datetime | None) -> Episode:
        if not (1 <= season <= MAX_SEASON and 1 <= number <= MAX_EPISODE):
            raise UserFacingError("episodes.out_of_range", season_max=MAX_SEASON, episode_max=MAX_EPISODE)
        title = " ".join(title.split())[:100] if title else None
        spec = _Spec(season, number, title, airs_at)
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, [spec])
        await self.repo.upsert_episodes(show.id, rows)
        await self.schedule_show(show)
        return await self.repo.get_episode(show.id, season, number)

    async def schedule_episode(self, show: Show, episode: Episode, airs_at: datetime) -> Episode:
        spec = _Spec(episode.season, episode.number, None, airs_at)
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, [spec])
        await self.repo.upsert_episodes(show.id, rows)
        await self.schedule_show(show)
        return await self.repo.get_episode(show.id, episode.season, episode.number)

    async def import_schedule(self, show: Show, filename: str, data: bytes) -> int:
        """Import a CSV or TOML season schedule: every row or none.

        Raises ScheduleImportError (with every bad line) from the domain parser, or UserFacingError for a file
        that is neither CSV nor TOML.
        """
        zone = await self.zone(show.guild_id)
        lower = filename.lower()
        if lower.endswith(".csv"):
            specs = parse_schedule_csv(data, default_zone=zone)
        elif lower.endswith(".toml"):
            specs = parse_schedule_toml(data, default_zone=zone)
        else:
            raise UserFacingError("episodes.import_format", filename=filename[:60])
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, specs)
        await self.repo.upsert_episodes(show.id, rows)
        await self.schedule_show(show)
        return len(specs)

    async def zone(self, guild_id: int) -> tzinfo:
        name = (await self.settings.get(guild_id)).timezone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    async def _planned_rows(self, guild_id: int, show: Show | None, pace: str,
                            changes: Iterable[EpisodeSpec | _Spec]) -> list[EpisodeRow]:
        """Rows to write for `changes`, plus every episode of the seasons they touch with its pending flag.

        An episode becomes pending when its thread's open time (under the pace) is in the future and it has
        no thread; one whose open time is past keeps its flag (a pending one then opens right away).
        """
        existing = await self.repo.list_episodes(show.id) if show is not None else []
        threads = await self.repo.threads_for_episodes(e.id for e in existing)
        merged: dict[tuple[int, int], _Spec] = {e.key: _Spec(e.season, e.number, e.title, e.airs_at) for e in existing}
        touched_seasons = {e.season for e in existing} if show is not None and pace != show.release_pace else set()
        changed: set[tuple[int, int]] = set()
        for change in changes:
            key = (change.season, change.number)
            before = merged.get(key)
            merged[key] = _Spec(change.season, change.number, change.title or (before.title if before else None),
                                change.airs_at or (before.airs_at if before else None))
            touched_seasons.add(change.season)
            changed.add(key)
        by_id = {e.key: e for e in existing}
        zone = await self.zone(guild_id)
        now = self.clock()
        rows = []
        for season in sorted(touched_seasons):
            in_season = [spec for key, spec in merged.items() if key[0] == season]
            timed = [EpisodeSpec(s.number, s.title, s.airs_at, season=s.season) for s in in_season if s.airs_at]
            open_at = {spec.key: at for spec, at in thread_open_times(timed, pace, zone=zone)}
            for spec in sorted(in_season, key=lambda s: (s.season, s.number)):
                key = (spec.season, spec.number)
                stored = by_id.get(key)
                has_thread = stored is not None and stored.id in threads
                at = open_at.get(key)
                if has_thread or at is None:
                    auto_open: bool | None = False
                elif at > now:
                    auto_open = True
                else:
                    auto_open = None if stored is not None else False
                if key in changed or auto_open is not None:
                    title = spec.title if key in changed else None
                    airs = spec.airs_at if key in changed else None
                    rows.append(EpisodeRow(spec.season, spec.number, title, airs, auto_open))
        return rows

    # -- automatic opening ------------------------------------------------------------------------------
    async def rebuild_jobs(self) -> int:
        """At start-up: a job per pending episode; those whose time passed while the bot was down open now."""
        shows = await self.repo.pending_shows()
        for show in shows:
            await self.schedule_show(show)
        return len(shows)

    async def schedule_show(self, show: Show) -> None:
        episodes = await self.repo.list_episodes(show.id)
        zone = await self.zone(show.guild_id)
        times: dict[int, datetime] = {}
        for season in sorted({e.season for e in episodes}):
            timed = [e for e in episodes if e.season == season and e.airs_at is not None]
            specs = [EpisodeSpec(e.number, e.title, e.airs_at, season=e.season) for e in timed]
            by_key = {e.key: e for e in timed}
            for spec, at in thread_open_times(specs, show.release_pace, zone=zone):
                times[by_key[spec.key].id] = at
        now = self.clock()
        for episode in episodes:
            at = times.get(episode.id)
            if not episode.auto_open_pending or at is None:
                self._remove_job(episode.id)
            elif at > now:
                self._schedule_open(episode.id, at)
            else:
                log.info("episode %s should have opened at %s: opening it now", episode.id, at.isoformat())
                self._schedule_open(episode.id)

    async def retry_failed_now(self, guild_id: int) -> int:
        """Retry the server's failed automatic openings at once (an admin just changed the configuration)."""
        episode_ids = await self.repo.failed_openings(guild_id)
        for episode_id in episode_ids:
            self._schedule_open(episode_id)
        return len(episode_ids)

    async def stop_openings(self, guild_id: int) -> int:
        """The bot left the server: its opening jobs (pending and retrying) stop; its rows stay, so a server
        that adds the bot back gets them again (`resume_openings`, or the next start-up). How many stopped."""
        stopped = 0
        for show in await self.repo.list_shows(guild_id):
            for episode in await self.repo.list_episodes(show.id):
                if self.scheduler.get_job(open_job_id(episode.id)) is not None:
                    self._remove_job(episode.id)
                    stopped += 1
        return stopped

    async def resume_openings(self, guild_id: int) -> int:
        """The bot was added (back) to the server: its pending openings are scheduled again; how many shows."""
        shows = await self.repo.list_shows(guild_id)
        for show in shows:
            await self.schedule_show(show)
        return len(shows)

    def _schedule_open(self, episode_id: int, at: datetime | None = None) -> None:
        """The episode's opening job, at `at` (None: now). It runs however late it fires (no misfire grace):
        a skipped date job would leave the episode pending with no job until the next restart."""
        self.scheduler.add_job(self._open_job, "date", run_date=at, args=[episode_id], id=open_job_id(episode_id),
                               replace_existing=True, misfire_grace_time=None)

    def _remove_job(self, episode_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(open_job_id(episode_id))

    async def _open_job(self, episode_id: int) -> None:
        """Job body: open the episode's thread; a failure is logged, retried later and reported to admins."""
        try:
            if self.gateway is None:
                log.warning("no thread gateway: episode %s not opened", episode_id)
                return
            await self.gateway.ready()
            episode = await self.repo.get_episode_by_id(episode_id)
            if episode is None or not episode.auto_open_pending:
                return
            show = await self.repo.get_show_by_id(episode.show_id)
            if show is not None and not self.gateway.serves_guild(show.guild_id):
                # Left while the bot was offline (start-up rebuilt the job): no retries; re-adding brings it back.
                log.info("episode %s not opened: the bot is no longer in server %s", episode_id, show.guild_id)
                return
            result = await self.open_or_link(episode_id, may_create=True)
            log.info("episode %s thread %s automatically (%s)", episode_id, result.thread.thread_id, result.outcome)
        except Exception as error:
            try:
                await self._open_failed(episode_id, error)
            except Exception:
                log.exception("handling the failed opening of episode %s failed too", episode_id)

    async def _open_failed(self, episode_id: int, error: Exception) -> None:
        """Reschedule the opening with a capped backoff; tell admins once per failure kind (not per retry)."""
        kind = self.gateway.failure_kind(error)
        if kind in TRANSIENT_FAILURES:
            log.exception("automatic opening of episode %s failed (%s)", episode_id, kind)
        else:
            log.warning("automatic opening of episode %s failed (%s): %s", episode_id, kind, error)
        episode = await self.repo.get_episode_by_id(episode_id)
        show = None if episode is None else await self.repo.get_show_by_id(episode.show_id)
        if episode is None or show is None or not episode.auto_open_pending:
            return
        attempts = await self.repo.record_open_failure(episode_id)
        retry_at = self.clock() + self.retry_delays[min(attempts, len(self.retry_delays)) - 1]
        self._schedule_open(episode_id, retry_at)
        log.info("episode %s: automatic opening retried at %s (attempt %d failed)", episode_id,
                 retry_at.isoformat(), attempts)
        if kind in TRANSIENT_FAILURES and attempts < NOTICE_AFTER_TRANSIENT:
            return
        if not await self.repo.claim_open_notice(show.guild_id, kind):
            return  # the admins were already told about this problem
        delivered = await self.gateway.report_failure(show.guild_id, await self.starter_info(episode_id), kind,
                                                      error, retry_at)
        if not delivered:
            await self.repo.release_open_notice(show.guild_id, kind)

    # -- threads ----------------------------------------------------------------------------------------
    def _lock(self, episode_id: int) -> asyncio.Lock:
        lock = self._locks.get(episode_id)
        if lock is None:
            lock = self._locks[episode_id] = asyncio.Lock()
        return lock

    async def open_or_link(self, episode_id: int, *, may_create: bool) -> ThreadResult:
        """The episode's thread, opened once: linked if it exists, reopened if archived, recreated if deleted;
        a locked one (by /episode lock or in Discord) is linked read-only for everyone, moderators included.

        One asyncio lock per episode plus the UNIQUE row make concurrent requests end with one thread. If the
        row cannot be saved after Discord made the thread, the new thread is deleted again (no orphans).
        """
        if self.gateway is None:
            raise RuntimeError("no thread gateway attached (the cog attaches it)")
        async with self._lock(episode_id):
            existing = await self.repo.get_thread(episode_id)
            replaces = None
            if existing is not None:
                status = await self.gateway.status(existing)
                if status == "active":
                    return ThreadResult(existing, "linked")
                if status == "locked":  # a moderator's lock (ours or Discord's menu) is never undone here
                    if existing.state != "locked":
                        await self.repo.set_thread_state(episode_id, "locked")
                    return ThreadResult(existing, "locked")
                if status == "archived":
                    if existing.state == "locked":
                        return ThreadResult(existing, "locked")
                    await self.gateway.reopen(existing)
                    await self.repo.set_thread_state(episode_id, "open")
                    return ThreadResult(existing, "reopened")
                replaces = existing.thread_id
            if not may_create:
                _, episode = await self.episode_by_id(episode_id)
                if episode.airs_at is None:
                    raise UserFacingError("episodes.not_scheduled", episode=_label(episode))
                raise UserFacingError("episodes.not_aired", episode=_label(episode),
                                      when=f"<t:{int(episode.airs_at.timestamp())}:F>")
            starter = await self.starter_info(episode_id)
            created = await self.gateway.create(starter)
            try:
                saved = await self.repo.save_thread(created, replaces=replaces)
            except Exception:
                log.exception("could not record thread %s of episode %s: deleting it", created.thread_id, episode_id)
                await self._delete_quietly(created)
                raise
            # Cancelled (shutting down) between creating and recording: the gateway adopts the thread on retry.
            if not saved:  # another process recorded one first: keep theirs
                await self._delete_quietly(created)
                return ThreadResult(await self.repo.get_thread(episode_id), "linked")
            self._remove_job(episode_id)  # a pending (or retrying) automatic opening has nothing left to do
        await self._refresh_neighbours(starter)
        return ThreadResult(created, "recreated" if replaces else "created")

    async def open_aired(self, show: Show, season: int | None = None) -> BulkOpenResult:
        """Open the threads of every episode that has aired (an explicit admin action: presets of shows that
        aired before they were installed open nothing by themselves).

        Sequential, with a pause after each thread actually created, so Discord's rate limits are respected;
        idempotent, since each episode goes through `open_or_link` (existing threads are linked, archived ones
        reopened, deleted ones recreated). Stops at the first failure (e.g. no discussion channel) and says so.
        """
        aired = [e for e in await self.repo.list_episodes(show.id, season) if self.has_aired(e)]
        results: list[tuple[Episode, ThreadResult]] = []
        for episode in aired:
            try:
                result = await self.open_or_link(episode.id, may_create=True)
            except Exception as error:
                log.warning("/show open stopped at episode %s: %r", episode.id, error)
                return BulkOpenResult(results, error, episode)
            results.append((episode, result))
            if result.outcome in ("created", "recreated") and episode is not aired[-1]:
                await asyncio.sleep(self.bulk_open_spacing.total_seconds())
        return BulkOpenResult(results)

    async def unopened_aired(self, show: Show) -> int:
        """How many aired episodes of the show have no thread yet."""
        episodes = [e for e in await self.repo.list_episodes(show.id) if self.has_aired(e)]
        threads = await self.repo.threads_for_episodes(e.id for e in episodes)
        return sum(1 for e in episodes if e.id not in threads)

    async def _delete_quietly(self, thread: EpisodeThread) -> None:
        try:
            await self.gateway.delete(thread)
        except Exception:
            log.exception("could not delete thread %s", thread.thread_id)

    async def _refresh_neighbours(self, starter: StarterInfo) -> None:
        """Edit the previous and next episodes' starter messages so they link to the new thread."""
        for neighbour in (starter.previous, starter.next):
            if neighbour is not None and neighbour[1] is not None:
                await self.refresh_starter(neighbour[0].id, changed=True)

    async def refresh_starter(self, episode_id: int, *, changed: bool = False) -> StarterInfo:
        """Edit the episode's starter message, one edit at a time per episode, from the database state read
        under the lock: whatever order concurrent votes arrive in, the last edit shows the latest totals.

        `changed`: what the message shows changed in the database (call after writing). A refresh finding
        that a later one already showed its change skips the edit (bursts coalesce). Returns what the message
        shows; a failed edit is logged, never raised (the vote itself is stored).
        """
        edits = self._starter_edits.get(episode_id)
        if edits is None:
            edits = self._starter_edits[episode_id] = _StarterEdits()
        if changed:
            edits.changes += 1
        wanted = edits.changes
        async with edits.lock:
            shown = edits.rendered
            if shown >= wanted and wanted > 0:
                return await self.starter_info(episode_id)
            edits.rendered = edits.changes
            starter = await self.starter_info(episode_id)
            thread = await self.repo.get_thread(episode_id)
            if thread is None:
                return starter
            try:
                reposted = await self.gateway.refresh_starter(thread, starter)
                if reposted is not None:
                    await self.repo.set_starter_message(episode_id, thread.thread_id, reposted)
            except Exception:
                edits.rendered = shown
                log.warning("could not update the starter message of thread %s", thread.thread_id, exc_info=True)
            return starter

    async def starter_info(self, episode_id: int) -> StarterInfo:
        show, episode = await self.episode_by_id(episode_id)
        episodes = await self.repo.list_episodes(show.id)
        index = next(i for i, e in enumerate(episodes) if e.id == episode.id)
        previous = episodes[index - 1] if index > 0 else None
        following = episodes[index + 1] if index + 1 < len(episodes) else None
        threads = await self.repo.threads_for_episodes(e.id for e in (previous, following) if e is not None)
        return StarterInfo(
            guild_id=show.guild_id,
            show=show,
            episode=episode,
            previous=None if previous is None else (previous, threads.get(previous.id)),
            next=None if following is None else (following, threads.get(following.id)),
            rating=await self.rating(episode.id),
        )

    async def thread(self, episode: Episode) -> EpisodeThread | None:
        return await self.repo.get_thread(episode.id)

    async def lock(self, episode: Episode) -> EpisodeThread:
        thread = await self.repo.get_thread(episode.id)
        if thread is None:
            raise UserFacingError("episodes.no_thread", episode=_label(episode))
        async with self._lock(episode.id):
            if await self.gateway.status(thread) == "missing":
                raise UserFacingError("episodes.no_thread", episode=_label(episode))
            await self.gateway.lock(thread)
            await self.repo.set_thread_state(episode.id, "locked")
        return thread

    # -- ratings and progress ---------------------------------------------------------------------------
    async def rating(self, episode_id: int) -> RatingSummary:
        histogram = (await self.repo.rating_histograms([episode_id])).get(episode_id, {})
        return RatingSummary.from_histogram(histogram)

    async def rate(self, episode_id: int, user_id: int, stars: int) -> StarterInfo:
        """Record (or change) the member's vote and refresh the starter message; what it now shows."""
        if not 1 <= stars <= 5:
            raise UserFacingError("episodes.bad_rating")
        await self.episode_by_id(episode_id)
        await self.repo.set_rating(episode_id, user_id, stars)
        return await self.refresh_starter(episode_id, changed=True)

    async def ratings_table(self, show: Show, season: int | None = None) -> RatingsTable:
        episodes = await self.repo.list_episodes(show.id, season)
        if not episodes:
            raise UserFacingError("episodes.no_episodes", show=show.title)
        histograms = await self.repo.rating_histograms(e.id for e in episodes)
        rows = [(e, RatingSummary.from_histogram(histograms.get(e.id, {}))) for e in episodes]
        return RatingsTable(show, rows, best_episode({e.id: summary for e, summary in rows}))

    async def progress(self, user_id: int, show: Show) -> Progress | None:
        return await self.repo.get_progress(user_id, show.id)

    async def all_progress(self, guild_id: int, user_id: int) -> list[tuple[Show, Progress]]:
        return await self.repo.list_progress(guild_id, user_id)

    async def set_progress(self, user_id: int, show: Show, episode: Episode) -> None:
        await self.repo.set_progress(show.guild_id, user_id, show.id, episode.season, episode.number)

    async def is_beyond_progress(self, user_id: int, show: Show, episode: Episode) -> bool:
        progress = await self.repo.get_progress(user_id, show.id)
        return is_beyond_progress(episode.season, episode.number, progress.key if progress else None)

    async def join(self, episode_id: int, user_id: int) -> ThreadResult:
        """Add the member to the episode's thread and move their progress up to this episode.

        The thread goes through `open_or_link` first: an archived one is reopened and a deleted one recreated
        (adding a member to either would fail); nobody is added to a locked thread, which stays readable: the
        result's outcome is then 'locked' so the member can be told.
        """
        show, episode = await self.episode_by_id(episode_id)
        if await self.repo.get_thread(episode_id) is None:
            raise UserFacingError("episodes.no_thread", episode=_label(episode))
        result = await self.open_or_link(episode_id, may_create=self.has_aired(episode))
        if result.outcome != "locked":
            await self.gateway.add_member(result.thread, user_id)
        await self.repo.set_progress(show.guild_id, user_id, show.id, episode.season, episode.number,
                                     only_forward=True)
        return result


class _StarterEdits:
    """Edits of one episode's starter message in flight: one at a time, and counters that let a burst coalesce
    (`changes` noted in the database, the count `rendered` by the last edit started)."""

    __slots__ = ("__weakref__", "changes", "lock", "rendered")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.changes = 0
        self.rendered = -1


@dataclass(frozen=True, slots=True)
class _Spec:
    season: int
    number: int
    title: str | None
    airs_at: datetime | None


def _label(episode: Episode) -> str:
    return f"S{episode.season}E{episode.number}"
