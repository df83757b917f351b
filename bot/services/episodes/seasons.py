"""Seasons announced before their dates: added with a premiere or "to be announced", with or without an episode
count; edited (date set, moved or withdrawn, count changed, pace); removed. Episodes of a season without a
premiere have no air time, so nothing opens for them; a season's episodes air at its premiere unless an episode
was scheduled on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.episodes import MAX_EPISODE, MAX_SEASON, ReleasePace
from bot.errors import UserFacingError
from db.episodes import Episode, EpisodeRepository, EpisodeRow, Season, SeasonRow, Show

from .jobs import OpeningJobs
from .lookup import EpisodeLookup
from .premieres import PremiereAnnouncements
from .schedules import ShowSchedules

UNCHANGED = object()
"""An edit's `premiere` left out (None means: back to to-be-announced)."""


@dataclass(frozen=True, slots=True)
class SeasonSummary:
    """A season as /show season and the pickers show it."""

    number: int
    premiere_at: datetime | None
    episode_count: int
    """Episodes stored (or announced, when more)."""
    aired: int
    """Episodes that have aired."""


class SeasonSchedules:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, schedules: ShowSchedules,
                 premieres: PremiereAnnouncements, jobs: OpeningJobs) -> None:
        self.repo = repo
        self.lookup = lookup
        self.schedules = schedules
        self.premieres = premieres
        self.jobs = jobs

    async def summaries(self, show: Show) -> list[SeasonSummary]:
        """Every season of the show (rows and seasons that only have episodes), in order."""
        rows = {s.number: s for s in await self.repo.list_seasons(show.id)}
        episodes = await self.repo.list_episodes(show.id)
        numbers = sorted(set(rows) | {e.season for e in episodes})
        result = []
        for number in numbers:
            in_season = [e for e in episodes if e.season == number]
            row = rows.get(number)
            premiere = row.premiere_at if row else min((e.airs_at for e in in_season if e.airs_at), default=None)
            count = max(len(in_season), (row.episode_count or 0) if row else 0)
            result.append(SeasonSummary(number, premiere, count,
                                        sum(1 for e in in_season if self.lookup.has_aired(e))))
        return result

    async def exists(self, show: Show, number: int) -> bool:
        return (await self.repo.get_season(show.id, number) is not None
                or bool(await self.repo.list_episodes(show.id, number)))

    async def add(self, show: Show, number: int, premiere: datetime | None, episodes: int | None,
                  pace: str | None) -> Season:
        self._check(number, premiere, episodes)
        if await self.exists(show, number):
            raise UserFacingError("episodes.season_exists", show=show.title, season=number)
        pace = ReleasePace(pace).value if pace else None
        rows = [EpisodeRow(number, n, None, premiere) for n in range(1, (episodes or 0) + 1)]
        season = await self.repo.save_season(show.id, SeasonRow(number, premiere, episodes, pace), rows)
        await self.schedules.replan(show, {number})
        await self.premieres.sync(show, number)
        return season

    async def edit(self, show: Show, number: int, *, premiere: datetime | object | None = UNCHANGED,
                   episodes: int | None = None, pace: str | None = None) -> Season:
        """Change what is given; `premiere=None` withdraws the date (to be announced)."""
        current = await self.repo.get_season(show.id, number)
        stored = await self.repo.list_episodes(show.id, number)
        if current is None and not stored:
            raise UserFacingError("episodes.unknown_season", show=show.title, season=number)
        old_premiere = current.premiere_at if current else min((e.airs_at for e in stored if e.airs_at),
                                                               default=None)
        new_premiere = old_premiere if premiere is UNCHANGED else premiere
        if new_premiere is not None and not isinstance(new_premiere, datetime):
            raise TypeError("premiere must be a datetime or None")
        self._check(number, new_premiere if premiere is not UNCHANGED else None, episodes)
        count = episodes if episodes is not None else (current.episode_count if current else None)
        threads = await self.repo.threads_for_episodes(e.id for e in stored)
        if episodes is not None:
            with_threads = [e.number for e in stored if e.id in threads and e.number > episodes]
            if with_threads:
                raise UserFacingError("episodes.count_below_threads", season=number, episodes=episodes,
                                      highest=max(with_threads))
        new_pace = ReleasePace(pace).value if pace else (current.release_pace if current else None)
        # Episodes that air at the premiere (or had no time) follow it; one scheduled on its own keeps its time.
        follows = [e for e in stored if e.airs_at is None or e.airs_at == old_premiere]
        air_times = [(e.number, new_premiere) for e in follows
                     if e.airs_at != new_premiere and (count is None or e.number <= count)]
        have = max((e.number for e in stored), default=0)
        added = [EpisodeRow(number, n, None, new_premiere) for n in range(have + 1, (count or 0) + 1)]
        season = await self.repo.save_season(
            show.id, SeasonRow(number, new_premiere, count, new_pace), added, air_times=air_times,
            remove_from=episodes + 1 if episodes is not None and episodes < have else None)
        for episode in stored:
            if episodes is not None and episode.number > episodes:
                self.jobs.remove(episode.id)
        await self.schedules.replan(show, {number})
        await self.premieres.sync(show, number)
        return season

    async def remove(self, show: Show, number: int) -> None:
        """Remove the season's rows and jobs, delete its premiere event and mark its announcement; its Discord
        threads stay."""
        current = await self.repo.get_season(show.id, number)
        stored = await self.repo.list_episodes(show.id, number)
        if current is None and not stored:
            raise UserFacingError("episodes.unknown_season", show=show.title, season=number)
        if current is not None:
            await self.premieres.removed(show, current)
        await self.repo.remove_season(show.id, number)
        for episode in stored:
            self.jobs.remove(episode.id)

    def _check(self, number: int, premiere: datetime | None, episodes: int | None) -> None:
        if not 1 <= number <= MAX_SEASON or (episodes is not None and not 1 <= episodes <= MAX_EPISODE):
            raise UserFacingError("episodes.out_of_range", season_max=MAX_SEASON, episode_max=MAX_EPISODE)
        if premiere is not None and premiere <= self.lookup.clock():
            raise UserFacingError("episodes.premiere_past")

    async def aired_in(self, show: Show, number: int | None) -> list[Episode]:
        return [e for e in await self.repo.list_episodes(show.id, number) if self.lookup.has_aired(e)]
