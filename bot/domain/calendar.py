"""iCalendar (RFC 5545) files for watch parties, built with the icalendar library."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event

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


def party_uid(party_id: int, domain: str = "codeblue") -> str:
    return f"party-{party_id}@{domain}"


def build_ics(events: Iterable[CalendarEvent], *, calendar_name: str, stamp: datetime | None = None) -> bytes:
    """A VCALENDAR with one VEVENT per event, times in UTC. `stamp` (DTSTAMP) defaults to the current time."""
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", calendar_name)
    calendar.add("x-wr-calname", calendar_name)
    for item in events:
        if item.starts_at.tzinfo is None or item.ends_at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
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
