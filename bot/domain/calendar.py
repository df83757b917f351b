"""iCalendar (RFC 5545) files for watch parties, built with the icalendar library."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDuration

__all__ = ["PRODID", "CalendarEvent", "build_ics", "party_uid"]

PRODID = "-//Code Blue//Watch parties//EN"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    uid: str  # stable per party, see party_uid(); calendar apps use it to update instead of duplicating
    title: str
    description: str | None
    starts_at: datetime  # aware
    ends_at: datetime  # aware
    location: str | None = None
    url: str | None = None
    cancelled: bool = False
    sequence: int = 0  # bump on each edit so calendar apps take the newer copy
    last_modified: datetime | None = None  # also its DTSTAMP, so an unchanged event is byte-for-byte the same


def party_uid(party_id: int, domain: str = "codeblue") -> str:
    return f"party-{party_id}@{domain}"


def build_ics(events: Iterable[CalendarEvent], *, calendar_name: str, stamp: datetime | None = None,
              refresh: timedelta | None = None) -> bytes:
    """A VCALENDAR with one VEVENT per event, times in UTC.

    DTSTAMP is the event's `last_modified` if it has one, else `stamp` (default: the current time). `refresh`: how
    often subscribed calendar apps should fetch it again (REFRESH-INTERVAL and X-PUBLISHED-TTL).
    """
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", calendar_name)
    calendar.add("x-wr-calname", calendar_name)
    if refresh is not None:
        calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
    for item in events:
        if item.starts_at.tzinfo is None or item.ends_at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.last_modified.astimezone(UTC) if item.last_modified else stamp)
        if item.last_modified is not None:
            event.add("last-modified", item.last_modified.astimezone(UTC))
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", item.title)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.url:
            event.add("url", item.url)
        event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
        event.add("sequence", item.sequence)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
