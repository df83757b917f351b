"""Premiere countdowns: when a season gets a premiere date, an announcement in the discussion channel (it counts
down by itself) and a Discord scheduled event; both follow the date, and the announcement links the season's
threads as they open.

The season row keeps the ids of both Discord objects, so each is made once and then edited. Discord failures are
logged and never undo the season change that caused them (the next change, or the next thread opened, tries
again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from db.episodes import Episode, EpisodeRepository, EpisodeThread, Season, Show

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PremiereInfo:
    """What a premiere announcement and event show."""

    guild_id: int
    show: Show
    season: Season
    state: str
    """'scheduled' (a date), 'withdrawn' (back to to-be-announced) or 'removed' (the season was removed)."""
    threads: list[tuple[Episode, EpisodeThread]]
    """The season's episode threads opened so far, in episode order."""


class PremiereGateway(Protocol):
    """Discord operations for premiere countdowns, implemented by the cog. Methods may raise anything; the
    service logs and carries on."""

    async def post_announcement(self, info: PremiereInfo) -> tuple[int, int]:
        """Post (and pin when allowed) the announcement in the discussion channel; (channel id, message id)."""

    async def edit_announcement(self, channel_id: int, message_id: int, info: PremiereInfo) -> bool:
        """Edit the announcement; False when it is gone (deleted in Discord), so a new one is posted."""

    async def create_event(self, info: PremiereInfo) -> int:
        """Create the external scheduled event of the premiere; its id."""

    async def edit_event(self, event_id: int, info: PremiereInfo) -> bool:
        """Edit the event; False when it is gone (deleted in Discord), so a new one is created."""

    async def delete_event(self, guild_id: int, event_id: int) -> None: ...


class NoPremieres:
    """A gateway for services without Discord (tests of other parts): every call does nothing."""

    async def post_announcement(self, info: PremiereInfo) -> tuple[int, int]:
        raise LookupError("no Discord")

    async def edit_announcement(self, channel_id: int, message_id: int, info: PremiereInfo) -> bool:
        return True

    async def create_event(self, info: PremiereInfo) -> int:
        raise LookupError("no Discord")

    async def edit_event(self, event_id: int, info: PremiereInfo) -> bool:
        return True

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        return None


class PremiereAnnouncements:
    def __init__(self, repo: EpisodeRepository, gateway: PremiereGateway, clock: Callable[[], datetime]) -> None:
        self.repo = repo
        self.gateway = gateway
        self.clock = clock

    async def sync(self, show: Show, number: int) -> None:
        """Bring the season's announcement and event in line with its premiere date (after any change)."""
        season = await self.repo.get_season(show.id, number)
        if season is None:
            return
        if season.premiere_at is None:
            await self._withdraw(show, season, "withdrawn")
            return
        if season.premiere_at <= self.clock() and season.announcement_message_id is None:
            return  # a season that premiered before it was added: nothing to count down to
        info = await self._info(show, season, "scheduled")
        await self._announce(info)
        try:
            if season.scheduled_event_id is None or not await self.gateway.edit_event(season.scheduled_event_id,
                                                                                       info):
                event_id = await self.gateway.create_event(info)
                await self.repo.set_season_event(season.id, event_id)
        except Exception:
            log.warning("could not create or edit the premiere event of show %s season %s", show.id, number,
                        exc_info=True)

    async def removed(self, show: Show, season: Season) -> None:
        """The season was removed: its event is deleted and its announcement marked."""
        await self._withdraw(show, season, "removed")

    async def thread_opened(self, episode: Episode) -> None:
        """An episode's thread opened: its season's announcement, if any, links it (never raises)."""
        try:
            season = await self.repo.get_season(episode.show_id, episode.season)
            show = await self.repo.get_show_by_id(episode.show_id)
            if season is None or show is None or season.announcement_message_id is None:
                return
            await self._announce(await self._info(show, season,
                                                  "scheduled" if season.premiere_at else "withdrawn"))
        except Exception:
            log.warning("could not update the premiere announcement for episode %s", episode.id, exc_info=True)

    async def _withdraw(self, show: Show, season: Season, state: str) -> None:
        if season.scheduled_event_id is not None:
            try:
                await self.gateway.delete_event(show.guild_id, season.scheduled_event_id)
            except Exception:
                log.warning("could not delete premiere event %s", season.scheduled_event_id, exc_info=True)
            if state != "removed":
                await self.repo.set_season_event(season.id, None)
        if season.announcement_message_id is not None:
            await self._announce(await self._info(show, season, state))

    async def _announce(self, info: PremiereInfo) -> None:
        season = info.season
        try:
            if season.announcement_channel_id is None or season.announcement_message_id is None:
                channel_id, message_id = await self.gateway.post_announcement(info)
                await self.repo.set_season_announcement(season.id, channel_id, message_id)
            elif not await self.gateway.edit_announcement(season.announcement_channel_id,
                                                          season.announcement_message_id, info):
                if info.state != "scheduled":
                    return  # nothing to mark on a post that is gone
                channel_id, message_id = await self.gateway.post_announcement(info)
                await self.repo.set_season_announcement(season.id, channel_id, message_id)
        except Exception:
            log.warning("could not post or edit the premiere announcement of show %s season %s", info.show.id,
                        season.number, exc_info=True)

    async def _info(self, show: Show, season: Season, state: str) -> PremiereInfo:
        episodes = await self.repo.list_episodes(show.id, season.number)
        threads = await self.repo.threads_for_episodes(e.id for e in episodes)
        return PremiereInfo(show.guild_id, show, season, state,
                            [(e, threads[e.id]) for e in episodes if e.id in threads])
