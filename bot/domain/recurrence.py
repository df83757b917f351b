"""Weekly repeats that keep the local wall-clock time across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.timezones import localize

__all__ = ["weekly_occurrences"]


def weekly_occurrences(first_local: datetime, count: int) -> list[datetime]:
    """`count` weekly start times (aware, UTC), the first being `first_local` itself.

    Each week is the same local date-step and wall time in first_local's zone, so 20:00 America/New_York stays
    20:00 local on both sides of a DST change (the UTC instant moves by the hour instead). A wall time that does
    not exist on some week (spring-forward gap) moves forward by the gap: 02:30 -> 03:30 local.
    """
    zone = first_local.tzinfo
    if zone is None:
        raise ValueError("first_local must be timezone-aware")
    if count < 0:
        raise ValueError("count must not be negative")
    wall = first_local.replace(tzinfo=None)
    later = [localize(wall + timedelta(weeks=week), zone).astimezone(UTC) for week in range(1, count)]
    return [first_local.astimezone(UTC), *later] if count else []
