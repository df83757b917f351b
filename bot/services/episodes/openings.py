"""Automatic openings: each pending episode's thread opens at its open time, once; failures retry with a backoff.

An episode is *pending* when its open time was in the future when it was scheduled; pending episodes whose open
time has passed (the bot was down) are opened at start-up, once, and then stop being pending. An episode whose
time was already past when it was added (e.g. a preset of a show that aired last year) is never opened
automatically: someone asks for it, or an admin opens them all (`EpisodeThreads.open_aired`, /show open).

A failed automatic opening (no discussion channel, a missing permission, a Discord error) stays pending and is
retried with a capped backoff (`RETRY_DELAYS`, same job id); admins are told once per failure kind and server.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.episodes import EpisodeSpec, thread_open_times
from db.episodes import EpisodeRepository, Show

from .jobs import OpeningJobs
from .lookup import EpisodeLookup
from .models import ThreadGateway
from .threads import EpisodeThreads

log = logging.getLogger(__name__)

RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
"""Waits before retrying a failed automatic opening; after the last one it repeats (capped backoff)."""
TRANSIENT_FAILURES = frozenset({"discord_unavailable", "unexpected"})
"""Failure kinds an admin cannot fix: reported only once they persist for NOTICE_AFTER_TRANSIENT attempts."""
NOTICE_AFTER_TRANSIENT = 3


class AutomaticOpenings:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, threads: EpisodeThreads,
                 gateway: ThreadGateway, jobs: OpeningJobs, *,
                 retry_delays: tuple[timedelta, ...] = RETRY_DELAYS) -> None:
        self.repo = repo
        self.lookup = lookup
        self.threads = threads
        self.gateway = gateway
        self.jobs = jobs
        self.retry_delays = retry_delays

    async def rebuild_jobs(self) -> int:
        """At start-up: a job per pending episode; those whose time passed while the bot was down open now."""
        shows = await self.repo.pending_shows()
        for show in shows:
            await self.schedule_show(show)
        return len(shows)

    async def schedule_show(self, show: Show) -> None:
        """A job per pending episode of the show at its open time under the show's pace; none for the others."""
        episodes = await self.repo.list_episodes(show.id)
        zone = await self.lookup.zone(show.guild_id)
        times: dict[int, datetime] = {}
        paces = {s.number: s.release_pace for s in await self.repo.list_seasons(show.id) if s.release_pace}
        for season in sorted({e.season for e in episodes}):
            timed = [(e, e.airs_at) for e in episodes if e.season == season and e.airs_at is not None]
            specs = [EpisodeSpec(e.number, e.title, airs_at, season=e.season) for e, airs_at in timed]
            by_key = {e.key: e for e, _ in timed}
            for spec, at in thread_open_times(specs, paces.get(season, show.release_pace), zone=zone):
                times[by_key[spec.key].id] = at
        now = self.lookup.clock()
        for episode in episodes:
            open_at = times.get(episode.id)
            if not episode.auto_open_pending or open_at is None:
                self.jobs.remove(episode.id)
            elif open_at > now:
                self.jobs.add(episode.id, self.run_job, open_at)
            else:
                log.info("episode %s should have opened at %s: opening it now", episode.id, open_at.isoformat())
                self.jobs.add(episode.id, self.run_job)

    async def retry_failed_now(self, guild_id: int) -> int:
        """Retry the server's failed automatic openings at once (an admin just changed the configuration)."""
        episode_ids = await self.repo.failed_openings(guild_id)
        for episode_id in episode_ids:
            self.jobs.add(episode_id, self.run_job)
        return len(episode_ids)

    async def stop_openings(self, guild_id: int) -> int:
        """The bot left the server: its opening jobs (pending and retrying) stop; its rows stay, so a server
        that adds the bot back gets them again (`resume_openings`, or the next start-up). How many stopped."""
        stopped = 0
        for show in await self.repo.list_shows(guild_id):
            for episode in await self.repo.list_episodes(show.id):
                if self.jobs.exists(episode.id):
                    self.jobs.remove(episode.id)
                    stopped += 1
        return stopped

    async def resume_openings(self, guild_id: int) -> int:
        """The bot was added (back) to the server: its pending openings are scheduled again; how many shows."""
        shows = await self.repo.list_shows(guild_id)
        for show in shows:
            await self.schedule_show(show)
        return len(shows)

    async def run_job(self, episode_id: int) -> None:
        """Job body: open the episode's thread; a failure is logged, retried later and reported to admins."""
        try:
            await self.gateway.ready()
            episode = await self.repo.get_episode_by_id(episode_id)
            if episode is None or not episode.auto_open_pending:
                return
            show = await self.repo.get_show_by_id(episode.show_id)
            if show is not None and not self.gateway.serves_guild(show.guild_id):
                # Left while the bot was offline (start-up rebuilt the job): no retries; re-adding brings it back.
                log.info("episode %s not opened: the bot is no longer in server %s", episode_id, show.guild_id)
                return
            result = await self.threads.open_or_link(episode_id, may_create=True)
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
        retry_at = self.lookup.clock() + self.retry_delays[min(attempts, len(self.retry_delays)) - 1]
        self.jobs.add(episode_id, self.run_job, retry_at)
        log.info("episode %s: automatic opening retried at %s (attempt %d failed)", episode_id,
                 retry_at.isoformat(), attempts)
        if kind in TRANSIENT_FAILURES and attempts < NOTICE_AFTER_TRANSIENT:
            return
        if not await self.repo.claim_open_notice(show.guild_id, kind):
            return  # the admins were already told about this problem
        delivered = await self.gateway.report_failure(show.guild_id, await self.threads.starter_info(episode_id),
                                                      kind, error, retry_at)
        if not delivered:
            await self.repo.release_open_notice(show.guild_id, kind)
