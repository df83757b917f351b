"""Reminder offsets ("1d 1h 10m 0"), the plan of reminders for one party, and the rule for overdue reminders.

Overdue rule (`classify_reminder`), for a reminder that has not been sent, checked at start-up or whenever a job
runs later than planned:
- "future": fire_at is after now -> schedule it for fire_at.
- "late": now is at or after fire_at, at most `grace` after it, and the reminder still makes sense -> send it now;
  the message says it is late when now - fire_at exceeds ON_TIME (a job that fired on time is not "late" to the
  member; see `is_late_notice`).
- "skip": more than `grace` after fire_at, or (when starts_at is given) a reminder before the start
  (offset > 0) once the party has started, or (when ends_at is given) any reminder once the party has ended
  -> never sent; record it as skipped so it is not considered again.
  The at-start reminder (offset 0) may still go out within the grace window after the start, unless the party
  (shorter than the grace window) is already over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_OFFSETS",
    "MAX_OFFSET",
    "MAX_OFFSETS",
    "ON_TIME",
    "OffsetsError",
    "PlannedReminder",
    "ReminderStatus",
    "classify_reminder",
    "format_offsets",
    "is_late_notice",
    "parse_offsets",
    "reminder_job_id",
    "reminder_plan",
]

DEFAULT_OFFSETS = "1d 1h 10m 0"
MAX_OFFSETS = 10
MAX_OFFSET = timedelta(days=30)
DEFAULT_GRACE = timedelta(minutes=15)
ON_TIME = timedelta(minutes=1)

ReminderStatus = Literal["future", "late", "skip"]

_UNIT_MINUTES = {"d": 1440, "일": 1440, "h": 60, "시간": 60, "m": 1, "분": 1}
_PIECE_RE = re.compile(r"(\d+)(d|h|m|일|시간|분)", re.IGNORECASE)
_TOKEN_RE = re.compile(rf"(?:{_PIECE_RE.pattern})+", re.IGNORECASE)
_SEPARATORS_RE = re.compile(r"[\s,]+")


class OffsetsError(ValueError):
    """`token` is the offending piece of input; `code` is "invalid", "too_many" or "too_large"."""

    def __init__(self, token: str, code: str = "invalid") -> None:
        super().__init__(f"{code}: {token!r}")
        self.token = token
        self.code = code


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    offset: timedelta
    fire_at: datetime


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """Parse space- or comma-separated offsets: "1d", "1h30m", "10m", "0", "1일", "1시간30분", "10분".

    Duplicates are dropped; the result is sorted largest first. Raises OffsetsError for a bad token, more than
    MAX_OFFSETS distinct offsets, or one longer than MAX_OFFSET. Empty input is an error ("" token).
    """
    tokens = [token for token in _SEPARATORS_RE.split(text.strip()) if token]
    if not tokens:
        raise OffsetsError("")
    offsets: set[timedelta] = set()
    for token in tokens:
        offset = _parse_token(token)
        if offset > MAX_OFFSET:
            raise OffsetsError(token, "too_large")
        offsets.add(offset)
        if len(offsets) > MAX_OFFSETS:
            raise OffsetsError(token, "too_many")
    return tuple(sorted(offsets, reverse=True))


def _parse_token(token: str) -> timedelta:
    if token.isascii() and token.isdigit():
        if int(token) != 0:
            raise OffsetsError(token)  # a bare number other than 0 has no unit
        return timedelta(0)
    if not _TOKEN_RE.fullmatch(token):
        raise OffsetsError(token)
    minutes = sum(int(amount) * _UNIT_MINUTES[unit.lower()] for amount, unit in _PIECE_RE.findall(token))
    return timedelta(minutes=minutes)


def format_offsets(offsets: Iterable[timedelta]) -> str:
    """Canonical text for offsets, largest first: (1 day, 90 minutes, 0) -> "1d 1h30m 0"."""
    parts = []
    for offset in sorted(set(offsets), reverse=True):
        minutes, rest = divmod(int(offset.total_seconds()), 60)
        if rest or minutes < 0:
            raise ValueError(f"offsets are whole, non-negative minutes: {offset!r}")
        if minutes == 0:
            parts.append("0")
            continue
        days, minutes = divmod(minutes, 1440)
        hours, minutes = divmod(minutes, 60)
        parts.append("".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n))
    return " ".join(parts)


def reminder_plan(starts_at: datetime, offsets: Iterable[timedelta], now: datetime) -> list[PlannedReminder]:
    """Reminders still to come for a party starting at `starts_at`: fire_at = starts_at - offset, keeping only
    those with fire_at after `now` (a party created 30 minutes ahead gets no "1 day before" reminder), earliest
    first."""
    if starts_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("starts_at and now must be timezone-aware")
    planned = [PlannedReminder(offset, starts_at - offset) for offset in set(offsets)]
    return sorted((p for p in planned if p.fire_at > now), key=lambda p: p.fire_at)


def classify_reminder(
    fire_at: datetime,
    now: datetime,
    grace: timedelta,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> ReminderStatus:
    """Apply the overdue rule in the module docstring."""
    if now < fire_at:
        return "future"
    if now - fire_at > grace:
        return "skip"
    if starts_at is not None and fire_at < starts_at <= now:
        return "skip"
    if ends_at is not None and now >= ends_at:
        return "skip"
    return "late"


def is_late_notice(fire_at: datetime, now: datetime) -> bool:
    """Whether a reminder sent at `now` should say it is late (more than ON_TIME after its fire time)."""
    return now - fire_at > ON_TIME


def reminder_job_id(party_id: int, offset: timedelta) -> str:
    """Deterministic scheduler job id: party 42, 1 hour -> "party:42:remind:3600"."""
    return f"party:{party_id}:remind:{int(offset.total_seconds())}"
