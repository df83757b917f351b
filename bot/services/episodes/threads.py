"""Episode threads: each opened exactly once, found, reopened, recreated or locked; members joined; starter
messages kept up to date (neighbour links and the live rating).

Everything that touches Discord goes through the `ThreadGateway`; this module knows no Discord.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime, timedelta

from bot.domain.episodes import RatingSummary, episode_label
from bot.errors import UserFacingError
from db.episodes import Episode, EpisodeRepository, EpisodeThread, Show

from .jobs import OpeningJobs
from .lookup import EpisodeLookup
from .models import BulkOpenResult, StarterInfo, ThreadGateway, ThreadResult
from .premieres import PremiereAnnouncements

log = logging.getLogger(__name__)

BULK_OPEN_SPACING = timedelta(seconds=1.5)
"""Pause between threads opened by `/show open`: stays well inside Discord's thread-creation rate limits."""


class NotAiredError(UserFacingError):
    """The episode's thread may not open yet: it airs at `airs_at`, which the reply renders (param `when`)."""

    def __init__(self, episode: str, airs_at: datetime) -> None:
        super().__init__("episodes.not_aired", episode=episode)
        self.airs_at = airs_at


async def episode_rating(repo: EpisodeRepository, episode_id: int) -> RatingSummary:
    """The episode's votes summed up (average, count, histogram)."""
    histogram = (await repo.rating_histograms([episode_id])).get(episode_id, {})
    return RatingSummary.from_histogram(histogram)


class EpisodeThreads:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, gateway: ThreadGateway, jobs: OpeningJobs,
                 premieres: PremiereAnnouncements, *, bulk_open_spacing: timedelta = BULK_OPEN_SPACING) -> None:
        self.repo = repo
        self.premieres = premieres
        self.lookup = lookup
        self.gateway = gateway
        self.jobs = jobs
        self.bulk_open_spacing = bulk_open_spacing
        # Per-episode state lives only while some task holds it (weak values): nothing is kept for idle episodes.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._starter_edits: weakref.WeakValueDictionary[int, _StarterEdits] = weakref.WeakValueDictionary()

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
                _, episode = await self.lookup.episode_by_id(episode_id)
                label = episode_label(episode.season, episode.number)
                if episode.airs_at is None:
                    raise UserFacingError("episodes.not_scheduled", episode=label)
                raise NotAiredError(label, episode.airs_at)
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
                theirs = await self.repo.get_thread(episode_id)
                if theirs is None:  # ...and it is gone again: the episode was removed in between
                    raise UserFacingError("episodes.gone")
                return ThreadResult(theirs, "linked")
            self.jobs.remove(episode_id)  # a pending (or retrying) automatic opening has nothing left to do
        await self._refresh_neighbours(starter)
        await self.premieres.thread_opened(starter.episode)  # its season's premiere announcement links it
        return ThreadResult(created, "recreated" if replaces else "created")

    async def open_aired(self, show: Show, season: int | None = None) -> BulkOpenResult:
        """Open the threads of every episode that has aired (an explicit admin action: presets of shows that
        aired before they were installed open nothing by themselves).

        Sequential, with a pause after each thread actually created, so Discord's rate limits are respected;
        idempotent, since each episode goes through `open_or_link` (existing threads are linked, archived ones
        reopened, deleted ones recreated). Stops at the first failure (e.g. no discussion channel) and says so.
        """
        aired = [e for e in await self.repo.list_episodes(show.id, season) if self.lookup.has_aired(e)]
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
        episodes = [e for e in await self.repo.list_episodes(show.id) if self.lookup.has_aired(e)]
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
        show, episode = await self.lookup.episode_by_id(episode_id)
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
            rating=await episode_rating(self.repo, episode.id),
        )

    async def thread(self, episode: Episode) -> EpisodeThread | None:
        return await self.repo.get_thread(episode.id)

    async def lock(self, episode: Episode) -> EpisodeThread:
        thread = await self.repo.get_thread(episode.id)
        if thread is None:
            raise UserFacingError("episodes.no_thread", episode=episode_label(episode.season, episode.number))
        async with self._lock(episode.id):
            if await self.gateway.status(thread) == "missing":
                raise UserFacingError("episodes.no_thread", episode=episode_label(episode.season, episode.number))
            await self.gateway.lock(thread)
            await self.repo.set_thread_state(episode.id, "locked")
        return thread

    async def join(self, episode_id: int, user_id: int) -> ThreadResult:
        """Add the member to the episode's thread and move their progress up to this episode.

        The thread goes through `open_or_link` first: an archived one is reopened and a deleted one recreated
        (adding a member to either would fail); nobody is added to a locked thread, which stays readable: the
        result's outcome is then 'locked' so the member can be told.
        """
        show, episode = await self.lookup.episode_by_id(episode_id)
        if await self.repo.get_thread(episode_id) is None:
            raise UserFacingError("episodes.no_thread", episode=episode_label(episode.season, episode.number))
        result = await self.open_or_link(episode_id, may_create=self.lookup.has_aired(episode))
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
