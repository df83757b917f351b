"""Time zone lookup: IANA names (any case), common abbreviations and a few Korean place words.

Abbreviations are not zones (PST is only half of Pacific time, CST means three different places), so each maps to
the zone people usually mean; the resolution keeps the `abbreviation` so that a caller can say which zone it chose.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

__all__ = [
    "ABBREVIATIONS",
    "POPULAR_ZONES",
    "UnknownTimezone",
    "ZoneResolution",
    "all_zone_names",
    "localize",
    "lookup_timezone",
    "resolve_timezone",
    "stored_zone",
    "timezone_choices",
]


@dataclass(frozen=True, slots=True)
class ZoneResolution:
    zone: ZoneInfo
    name: str
    abbreviation: str | None = None


class UnknownTimezone(ValueError):
    def __init__(self, text: str, suggestions: list[str]) -> None:
        super().__init__(f"unknown time zone {text!r}")
        self.text = text
        self.suggestions = suggestions


# abbreviation (upper case, or the Korean word as written) -> the IANA zone people usually mean by it
ABBREVIATIONS: dict[str, str] = {
    "KST": "Asia/Seoul",  # Korea Standard Time
    "JST": "Asia/Tokyo",  # Japan Standard Time
    "PST": "America/Los_Angeles",  # US Pacific time; it follows daylight saving (PDT in summer)
    "PDT": "America/Los_Angeles",  # US Pacific time; it follows daylight saving (PST in winter)
    "PT": "America/Los_Angeles",  # US Pacific time, with daylight saving
    "EST": "America/New_York",  # US Eastern time; it follows daylight saving (EDT in summer)
    "EDT": "America/New_York",  # US Eastern time; it follows daylight saving (EST in winter)
    "ET": "America/New_York",  # US Eastern time, with daylight saving
    "CST": "America/Chicago",  # US Central time with daylight saving; for China use Asia/Shanghai
    "CDT": "America/Chicago",  # US Central time; it follows daylight saving (CST in winter)
    "CT": "America/Chicago",  # US Central time, with daylight saving
    "MST": "America/Denver",  # US Mountain time with daylight saving; for Arizona use America/Phoenix
    "MDT": "America/Denver",  # US Mountain time; it follows daylight saving (MST in winter)
    "MT": "America/Denver",  # US Mountain time, with daylight saving
    "AKST": "America/Anchorage",  # Alaska time, with daylight saving
    "HST": "Pacific/Honolulu",  # Hawaii time
    "CET": "Europe/Paris",  # Central European time; it follows daylight saving (CEST in summer)
    "CEST": "Europe/Paris",  # Central European time; it follows daylight saving (CET in winter)
    "WET": "Europe/Lisbon",  # Western European time, with daylight saving
    "EET": "Europe/Athens",  # Eastern European time, with daylight saving
    "MSK": "Europe/Moscow",  # Moscow time
    "GMT": "UTC",  # GMT read as UTC; for UK time with summer time use Europe/London
    "UTC": "UTC",
    "Z": "UTC",
    "BST": "Europe/London",  # British Summer Time: UK time, GMT in winter
    "IST": "Asia/Kolkata",  # India Standard Time; for Israel use Asia/Jerusalem, for Ireland Europe/Dublin
    "PKT": "Asia/Karachi",  # Pakistan time
    "SGT": "Asia/Singapore",  # Singapore time
    "MYT": "Asia/Kuala_Lumpur",  # Malaysia time
    "PHT": "Asia/Manila",  # Philippine time
    "WIB": "Asia/Jakarta",  # Western Indonesia time
    "WITA": "Asia/Makassar",  # Central Indonesia time
    "WIT": "Asia/Jayapura",  # Eastern Indonesia time
    "ICT": "Asia/Bangkok",  # Indochina time
    "HKT": "Asia/Hong_Kong",  # Hong Kong time
    "AEST": "Australia/Sydney",  # Australian Eastern time; it follows daylight saving (AEDT in summer)
    "AEDT": "Australia/Sydney",  # Australian Eastern time; it follows daylight saving (AEST in winter)
    "AWST": "Australia/Perth",  # Australian Western time
    "NZST": "Pacific/Auckland",  # New Zealand time, with daylight saving
    "NZDT": "Pacific/Auckland",  # New Zealand time, with daylight saving
    "BRT": "America/Sao_Paulo",  # Brasília time
    "SAST": "Africa/Johannesburg",  # South Africa time
    "한국": "Asia/Seoul",  # Korea time
    "대한민국": "Asia/Seoul",  # Korea time
    "서울": "Asia/Seoul",  # Korea time
    "한국시간": "Asia/Seoul",  # Korea time
    "일본": "Asia/Tokyo",  # Japan time
    "도쿄": "Asia/Tokyo",  # Japan time
    "중국": "Asia/Shanghai",  # China time
    "대만": "Asia/Taipei",  # Taiwan time
    "홍콩": "Asia/Hong_Kong",  # Hong Kong time
    "뉴욕": "America/New_York",  # US Eastern time
    "런던": "Europe/London",  # UK time
    "파리": "Europe/Paris",  # Central European time
    "KOREA": "Asia/Seoul",  # Korea time
    "JAPAN": "Asia/Tokyo",  # Japan time
}

# Shown first when the autocomplete prefix is empty, roughly where the fandom lives.
POPULAR_ZONES: tuple[str, ...] = (
    "Asia/Seoul", "America/New_York", "America/Los_Angeles", "America/Chicago", "Europe/London", "Europe/Paris",
    "Europe/Berlin", "Asia/Tokyo", "Asia/Singapore", "Asia/Manila", "Asia/Jakarta", "Asia/Bangkok",
    "Asia/Ho_Chi_Minh", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "America/Mexico_City",
    "America/Toronto", "America/Denver", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Europe/Madrid",
    "Europe/Istanbul", "UTC",
)

_REGIONS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/")


@cache
def all_zone_names() -> frozenset[str]:
    """Every IANA name this system knows (read once; the set never changes while running)."""
    return frozenset(name for name in available_timezones() if not name.startswith(("posix/", "right/")))


@cache
def _by_lower() -> dict[str, str]:
    return {name.lower(): name for name in all_zone_names()}


@cache
def _canonical_names() -> tuple[str, ...]:
    """Region/City names plus UTC: what autocomplete offers (no legacy aliases like "US/Eastern" or "ROK")."""
    return (*sorted(n for n in all_zone_names() if n.startswith(_REGIONS)), "UTC")


@cache
def _by_city() -> dict[str, list[str]]:
    """Lower-case last path part ("seoul", "new york") -> canonical names ending in it."""
    cities: dict[str, list[str]] = {}
    for name in _canonical_names():
        city = name.rsplit("/", 1)[-1].lower()
        for key in {city, city.replace("_", " ")}:
            cities.setdefault(key, []).append(name)
    return cities


def resolve_timezone(text: str) -> ZoneResolution:
    """Read an IANA name (case-insensitive), an abbreviation, a Korean place word or a unique city name.

    Raises UnknownTimezone with up to five close IANA names as suggestions.
    """
    found = lookup_timezone(text)
    if found is None:
        raise UnknownTimezone(text, _suggestions(" ".join(text.split())))
    return found


def lookup_timezone(text: str) -> ZoneResolution | None:
    """Like resolve_timezone but returns None instead of computing suggestions (cheap enough to probe words)."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return None
    meant = ABBREVIATIONS.get(cleaned.upper()) or ABBREVIATIONS.get(cleaned.replace(" ", ""))
    if meant is not None:
        label = cleaned.upper() if cleaned.isascii() else cleaned
        return ZoneResolution(ZoneInfo(meant), meant, label)
    exact = _by_lower().get(cleaned.lower().replace(" ", "_"))
    if exact is not None:
        return ZoneResolution(ZoneInfo(exact), exact)
    by_city = _by_city().get(cleaned.lower())
    if by_city and len(by_city) == 1:
        return ZoneResolution(ZoneInfo(by_city[0]), by_city[0])
    return None


_FIXED_OFFSET_RE = re.compile(r"UTC(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2})")


def stored_zone(name: str) -> tzinfo:
    """The zone behind a name `parse_when` reported (`ParsedWhen.zone_name`, stored with a party): an IANA name or
    a fixed offset such as "UTC+09:00". Raises UnknownTimezone."""
    offset = _FIXED_OFFSET_RE.fullmatch(name)
    if offset is not None:
        delta = timedelta(hours=int(offset["hours"]), minutes=int(offset["minutes"]))
        return timezone(-delta if offset["sign"] == "-" else delta)
    return resolve_timezone(name).zone


def _suggestions(text: str, limit: int = 5) -> list[str]:
    lowered = text.lower().replace(" ", "_")
    canonical = {name.lower(): name for name in _canonical_names()}
    cities = difflib.get_close_matches(lowered.rsplit("/", 1)[-1], list(_by_city()), n=limit, cutoff=0.6)
    full = difflib.get_close_matches(lowered, list(canonical), n=limit, cutoff=0.6)
    found = [name for city in cities for name in _by_city()[city]]
    found.extend(canonical[match] for match in full)
    return list(dict.fromkeys(found))[:limit]


def timezone_choices(prefix: str, limit: int = 25) -> list[str]:
    """IANA names for autocomplete: abbreviation hits, then names with a path part starting with the prefix
    (popular zones first), then names containing it anywhere. An empty prefix gives the popular zones."""
    needle = prefix.strip().lower().replace(" ", "_")
    if not needle:
        return list(POPULAR_ZONES[:limit])
    ranked: list[str] = []
    for key, name in ABBREVIATIONS.items():
        if key.lower().startswith(needle) or key.startswith(prefix.strip()):
            ranked.append(name)
    popularity = {name: index for index, name in enumerate(POPULAR_ZONES)}
    part_hits = [n for n in _canonical_names() if any(p.startswith(needle) for p in n.lower().split("/"))]
    part_hits.sort(key=lambda n: (popularity.get(n, len(popularity)), n))
    ranked.extend(part_hits)
    ranked.extend(n for n in _canonical_names() if needle in n.lower())
    return list(dict.fromkeys(ranked))[:limit]


def localize(wall: datetime, zone: tzinfo) -> datetime:
    """Attach `zone` to a naive wall-clock time.

    A time that occurs twice (autumn fold) takes its first occurrence. A time that does not exist (spring gap)
    moves forward by the size of the gap: 02:30 on the New York spring-forward day becomes 03:30 EDT.
    """
    if wall.tzinfo is not None:
        raise ValueError("localize expects a naive wall-clock time")
    first = wall.replace(tzinfo=zone, fold=0)
    return first.astimezone(UTC).astimezone(zone)
