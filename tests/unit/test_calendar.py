from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.domain.calendar import PRODID, CalendarEvent, build_ics, party_uid

SEOUL = ZoneInfo("Asia/Seoul")
STAMP = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
PARTY = CalendarEvent(
    uid=party_uid(42),
    title="중증외상센터 1화 같이 보기",
    description="Trauma Code: Heroes on Call, episode 1; bring snacks, 간식",
    starts_at=datetime(2026, 12, 5, 20, 0, tzinfo=SEOUL),
    ends_at=datetime(2026, 12, 5, 21, 30, tzinfo=SEOUL),
    location="#watch-party 🎬",
    url="https://discord.com/channels/1/2/3",
)


def events(data: bytes) -> list:
    return Calendar.from_ical(data).walk("VEVENT")


def test_calendar_header() -> None:
    calendar = Calendar.from_ical(build_ics([PARTY], calendar_name="Code Blue 파티", stamp=STAMP))
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == "Code Blue 파티"


def test_event_fields_round_trip() -> None:
    [event] = events(build_ics([PARTY], calendar_name="Code Blue", stamp=STAMP))
    assert str(event["UID"]) == "party-42@codeblue"
    assert str(event["SUMMARY"]) == PARTY.title
    assert str(event["DESCRIPTION"]) == PARTY.description
    assert str(event["LOCATION"]) == PARTY.location
    assert str(event["URL"]) == PARTY.url
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 5, 12, 30, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == STAMP


def test_times_are_written_in_utc() -> None:
    text = build_ics([PARTY], calendar_name="Code Blue", stamp=STAMP).decode()
    assert "DTSTART:20261205T110000Z" in text
    assert "DTEND:20261205T123000Z" in text
    assert "\r\n" in text  # RFC 5545 line endings


def test_cancelled_event() -> None:
    cancelled = replace(PARTY, cancelled=True, sequence=2)
    [event] = events(build_ics([cancelled], calendar_name="Code Blue", stamp=STAMP))
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 2


def test_optional_fields_are_left_out() -> None:
    bare = CalendarEvent(party_uid(7), "Ep 2", None, PARTY.starts_at, PARTY.ends_at)
    [event] = events(build_ics([bare], calendar_name="Code Blue", stamp=STAMP))
    for name in ("DESCRIPTION", "LOCATION", "URL"):
        assert name not in event


def test_many_events_keep_their_uids_and_order() -> None:
    parties = [
        CalendarEvent(party_uid(n), f"Episode {n}", None, PARTY.starts_at + timedelta(weeks=n),
                      PARTY.ends_at + timedelta(weeks=n))
        for n in range(1, 9)
    ]
    parsed = events(build_ics(parties, calendar_name="Code Blue", stamp=STAMP))
    assert [str(e["UID"]) for e in parsed] == [f"party-{n}@codeblue" for n in range(1, 9)]
    assert [str(e["SUMMARY"]) for e in parsed] == [f"Episode {n}" for n in range(1, 9)]


def test_empty_calendar_is_valid() -> None:
    calendar = Calendar.from_ical(build_ics([], calendar_name="Code Blue", stamp=STAMP))
    assert calendar.walk("VEVENT") == []


def test_uid_is_stable() -> None:
    first = events(build_ics([PARTY], calendar_name="a", stamp=STAMP))[0]["UID"]
    later = events(build_ics([PARTY], calendar_name="b", stamp=STAMP + timedelta(days=1)))[0]["UID"]
    assert first == later == party_uid(42)


def test_naive_times_are_refused() -> None:
    naive = CalendarEvent("x@codeblue", "x", None, datetime(2026, 12, 5, 20), datetime(2026, 12, 5, 21))
    with pytest.raises(ValueError, match="aware"):
        build_ics([naive], calendar_name="Code Blue")
