"""Show presets: TOML files shipped in ``bot/presets``; adding a show is adding a file.

A preset file holds the show's names, its ``[[season]]`` tables (number, release pace) and its episodes as
``[[episode]]`` tables in the same format admins use for ``/show import``. ``airs`` values without an offset are
read in the file's ``zone``.

A season announced before its episodes are known has no ``[[episode]]`` tables but a ``premiere`` in its
``[[season]]`` table: ``premiere = "tba"`` (to be announced) or ``premiere = "2026-05-01 17:00"`` (read like
``airs``), and optionally ``episodes = 10`` (how many; each then airs at the premiere).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.episode_models import MAX_EPISODE, MAX_SEASON, EpisodeSpec, ReleasePace, SeasonPreset, ShowPreset
from bot.domain.episode_schedule import ScheduleImportError, ScheduleValueError, parse_air_time, parse_schedule_toml

MAX_SHOW_TITLE_LENGTH = 100
MAX_SHORT_NAME_LENGTH = 50

_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SHOW_FIELDS = {"title", "original_title", "short_name", "platform", "zone", "season", "episode"}
_SEASON_FIELDS = {"number", "release_pace", "premiere", "episodes"}
TBA = "tba"


class PresetError(ValueError):
    """An unknown preset key or a malformed preset file; the message names the file and every problem."""

    def __init__(self, filename: str, problems: list[str]) -> None:
        self.filename = filename
        self.problems = problems
        super().__init__(f"{filename}: " + "; ".join(problems))


def list_presets(directory: Traversable | Path | None = None) -> list[str]:
    """Keys of the available presets (file names without ``.toml``), sorted."""
    folder = directory or _shipped()
    return sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if _is_preset_file(entry))


def load_preset(key: str, directory: Traversable | Path | None = None) -> ShowPreset:
    """Load and validate one preset. Raises PresetError for an unknown key or a malformed file."""
    key = key.strip().lower()
    filename = f"{key}.toml"
    entry = (directory or _shipped()).joinpath(filename)
    if not _KEY.match(key) or not entry.is_file():
        raise PresetError(filename, ["no such preset"])
    try:
        text = entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(filename, [f"cannot be read ({error})"]) from None
    return parse_preset(text, key=key)


def parse_preset(text: str, *, key: str) -> ShowPreset:
    """Validate the text of the preset file ``<key>.toml``."""
    filename = f"{key}.toml"
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PresetError(filename, [str(error)]) from None
    problems = [f"unknown key {name!r}" for name in document if name not in _SHOW_FIELDS]
    title = _text(document, "title", MAX_SHOW_TITLE_LENGTH, problems, required=True)
    original_title = _text(document, "original_title", MAX_SHOW_TITLE_LENGTH, problems)
    short_name = _text(document, "short_name", MAX_SHORT_NAME_LENGTH, problems, required=True)
    platform = _text(document, "platform", MAX_SHOW_TITLE_LENGTH, problems)
    zone = _zone(_text(document, "zone", MAX_SHOW_TITLE_LENGTH, problems, required=True), problems)
    paces = _season_paces(document.get("season"), problems)
    announced = _announced(document.get("season"), zone, problems) if zone is not None else {}
    episodes: list[EpisodeSpec] = []
    if zone is not None:
        try:
            episodes = parse_schedule_toml(text, default_zone=zone)
        except ScheduleImportError as error:
            problems += [f"line {p.line}: {p.message_key} {p.detail}".rstrip() for p in error.problems]
    seasons = _seasons(paces, episodes, announced, problems)
    if problems or title is None or short_name is None:  # a missing title or short name is among the problems
        raise PresetError(filename, problems)
    return ShowPreset(key, title, original_title, short_name, seasons, platform)


def _shipped() -> Traversable:
    return files("bot").joinpath("presets")


def _is_preset_file(entry: Traversable | Path) -> bool:
    return entry.is_file() and entry.name.endswith(".toml") and bool(_KEY.match(entry.name.removesuffix(".toml")))


def _text(document: Mapping[str, object], name: str, limit: int, problems: list[str], *,
          required: bool = False) -> str | None:
    value = document.get(name)
    if value is None:
        if required:
            problems.append(f"missing {name!r}")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{name!r} must be a non-empty string")
        return None
    if len(value) > limit:
        problems.append(f"{name!r} is longer than {limit} characters")
        return None
    return value.strip()


def _zone(name: str | None, problems: list[str]) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"unknown zone {name!r}")
        return None


def _season_paces(tables: object, problems: list[str]) -> dict[int, ReleasePace]:
    if not isinstance(tables, list) or not tables or not all(isinstance(table, dict) for table in tables):
        problems.append("needs at least one [[season]] table")
        return {}
    paces: dict[int, ReleasePace] = {}
    for table in tables:
        problems += [f"[[season]]: unknown key {name!r}" for name in table if name not in _SEASON_FIELDS]
        number = table.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_SEASON:
            problems.append(f"[[season]]: 'number' must be a whole number from 1 to {MAX_SEASON}")
            continue
        if number in paces:
            problems.append(f"season {number} is declared twice")
            continue
        try:
            paces[number] = ReleasePace(table.get("release_pace"))
        except ValueError:
            choices = ", ".join(pace.value for pace in ReleasePace)
            problems.append(f"season {number}: 'release_pace' must be one of {choices}")
    return paces


def _announced(tables: object, zone: ZoneInfo,
               problems: list[str]) -> dict[int, tuple[datetime | None, int | None]]:
    """Seasons announced without episode tables: number -> (premiere or None for TBA, episode count or None)."""
    if not isinstance(tables, list):
        return {}
    announced: dict[int, tuple[datetime | None, int | None]] = {}
    for table in tables:
        if not isinstance(table, dict) or "premiere" not in table:
            if isinstance(table, dict) and "episodes" in table:
                problems.append(f"season {table.get('number')}: 'episodes' needs a 'premiere' (a date or \"tba\")")
            continue
        number, value, count = table.get("number"), table.get("premiere"), table.get("episodes")
        premiere: datetime | None = None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"season {number}: 'premiere' must be a date and time or \"tba\"")
            continue
        if value.strip().lower() != TBA:
            try:
                premiere = parse_air_time(value, default_zone=zone)
            except ScheduleValueError as error:
                problems.append(f"season {number}: 'premiere' {error.message_key} {error.detail}")
                continue
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                                  or not 1 <= count <= MAX_EPISODE):
            problems.append(f"season {number}: 'episodes' must be a whole number from 1 to {MAX_EPISODE}")
            continue
        if isinstance(number, int):
            announced[number] = (premiere, count)
    return announced


def _seasons(paces: dict[int, ReleasePace], episodes: list[EpisodeSpec],
             announced: dict[int, tuple[datetime | None, int | None]], problems: list[str]) -> list[SeasonPreset]:
    """Group episodes into their declared seasons; each season's episodes must be numbered 1..n. A season with a
    `premiere` lists no episodes (they are not known yet)."""
    seasons = []
    for number in sorted({episode.season for episode in episodes} - set(paces)):
        problems.append(f"episodes of season {number}, which has no [[season]] table")
    for number, pace in sorted(paces.items()):
        season_episodes = [episode for episode in episodes if episode.season == number]
        numbers = [episode.number for episode in season_episodes]
        if number in announced:
            if numbers:
                problems.append(f"season {number} has a 'premiere' and [[episode]] tables: give one or the other")
            premiere, count = announced[number]
            seasons.append(SeasonPreset(number, [], pace, premiere, count))
            continue
        if not numbers:
            problems.append(f"season {number} has no episodes")
        elif numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"season {number}: episodes must be numbered 1 to n without gaps")
        seasons.append(SeasonPreset(number, season_episodes, pace))
    return seasons
