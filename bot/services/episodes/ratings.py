"""Ratings (1–5 stars per member and episode, shown live on the starter message) and spoiler-safe progress."""

from __future__ import annotations

from bot.domain.episodes import RatingSummary, best_episode, is_beyond_progress, spoiler_warning_due
from bot.errors import UserFacingError
from db.episodes import Episode, EpisodeRepository, Progress, Show

from .lookup import EpisodeLookup
from .models import RatingsTable, StarterInfo
from .threads import EpisodeThreads, episode_rating


class RatingsAndProgress:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, threads: EpisodeThreads) -> None:
        self.repo = repo
        self.lookup = lookup
        self.threads = threads

    async def rating(self, episode_id: int) -> RatingSummary:
        return await episode_rating(self.repo, episode_id)

    async def rate(self, episode_id: int, user_id: int, stars: int) -> StarterInfo:
        """Record (or change) the member's vote and refresh the starter message; what it now shows."""
        if not 1 <= stars <= 5:
            raise UserFacingError("episodes.bad_rating")
        await self.lookup.episode_by_id(episode_id)
        await self.repo.set_rating(episode_id, user_id, stars)
        return await self.threads.refresh_starter(episode_id, changed=True)

    async def ratings_table(self, show: Show, season: int | None = None) -> RatingsTable:
        """Every aired (or already rated) episode's rating; a season with none of those is said so."""
        listed = await self.repo.list_episodes(show.id, season)
        if season is not None and not listed and await self.repo.get_season(show.id, season) is None:
            raise UserFacingError("episodes.unknown_season", show=show.title, season=season)
        if season is None and not listed:
            raise UserFacingError("episodes.no_episodes", show=show.title)
        histograms = await self.repo.rating_histograms(e.id for e in listed)
        episodes = [e for e in listed if self.lookup.has_aired(e) or e.id in histograms]
        if not episodes:
            if season is None:
                raise UserFacingError("episodes.none_aired", show=show.title)
            raise UserFacingError("episodes.no_aired_in_season", show=show.title, season=season)
        rows = [(e, RatingSummary.from_histogram(histograms.get(e.id, {}))) for e in episodes]
        return RatingsTable(show, rows, best_episode({e.id: summary for e, summary in rows}))

    async def progress(self, user_id: int, show: Show) -> Progress | None:
        return await self.repo.get_progress(user_id, show.id)

    async def all_progress(self, guild_id: int, user_id: int) -> list[tuple[Show, Progress]]:
        return await self.repo.list_progress(guild_id, user_id)

    async def set_progress(self, user_id: int, show: Show, episode: Episode) -> None:
        """Record the member's progress; an episode of a season with nothing aired yet cannot have been watched."""
        if not self.lookup.has_aired(episode):
            season = await self.repo.list_episodes(show.id, episode.season)
            if not any(self.lookup.has_aired(e) for e in season):
                raise UserFacingError("episodes.no_aired_in_season", show=show.title, season=episode.season)
        await self.repo.set_progress(show.guild_id, user_id, show.id, episode.season, episode.number)

    async def spoiler_warning_due(self, user_id: int, show: Show, episode: Episode) -> bool:
        """Whether the member is warned before the episode's link, under the server's spoiler mode
        (`/config spoilers`): by default only members who recorded progress for the show and are behind it."""
        mode = (await self.lookup.settings.get(show.guild_id)).spoiler_mode
        progress = await self.repo.get_progress(user_id, show.id)
        return spoiler_warning_due(mode, episode.season, episode.number, progress.key if progress else None)

    async def is_beyond_progress(self, user_id: int, show: Show, episode: Episode) -> bool:
        progress = await self.repo.get_progress(user_id, show.id)
        return is_beyond_progress(episode.season, episode.number, progress.key if progress else None)
