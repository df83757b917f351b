from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timezones import (
    POPULAR_ZONES,
    UnknownTimezone,
    all_zone_names,
    localize,
    resolve_timezone,
    stored_zone,
    timezone_choices,
)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Asia/Seoul", "Asia/Seoul"),
        ("asia/seoul", "Asia/Seoul"),
        ("  AMERICA/NEW_YORK ", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("UTC", "UTC"),
        ("KST", "Asia/Seoul"),
        ("kst", "Asia/Seoul"),
        ("JST", "Asia/Tokyo"),
        ("PST", "America/Los_Angeles"),
        ("PDT", "America/Los_Angeles"),
        ("PT", "America/Los_Angeles"),
        ("EST", "America/New_York"),
        ("EDT", "America/New_York"),
        ("ET", "America/New_York"),
        ("CST", "America/Chicago"),
        ("CDT", "America/Chicago"),
        ("MST", "America/Denver"),
        ("CET", "Europe/Paris"),
        ("CEST", "Europe/Paris"),
        ("GMT", "UTC"),
        ("BST", "Europe/London"),
        ("IST", "Asia/Kolkata"),
        ("SGT", "Asia/Singapore"),
        ("PHT", "Asia/Manila"),
        ("WIB", "Asia/Jakarta"),
        ("ICT", "Asia/Bangkok"),
        ("AEST", "Australia/Sydney"),
        ("HKT", "Asia/Hong_Kong"),
        ("한국", "Asia/Seoul"),
        ("서울", "Asia/Seoul"),
        ("한국시간", "Asia/Seoul"),
        ("Seoul", "Asia/Seoul"),  # a unique city name
        ("new york", "America/New_York"),
    ],
)
def test_resolve(text: str, name: str) -> None:
    resolved = resolve_timezone(text)
    assert resolved.name == name
    assert resolved.zone == ZoneInfo(name)


def test_abbreviation_is_reported() -> None:
    resolved = resolve_timezone("pst")
    assert resolved.abbreviation == "PST"
    assert resolve_timezone("Asia/Seoul").abbreviation is None


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("Asia/Seol", "Asia/Seoul"), ("seol", "Asia/Seoul"), ("America/New_Yrok", "America/New_York"),
     ("Europe/Pari", "Europe/Paris"), ("tokio", "Asia/Tokyo")],
)
def test_unknown_has_suggestions(text: str, suggestion: str) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        resolve_timezone(text)
    assert suggestion in caught.value.suggestions
    assert len(caught.value.suggestions) <= 5
    assert caught.value.text == text


@pytest.mark.parametrize("text", ["", "   ", "Mars/Olympus_Mons", "XYZ"])
def test_unknown(text: str) -> None:
    with pytest.raises(UnknownTimezone):
        resolve_timezone(text)


def test_zone_names_are_read_once_and_exclude_posix_copies() -> None:
    assert all_zone_names() is all_zone_names()
    assert "Asia/Seoul" in all_zone_names()
    assert not any(name.startswith(("posix/", "right/")) for name in all_zone_names())


@pytest.mark.parametrize(
    ("prefix", "expected_first", "must_contain"),
    [
        ("", "Asia/Seoul", "America/New_York"),
        ("seo", "Asia/Seoul", "Asia/Seoul"),
        ("Seoul", "Asia/Seoul", "Asia/Seoul"),
        ("asia/se", "Asia/Seoul", "Asia/Seoul"),
        ("kst", "Asia/Seoul", "Asia/Seoul"),
        ("pst", "America/Los_Angeles", "America/Los_Angeles"),
        ("new", "America/New_York", "America/North_Dakota/New_Salem"),  # matches a path part, popular first
        ("york", "America/New_York", "America/New_York"),
        ("europe", "Europe/London", "Europe/Amsterdam"),
        ("한국", "Asia/Seoul", "Asia/Seoul"),
    ],
)
def test_choices(prefix: str, expected_first: str, must_contain: str) -> None:
    choices = timezone_choices(prefix)
    assert choices[0] == expected_first
    assert must_contain in choices
    assert len(choices) == len(set(choices)) <= 25
    assert all(choice in all_zone_names() for choice in choices)


def test_choices_limit_and_popular_default() -> None:
    assert timezone_choices("", limit=3) == list(POPULAR_ZONES[:3])
    assert len(timezone_choices("a", limit=10)) == 10
    assert timezone_choices("zzzz") == []


@pytest.mark.parametrize(
    ("wall", "zone", "expected_offset_hours", "expected_wall"),
    [
        (datetime(2026, 7, 1, 20, 0), "America/New_York", -4, (7, 1, 20, 0)),
        (datetime(2026, 12, 1, 20, 0), "America/New_York", -5, (12, 1, 20, 0)),
        (datetime(2026, 11, 1, 1, 30), "America/New_York", -4, (11, 1, 1, 30)),  # occurs twice: first one
        (datetime(2027, 3, 14, 2, 30), "America/New_York", -4, (3, 14, 3, 30)),  # does not exist: forward
        (datetime(2027, 3, 28, 2, 30), "Europe/Paris", 2, (3, 28, 3, 30)),
        (datetime(2026, 12, 5, 20, 0), "Asia/Seoul", 9, (12, 5, 20, 0)),
    ],
)
def test_localize(
    wall: datetime, zone: str, expected_offset_hours: int, expected_wall: tuple[int, int, int, int]
) -> None:
    aware = localize(wall, ZoneInfo(zone))
    assert aware.utcoffset() == timedelta(hours=expected_offset_hours)
    assert (aware.month, aware.day, aware.hour, aware.minute) == expected_wall


def test_localize_refuses_aware() -> None:
    with pytest.raises(ValueError, match="naive"):
        localize(datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")), ZoneInfo("Asia/Seoul"))


@pytest.mark.parametrize(("name", "offset"), [
    ("Asia/Seoul", timedelta(hours=9)),
    ("UTC", timedelta(0)),
    ("UTC+09:00", timedelta(hours=9)),
    ("UTC-05:30", -timedelta(hours=5, minutes=30)),
])
def test_stored_zone_reads_back_the_names_parse_when_reports(name: str, offset: timedelta) -> None:
    assert stored_zone(name).utcoffset(datetime(2026, 1, 15, tzinfo=UTC)) == offset


def test_stored_zone_refuses_an_unknown_name() -> None:
    with pytest.raises(UnknownTimezone):
        stored_zone("Mars/Base")
