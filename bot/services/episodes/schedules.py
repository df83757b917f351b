"""Shows and their schedules: presets, shows added by hand, release paces, episodes and imported schedules.

Every change re-plans which episodes are pending an automatic opening and reschedules the show's opening jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.episodes import (
    MAX_EPISODE,
    MAX_SEASON,
    EpisodeSpec,
    PresetError,
    ReleasePace,
    load_preset,
    parse_schedule_csv,
    parse_schedule_toml,
    thread_open_times,
)
from bot.errors import UserFacingError
from db.episodes import DuplicateShow, Episode, EpisodeRepository, EpisodeRow, Show

from .jobs import OpeningJobs
from .lookup import EpisodeLookup
from .openings import AutomaticOpenings


def show_key(title: str) -> str:
    """A slug for a show title: lowercase words joined by hyphens (Hangul kept): `trauma-code-heroes-on-call`."""
    return re.sub(r"[^\w]+", "-", title.lower()).strip("-_")[:40].strip("-") or "show"


class ShowSchedules:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, openings: AutomaticOpenings,
                 jobs: OpeningJobs) -> None:
        self.repo = repo
        self.lookup = lookup
        self.openings = openings
        self.jobs = jobs

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
        await self.openings.schedule_show(show)
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
            self.jobs.remove(episode.id)

    async def set_pace(self, show: Show, pace: str) -> Show:
        pace = ReleasePace(pace).value
        rows = await self._planned_rows(show.guild_id, show, pace, [])
        await self.repo.upsert_episodes(show.id, rows)
        await self.repo.set_release_pace(show.id, pace)
        updated = await self.repo.get_show_by_id(show.id)
        if updated is None:  # removed meanwhile
            raise UserFacingError("episodes.gone")
        await self.openings.schedule_show(updated)
        return updated

    async def add_episode(self, show: Show, season: int, number: int, title: str | None,
                          airs_at: datetime | None) -> Episode:
        if not (1 <= season <= MAX_SEASON and 1 <= number <= MAX_EPISODE):
            raise UserFacingError("episodes.out_of_range", season_max=MAX_SEASON, episode_max=MAX_EPISODE)
        title = " ".join(title.split())[:100] if title else None
        spec = _Spec(season, number, title, airs_at)
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, [spec])
        await self.repo.upsert_episodes(show.id, rows)
        await self.openings.schedule_show(show)
        return await self._stored(show, season, number)

    async def schedule_episode(self, show: Show, episode: Episode, airs_at: datetime) -> Episode:
        spec = _Spec(episode.season, episode.number, None, airs_at)
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, [spec])
        await self.repo.upsert_episodes(show.id, rows)
        await self.openings.schedule_show(show)
        return await self._stored(show, episode.season, episode.number)

    async def _stored(self, show: Show, season: int, number: int) -> Episode:
        episode = await self.repo.get_episode(show.id, season, number)
        if episode is None:  # its show was removed meanwhile
            raise UserFacingError("episodes.gone")
        return episode

    async def import_schedule(self, show: Show, filename: str, data: bytes) -> int:
        """Import a CSV or TOML season schedule: every row or none.

        Raises ScheduleImportError (with every bad line) from the domain parser, or UserFacingError for a file
        that is neither CSV nor TOML.
        """
        zone = await self.lookup.zone(show.guild_id)
        lower = filename.lower()
        if lower.endswith(".csv"):
            specs = parse_schedule_csv(data, default_zone=zone)
        elif lower.endswith(".toml"):
            specs = parse_schedule_toml(data, default_zone=zone)
        else:
            raise UserFacingError("episodes.import_format", filename=filename[:60])
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, specs)
        await self.repo.upsert_episodes(show.id, rows)
        await self.openings.schedule_show(show)
        return len(specs)

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
        zone = await self.lookup.zone(guild_id)
        now = self.lookup.clock()
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


@dataclass(frozen=True, slots=True)
class _Spec:
    season: int
    number: int
    title: str | None
    airs_at: datetime | None
