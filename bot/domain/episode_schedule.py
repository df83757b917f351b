"""Season schedules imported by admins from CSV or TOML files.

Both formats carry the fields ``season``, ``episode``, ``title`` (optional) and ``airs``. An ``airs`` value is
``2025-01-24 17:00`` (read in the server's zone), ``2025-01-24T17:00+09:00`` (explicit offset) or
``2025-01-24 17:00 Asia/Seoul`` (IANA zone name). Every bad row is reported, with the line number the admin sees
in the file, as a message key plus detail so that the bot can say it in the member's language.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from bot.domain.episode_models import MAX_EPISODE, MAX_SEASON, MAX_TITLE_LENGTH, EpisodeSpec

MAX_ROWS = 500
FIELDS = ("season", "episode", "title", "airs")
REQUIRED_FIELDS = ("season", "episode", "airs")

# Message keys; the bot's catalogs translate them.
EMPTY = "import.empty"
BAD_ENCODING = "import.bad_encoding"
BAD_CSV = "import.bad_csv"
BAD_TOML = "import.bad_toml"
MISSING_COLUMN = "import.missing_column"
UNKNOWN_COLUMN = "import.unknown_column"
DUPLICATE_COLUMN = "import.duplicate_column"
NO_ROWS = "import.no_rows"
TOO_MANY_ROWS = "import.too_many_rows"
MISSING_VALUE = "import.missing_value"
EXTRA_VALUES = "import.extra_values"
BAD_VALUE = "import.bad_value"
BAD_NUMBER = "import.bad_number"
SEASON_OUT_OF_RANGE = "import.season_out_of_range"
EPISODE_OUT_OF_RANGE = "import.episode_out_of_range"
TITLE_TOO_LONG = "import.title_too_long"
BAD_DATE = "import.bad_date"
UNKNOWN_ZONE = "import.unknown_zone"
NONEXISTENT_TIME = "import.nonexistent_time"
DUPLICATE_EPISODE = "import.duplicate_episode"


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    message_key: str
    detail: str = ""


class ScheduleImportError(ValueError):
    """Raised with every problem found in a schedule file; nothing from such a file should be stored."""

    def __init__(self, problems: Iterable[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line)
        super().__init__("; ".join(f"line {p.line}: {p.message_key} {p.detail}".rstrip() for p in self.problems))


class ScheduleValueError(ValueError):
    """One value that cannot be read; ``message_key`` is one of the ``import.*`` keys."""

    def __init__(self, message_key: str, detail: str) -> None:
        self.message_key = message_key
        self.detail = detail
        super().__init__(f"{message_key}: {detail}")


def parse_schedule_csv(text: str | bytes, *, default_zone: tzinfo | str) -> list[EpisodeSpec]:
    """Read a CSV schedule with a header row; the header is line 1. Raises ScheduleImportError."""
    zone = _zone(default_zone)
    header: list[str] | None = None
    header_problems: list[RowProblem] = []
    rows: list[tuple[int, dict[str, object]]] = []
    problems: list[RowProblem] = []
    for line, record in _records(_decode(text)):
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            header_problems = _header_problems(header, line)
            if header_problems:
                break
            continue
        if len(rows) == MAX_ROWS:
            problems.append(RowProblem(line, TOO_MANY_ROWS, str(MAX_ROWS)))
            break
        extra_values = [value for value in record[len(header) :] if value.strip()]
        if extra_values:
            problems.append(RowProblem(line, EXTRA_VALUES, ", ".join(extra_values)))
        rows.append((line, dict(zip(header, record, strict=False))))
    if header is None:
        raise ScheduleImportError([RowProblem(1, EMPTY)])
    if header_problems:
        raise ScheduleImportError(header_problems)
    return _episodes(rows, zone, problems, field_line=lambda line, _name: line)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    last_line = 0
    try:
        for record in reader:
            yield last_line + 1, record
            last_line = reader.line_num
    except csv.Error as error:
        raise ScheduleImportError([RowProblem(reader.line_num, BAD_CSV, str(error))]) from None


def parse_schedule_toml(text: str | bytes, *, default_zone: tzinfo | str) -> list[EpisodeSpec]:
    """Read ``[[episode]]`` tables; other top-level keys are left to the caller. Raises ScheduleImportError.

    Besides strings, ``airs`` may be a TOML datetime: with an offset it is exact, without one it is read in
    ``default_zone``.
    """
    zone = _zone(default_zone)
    source = _decode(text)
    document = _load_toml(source)
    tables = document.get("episode")
    lines = source.split("\n")  # TOML's own line breaks; str.splitlines would also split on other characters
    header_lines = [number for number, line in enumerate(lines, 1) if _EPISODE_HEADER.match(line)]
    if tables is None or tables == []:
        raise ScheduleImportError([RowProblem(1, NO_ROWS)])
    if not isinstance(tables, list) or len(tables) != len(header_lines):
        raise ScheduleImportError([RowProblem(1, BAD_TOML, "each episode must be its own [[episode]] table")])
    problems: list[RowProblem] = []
    if len(tables) > MAX_ROWS:
        problems.append(RowProblem(header_lines[MAX_ROWS], TOO_MANY_ROWS, str(MAX_ROWS)))
        tables = tables[:MAX_ROWS]
    rows: list[tuple[int, dict[str, object]]] = []
    for line, table in zip(header_lines, tables, strict=False):
        problems.extend(RowProblem(line, UNKNOWN_COLUMN, name) for name in table if name not in FIELDS)
        rows.append((line, table))
    key_lines = _key_lines(lines, header_lines)
    return _episodes(rows, zone, problems, field_line=lambda line, name: key_lines.get((line, name), line))


def parse_air_time(text: str, *, default_zone: tzinfo | str) -> datetime:
    """Read one ``airs`` string (the formats in the module docstring) into aware UTC. Raises ScheduleValueError."""
    zone = _zone(default_zone)
    value = " ".join(text.split())
    if not value:
        raise ScheduleValueError(MISSING_VALUE, "airs")
    value = _SPACED_OFFSET.sub(r"\1", value)
    match = _ZONE_SUFFIX.match(value)
    if match:
        value, zone = match["when"], _named_zone(match["zone"])
    try:
        date.fromisoformat(value)
    except ValueError:
        pass
    else:
        raise ScheduleValueError(BAD_DATE, f"{text.strip()} (no time of day)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleValueError(BAD_DATE, text.strip()) from None
    if parsed.tzinfo is not None:
        if match:
            raise ScheduleValueError(BAD_DATE, f"{text.strip()} (both an offset and a zone)")
        return parsed.astimezone(UTC)
    return local_to_utc(parsed, zone)


def local_to_utc(naive: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time in ``zone`` as aware UTC; a repeated time means its first occurrence.

    Raises ScheduleValueError for a time skipped by a daylight-saving change.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        raise ScheduleValueError(NONEXISTENT_TIME, f"{naive:%Y-%m-%d %H:%M} {zone}")
    return utc


_ZONE_SUFFIX = re.compile(r"^(?P<when>.*\d)\s+(?P<zone>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)$")
_SPACED_OFFSET = re.compile(r"\s+([+-]\d{2}:?\d{2}|Z)$")
_EPISODE_HEADER = re.compile(r"^\s*\[\[\s*episode\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")
_TOML_ERROR_LINE = re.compile(r"at line (\d+)")


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _named_zone(name: str) -> ZoneInfo:
    key = _zone_names().get(name.lower())
    if key is None:
        raise ScheduleValueError(UNKNOWN_ZONE, name)
    return ZoneInfo(key)


def _zone(zone: tzinfo | str) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def _decode(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise ScheduleImportError([RowProblem(line, BAD_ENCODING, "UTF-8")]) from None
    else:
        text = data
    return text.removeprefix("\ufeff")


def _load_toml(source: str) -> dict[str, object]:
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_ERROR_LINE.search(str(error))
        line = int(found[1]) if found else source.count("\n") + 1
        raise ScheduleImportError([RowProblem(line, BAD_TOML, str(error))]) from None


def _key_lines(lines: list[str], header_lines: list[int]) -> dict[tuple[int, str], int]:
    """Map (table header line, field) to the line where that field is set, so problems point at it."""
    found: dict[tuple[int, str], int] = {}
    for header in header_lines:
        for number in range(header + 1, len(lines) + 1):
            text = lines[number - 1]
            if _TABLE_HEADER.match(text):
                break
            name = text.split("=", 1)[0].strip().strip("\"'")
            if "=" in text and name in FIELDS:
                found.setdefault((header, name), number)
    return found


def _header_problems(header: list[str], line: int) -> list[RowProblem]:
    problems = [RowProblem(line, MISSING_COLUMN, name) for name in REQUIRED_FIELDS if name not in header]
    problems += [RowProblem(line, UNKNOWN_COLUMN, name) for name in header if name and name not in FIELDS]
    problems += [RowProblem(line, DUPLICATE_COLUMN, name) for name in FIELDS if header.count(name) > 1]
    return problems


FieldLine = Callable[[int, str], int]
"""Maps (row line, field name) to the line where that field is written."""


def _episodes(
    rows: Sequence[tuple[int, Mapping[str, object]]], zone: tzinfo, problems: list[RowProblem], *,
    field_line: FieldLine
) -> list[EpisodeSpec]:
    """Validate rows of raw values into episodes, or raise with ``problems`` plus every row's problems."""
    if not rows and not problems:
        raise ScheduleImportError([RowProblem(1, NO_ROWS)])
    readers: dict[str, Callable[[object], object]] = {
        "season": lambda value: _number("season", value, MAX_SEASON, SEASON_OUT_OF_RANGE),
        "episode": lambda value: _number("episode", value, MAX_EPISODE, EPISODE_OUT_OF_RANGE),
        "title": _title,
        "airs": lambda value: _airs(value, zone),
    }
    episodes: list[EpisodeSpec] = []
    first_line: dict[tuple[int, int], int] = {}
    for line, values in rows:
        fields: dict[str, Any] = {}
        row_problems: list[RowProblem] = []
        for name, read in readers.items():
            try:
                fields[name] = read(_present(values, name))
            except ScheduleValueError as error:
                row_problems.append(RowProblem(field_line(line, name), error.message_key, error.detail))
        season, number = fields.get("season"), fields.get("episode")
        if season is not None and number is not None:
            key = (season, number)
            episode_line = field_line(line, "episode")
            if key in first_line:
                detail = f"S{key[0]}E{key[1]} (first on line {first_line[key]})"
                row_problems.append(RowProblem(episode_line, DUPLICATE_EPISODE, detail))
            else:
                first_line[key] = episode_line
        if row_problems:
            problems.extend(row_problems)
        else:
            episodes.append(EpisodeSpec(fields["episode"], fields["title"], fields["airs"], season=fields["season"]))
    if problems:
        raise ScheduleImportError(problems)
    return sorted(episodes, key=lambda episode: episode.key)


def _present(values: Mapping[str, object], name: str) -> object | None:
    value = values.get(name)
    if isinstance(value, str):
        value = value.strip() or None
    return value


def _number(name: str, value: object | None, maximum: int, range_key: str) -> int:
    if value is None:
        raise ScheduleValueError(MISSING_VALUE, name)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScheduleValueError(BAD_NUMBER, f"{name}: {value}")
    if not 1 <= value <= maximum:
        raise ScheduleValueError(range_key, f"{name}: {value} (1-{maximum})")
    return value


def _title(value: object | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScheduleValueError(BAD_VALUE, f"title: {value}")
    title = " ".join(value.split())
    if len(title) > MAX_TITLE_LENGTH:
        raise ScheduleValueError(TITLE_TOO_LONG, f"{len(title)} > {MAX_TITLE_LENGTH}")
    return title


def _airs(value: object | None, zone: tzinfo) -> datetime:
    if value is None:
        raise ScheduleValueError(MISSING_VALUE, "airs")
    if isinstance(value, str):
        return parse_air_time(value, default_zone=zone)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else local_to_utc(value, zone)
    if isinstance(value, date | time):
        raise ScheduleValueError(BAD_DATE, f"{value.isoformat()} (needs both a date and a time of day)")
    raise ScheduleValueError(BAD_DATE, str(value))
