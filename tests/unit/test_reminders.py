from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.reminders import (
    DEFAULT_OFFSETS,
    MAX_OFFSETS,
    OffsetsError,
    PlannedReminder,
    classify_reminder,
    format_offsets,
    is_late_notice,
    parse_offsets,
    reminder_job_id,
    reminder_plan,
)

D, H, M = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
ZERO = timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d 1h 10m 0", (D, H, 10 * M, ZERO)),
        ("0 10m 1h 1d", (D, H, 10 * M, ZERO)),  # sorted largest first
        ("1h 60m 1h", (H,)),  # duplicates removed, also when written differently
        ("1h30m", (90 * M,)),
        ("1d2h5m", (D + 2 * H + 5 * M,)),
        ("90m, 2h", (2 * H, 90 * M)),
        ("1H 10M", (H, 10 * M)),
        ("1일 1시간 10분 0", (D, H, 10 * M, ZERO)),
        ("1시간30분", (90 * M,)),
        ("0", (ZERO,)),
        ("00", (ZERO,)),
        ("30d", (30 * D,)),
        ("  10m\t5m  ", (10 * M, 5 * M)),
    ],
)
def test_parse_offsets(text: str, expected: tuple[timedelta, ...]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize(
    ("text", "token", "code"),
    [
        ("", "", "invalid"),
        ("1d 1x", "1x", "invalid"),
        ("5", "5", "invalid"),  # a number without a unit
        ("-1h", "-1h", "invalid"),
        ("1.5h", "1.5h", "invalid"),
        ("h", "h", "invalid"),
        ("1h 10m abc", "abc", "invalid"),
        ("31d", "31d", "too_large"),
        ("30d1m", "30d1m", "too_large"),
        (" ".join(f"{n}m" for n in range(1, 12)), "11m", "too_many"),
    ],
)
def test_parse_offsets_refuses(text: str, token: str, code: str) -> None:
    with pytest.raises(OffsetsError) as caught:
        parse_offsets(text)
    assert (caught.value.token, caught.value.code) == (token, code)


def test_max_offsets_counts_distinct_values() -> None:
    ten = " ".join(f"{n}m" for n in range(1, MAX_OFFSETS + 1))
    assert len(parse_offsets(ten + " 1m 10m 5m")) == MAX_OFFSETS  # repeats do not count twice


@pytest.mark.parametrize(
    ("offsets", "text"),
    [
        ((D, H, 10 * M, ZERO), "1d 1h 10m 0"),
        ((ZERO, 90 * M), "1h30m 0"),
        ((D + 2 * H + 5 * M,), "1d2h5m"),
        ((2 * D,), "2d"),
        ((), ""),
    ],
)
def test_format_offsets(offsets: tuple[timedelta, ...], text: str) -> None:
    assert format_offsets(offsets) == text


@pytest.mark.parametrize("text", [DEFAULT_OFFSETS, "1h30m 0", "2d 45m", "1일 1시간30분"])
def test_round_trip(text: str) -> None:
    parsed = parse_offsets(text)
    assert parse_offsets(format_offsets(parsed)) == parsed


def test_default_is_canonical() -> None:
    assert format_offsets(parse_offsets(DEFAULT_OFFSETS)) == DEFAULT_OFFSETS


def test_format_refuses_seconds() -> None:
    with pytest.raises(ValueError, match="whole"):
        format_offsets([timedelta(seconds=90)])


START = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
DEFAULTS = parse_offsets(DEFAULT_OFFSETS)


@pytest.mark.parametrize(
    ("now", "expected_offsets"),
    [
        (START - 2 * D, (D, H, 10 * M, ZERO)),
        (START - 30 * M, (10 * M, ZERO)),  # created late: the 1d and 1h reminders are not planned
        (START - H, (10 * M, ZERO)),  # fire_at == now is not in the future
        (START - 5 * M, (ZERO,)),
        (START, ()),
        (START + H, ()),
    ],
)
def test_reminder_plan(now: datetime, expected_offsets: tuple[timedelta, ...]) -> None:
    plan = reminder_plan(START, DEFAULTS, now)
    assert tuple(p.offset for p in plan) == expected_offsets
    assert all(p == PlannedReminder(p.offset, START - p.offset) for p in plan)
    assert [p.fire_at for p in plan] == sorted(p.fire_at for p in plan)


def test_reminder_plan_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        reminder_plan(START.replace(tzinfo=None), DEFAULTS, START)


GRACE = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("offset", "now", "status"),
    [
        (H, START - 2 * H, "future"),
        (H, START - H - timedelta(seconds=1), "future"),
        (H, START - H, "late"),  # exactly at fire time: send now
        (H, START - H + 10 * M, "late"),  # within grace
        (H, START - H + GRACE, "late"),  # the edge of the window is still in
        (H, START - H + GRACE + timedelta(seconds=1), "skip"),
        (10 * M, START - 5 * M, "late"),
        (10 * M, START, "skip"),  # the party started: "starts in 10 minutes" would be wrong
        (10 * M, START + M, "skip"),
        (ZERO, START + 5 * M, "late"),  # the at-start reminder may be late within grace
        (ZERO, START + GRACE + M, "skip"),
        (D, START - 20 * H, "skip"),  # bot was down for hours
    ],
)
def test_classify_reminder(offset: timedelta, now: datetime, status: str) -> None:
    assert classify_reminder(START - offset, now, GRACE, starts_at=START) == status


@pytest.mark.parametrize(
    ("duration", "now", "status"),
    [
        (10 * M, START + 5 * M, "late"),  # a 10-minute party still on: "starting now (late)" is still useful
        (10 * M, START + 10 * M, "skip"),  # it has ended (within the 15-minute grace): nothing to remind of
        (10 * M, START + 12 * M, "skip"),
        (5 * M, START + 5 * M + timedelta(seconds=1), "skip"),
        (H, START + 12 * M, "late"),  # a longer party is still on
    ],
)
def test_classify_skips_a_party_that_already_ended(duration: timedelta, now: datetime, status: str) -> None:
    assert classify_reminder(START, now, GRACE, starts_at=START, ends_at=START + duration) == status


def test_classify_without_start_uses_grace_only() -> None:
    fire_at = START - 10 * M
    assert classify_reminder(fire_at, START + M, GRACE) == "late"
    assert classify_reminder(fire_at, START + 6 * M, GRACE) == "skip"


@pytest.mark.parametrize(
    ("delay", "late"), [(ZERO, False), (timedelta(seconds=59), False), (timedelta(seconds=61), True)]
)
def test_is_late_notice(delay: timedelta, late: bool) -> None:
    assert is_late_notice(START, START + delay) is late


@pytest.mark.parametrize(
    ("party_id", "offset", "job_id"),
    [(42, H, "party:42:remind:3600"), (42, ZERO, "party:42:remind:0"), (7, D, "party:7:remind:86400"),
     (1, 90 * M, "party:1:remind:5400")],
)
def test_reminder_job_id(party_id: int, offset: timedelta, job_id: str) -> None:
    assert reminder_job_id(party_id, offset) == job_id
