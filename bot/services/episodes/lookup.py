"""Finding shows and episodes the way members name them, the server's time zone, and whether an episode aired."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from db.episodes import Episode, EpisodeRepository, Show

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


class EpisodeLookup:
    """Read-only: the other episode services and the commands find shows and episodes through it."""

    def __init__(self, repo: EpisodeRepository, settings: SettingsService, clock: Callable[[], datetime]) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock

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
        aired = sorted({e.season for e in episodes if self.has_aired(e)})
        seasons = sorted({e.season for e in episodes})
        season = ref_season or season or (aired or seasons)[-1]  # a bare number: the latest season on air
        in_season = [e for e in episodes if e.season == season]
        if not in_season:
            if await self.repo.get_season(show.id, season) is not None:  # announced, episodes not known yet
                raise UserFacingError("episodes.no_aired_in_season", show=show.title, season=season)
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

    async def with_threads(self, episodes: list[Episode]) -> set[int]:
        """Ids of those episodes that have a thread (for pickers scoped to what a member may act on)."""
        return set(await self.repo.threads_for_episodes(e.id for e in episodes))

    def has_aired(self, episode: Episode) -> bool:
        return episode.airs_at is not None and episode.airs_at <= self.clock()

    async def zone(self, guild_id: int) -> tzinfo:
        """The server's configured time zone (UTC when it is unknown to this machine)."""
        name = (await self.settings.get(guild_id)).timezone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
