"""Shows and their schedules: presets, shows added by hand, release paces, episodes and imported schedules.

Every change re-plans which episodes are pending an automatic opening and reschedules the show's opening jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.domain.episodes import (
    MAX_EPISODE,
    MAX_SEASON,
    EpisodeSpec,
    PresetError,
    ReleasePace,
    ShowPreset,
    episode_label,
    load_preset,
    parse_schedule_csv,
    parse_schedule_toml,
    thread_open_times,
)
from bot.errors import UserFacingError
from db.episodes import DuplicateShow, Episode, EpisodeRepository, EpisodeRow, SeasonRow, Show

from .jobs import OpeningJobs
from .lookup import EpisodeLookup
from .openings import AutomaticOpenings
from .premieres import PremiereAnnouncements

PRESET_DIRECTORY: Path | None = None
"""Where presets are read from (None: the shipped `bot/presets`); read when the service is built."""


@dataclass(frozen=True, slots=True)
class PresetChanges:
    """What installing a preset again changed; episode keys are (season, episode)."""

    new_seasons: list[int] = field(default_factory=list)
    added: list[tuple[int, int]] = field(default_factory=list)
    moved: list[tuple[int, int]] = field(default_factory=list)
    retitled: list[tuple[int, int]] = field(default_factory=list)
    premieres: list[int] = field(default_factory=list)
    removed: list[tuple[int, int]] = field(default_factory=list)
    blocked: list[tuple[int, int]] = field(default_factory=list)
    """Episodes the preset no longer lists that have threads: the update is refused."""

    @property
    def any(self) -> bool:
        return bool(self.new_seasons or self.added or self.moved or self.retitled or self.premieres or self.removed)


@dataclass(frozen=True, slots=True)
class PresetResult:
    show: Show
    count: int
    created: bool
    changes: PresetChanges


def show_key(title: str) -> str:
    """A slug for a show title: lowercase words joined by hyphens (Hangul kept): `trauma-code-heroes-on-call`."""
    return re.sub(r"[^\w]+", "-", title.lower()).strip("-_")[:40].strip("-") or "show"


class ShowSchedules:
    def __init__(self, repo: EpisodeRepository, lookup: EpisodeLookup, openings: AutomaticOpenings,
                 jobs: OpeningJobs, premieres: PremiereAnnouncements, *,
                 preset_dir: Traversable | Path | None = None) -> None:
        self.repo = repo
        self.lookup = lookup
        self.openings = openings
        self.jobs = jobs
        self.premieres = premieres
        self.preset_dir = preset_dir

    async def install_preset(self, guild_id: int, name: str, pace: str | None = None) -> PresetResult:
        """Install a shipped preset, or update a show installed from it: new seasons, corrected dates and titles
        are applied without duplicating anything or touching threads, ratings and progress. Episodes the preset
        no longer lists are removed, unless one has a thread: then nothing is written."""
        try:
            preset = load_preset(name, self.preset_dir)
        except PresetError:
            raise UserFacingError("episodes.unknown_preset", name=name[:40]) from None
        existing = await self.repo.get_show(guild_id, preset.key)
        pace = pace or (existing.release_pace if existing else preset.seasons[0].release_pace.value)
        changes = await self._preset_changes(existing, preset) if existing else PresetChanges()
        if changes.blocked:
            raise UserFacingError("episodes.preset_would_remove",
                                  episodes=", ".join(episode_label(*key) for key in changes.blocked))
        stored_seasons = {s.number: s for s in await self.repo.list_seasons(existing.id)} if existing else {}
        specs: list[EpisodeSpec | _Spec] = []
        season_rows = []
        for season in preset.seasons:
            specs += season.episodes
            before = stored_seasons.get(season.number)
            premiere = season.release_at or (before.premiere_at if before else None)  # TBA never clears a date
            count = season.episode_count or (before.episode_count if before else None)
            own_pace = season.release_pace.value if season.release_pace.value != pace else None
            season_rows.append(SeasonRow(season.number, premiere, count, own_pace))
            if not season.episodes and season.announced_count:
                specs += [_Spec(season.number, n, None, season.announced_premiere)
                          for n in range(1, season.announced_count + 1)]
        rows = await self._planned_rows(guild_id, existing, pace, specs,
                                        season_paces={r.number: r.release_pace for r in season_rows})
        show, created = await self.repo.add_show(guild_id, preset.key, preset.title, preset.original_title,
                                                 preset.short_name, pace, rows, replace=True,
                                                 platform=preset.platform, seasons=season_rows)
        if changes.removed:
            await self.repo.remove_episodes(show.id, changes.removed)
        await self.openings.schedule_show(show)
        announce = [r.number for r in season_rows] if created else [*changes.new_seasons, *changes.premieres]
        for number in announce:
            await self.premieres.sync(show, number)
        return PresetResult(show, sum(r.episode_count or 0 for r in season_rows), created, changes)

    async def _preset_changes(self, show: Show, preset: ShowPreset) -> PresetChanges:
        """What installing the preset again would change in the stored show."""
        stored = {e.key: e for e in await self.repo.list_episodes(show.id)}
        seasons = {s.number: s for s in await self.repo.list_seasons(show.id)}
        wanted: dict[tuple[int, int], tuple[str | None, datetime | None]] = {}
        known_seasons = set()
        for season in preset.seasons:
            for spec in season.episodes:
                wanted[spec.key] = (spec.title, spec.airs_at)
            if not season.episodes and season.announced_count:
                for n in range(1, season.announced_count + 1):
                    wanted[(season.number, n)] = (None, season.announced_premiere)
            if season.episodes or season.announced_count:
                known_seasons.add(season.number)
        stored_numbers = set(seasons) | {key[0] for key in stored}
        new_seasons = [s.number for s in preset.seasons if s.number not in stored_numbers]
        premieres = [s.number for s in preset.seasons
                     if not s.episodes and s.announced_premiere is not None and s.number not in new_seasons
                     and (seasons[s.number].premiere_at if s.number in seasons else None) != s.announced_premiere]
        removed = [key for key in stored if key[0] in known_seasons and key not in wanted]
        threads = await self.repo.threads_for_episodes(stored[key].id for key in removed)
        return PresetChanges(
            new_seasons=new_seasons,
            added=[key for key in wanted if key not in stored and key[0] not in new_seasons],
            moved=[key for key, (_, airs) in wanted.items()
                   if key in stored and airs is not None and stored[key].airs_at != airs],
            retitled=[key for key, (title, _) in wanted.items()
                      if key in stored and title is not None and stored[key].title != title],
            premieres=premieres,
            removed=removed,
            blocked=[key for key in removed if stored[key].id in threads],
        )

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
        """Remove the show's rows and jobs; its Discord threads stay, its premiere events go."""
        for season in await self.repo.list_seasons(show.id):
            if season.scheduled_event_id is not None or season.announcement_message_id is not None:
                await self.premieres.removed(show, season)
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

    async def replan(self, show: Show, seasons: set[int]) -> None:
        """Recompute which episodes of `seasons` are pending an automatic opening (their air times or pace
        changed elsewhere) and reschedule the show's jobs."""
        rows = await self._planned_rows(show.guild_id, show, show.release_pace, [], touched=seasons)
        await self.repo.upsert_episodes(show.id, rows)
        await self.openings.schedule_show(show)

    async def _planned_rows(self, guild_id: int, show: Show | None, pace: str,
                            changes: Iterable[EpisodeSpec | _Spec], *, touched: set[int] | None = None,
                            season_paces: dict[int, str | None] | None = None) -> list[EpisodeRow]:
        """Rows to write for `changes`, plus every episode of the seasons they touch with its pending flag.

        An episode becomes pending when its thread's open time (under the pace) is in the future and it has
        no thread; one whose open time is past keeps its flag (a pending one then opens right away).
        """
        existing = await self.repo.list_episodes(show.id) if show is not None else []
        threads = await self.repo.threads_for_episodes(e.id for e in existing)
        merged: dict[tuple[int, int], _Spec] = {e.key: _Spec(e.season, e.number, e.title, e.airs_at) for e in existing}
        touched_seasons = {e.season for e in existing} if show is not None and pace != show.release_pace else set()
        touched_seasons |= touched or set()
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
        paces = dict(season_paces) if season_paces is not None else (
            {s.number: s.release_pace for s in await self.repo.list_seasons(show.id) if s.release_pace}
            if show is not None else {})
        rows = []
        for season in sorted(touched_seasons):
            in_season = [spec for key, spec in merged.items() if key[0] == season]
            timed = [EpisodeSpec(s.number, s.title, s.airs_at, season=s.season) for s in in_season if s.airs_at]
            open_at = {spec.key: at for spec, at in thread_open_times(timed, paces.get(season) or pace, zone=zone)}
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
