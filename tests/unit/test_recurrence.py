from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.recurrence import weekly_occurrences

NEW_YORK = ZoneInfo("America/New_York")
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(
    ("first_local", "count", "expected_utc"),
    [
        # autumn: 20:00 EDT (UTC-4) on 2026-10-24, then 20:00 EST (UTC-5) after 2026-11-01
        (
            datetime(2026, 10, 24, 20, 0, tzinfo=NEW_YORK),
            3,
            [datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
             datetime(2026, 11, 8, 1, 0, tzinfo=UTC)],
        ),
        # spring: 20:00 EST on Saturdays 03-06 and 03-13, 20:00 EDT from 03-20 (clocks change 03-14)
        (
            datetime(2027, 3, 6, 20, 0, tzinfo=NEW_YORK),
            3,
            [datetime(2027, 3, 7, 1, 0, tzinfo=UTC), datetime(2027, 3, 14, 1, 0, tzinfo=UTC),
             datetime(2027, 3, 21, 0, 0, tzinfo=UTC)],
        ),
        # no DST in Seoul: exactly a week apart in UTC too
        (
            datetime(2026, 12, 5, 20, 0, tzinfo=SEOUL),
            2,
            [datetime(2026, 12, 5, 11, 0, tzinfo=UTC), datetime(2026, 12, 12, 11, 0, tzinfo=UTC)],
        ),
        # across the end of the year
        (
            datetime(2026, 12, 26, 21, 0, tzinfo=SEOUL),
            2,
            [datetime(2026, 12, 26, 12, 0, tzinfo=UTC), datetime(2027, 1, 2, 12, 0, tzinfo=UTC)],
        ),
    ],
)
def test_weekly_occurrences(first_local: datetime, count: int, expected_utc: list[datetime]) -> None:
    occurrences = weekly_occurrences(first_local, count)
    assert occurrences == expected_utc
    assert all(moment.tzinfo is UTC for moment in occurrences)


@pytest.mark.parametrize("first_local", [datetime(2026, 10, 17, 20, 0, tzinfo=NEW_YORK),
                                         datetime(2027, 2, 27, 20, 0, tzinfo=NEW_YORK)])
def test_local_wall_time_is_kept_for_ten_weeks(first_local: datetime) -> None:
    occurrences = weekly_occurrences(first_local, 10)
    offsets = set()
    for week, moment in enumerate(occurrences):
        shown = moment.astimezone(NEW_YORK)
        assert (shown.hour, shown.minute, shown.weekday()) == (20, 0, first_local.weekday())
        assert shown.date() == first_local.date() + timedelta(weeks=week)
        offsets.add(shown.utcoffset())
    assert offsets == {timedelta(hours=-4), timedelta(hours=-5)}  # the series really crossed a change


def test_nonexistent_time_moves_forward_by_the_gap() -> None:
    occurrences = weekly_occurrences(datetime(2027, 3, 7, 2, 30, tzinfo=NEW_YORK), 3)
    shown = [moment.astimezone(NEW_YORK) for moment in occurrences]
    assert [(m.day, m.hour, m.minute) for m in shown] == [(7, 2, 30), (14, 3, 30), (21, 2, 30)]


def test_repeated_time_takes_the_first_occurrence() -> None:
    occurrences = weekly_occurrences(datetime(2026, 10, 25, 1, 30, tzinfo=NEW_YORK), 2)
    assert occurrences[1] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not the later 01:30 EST


@pytest.mark.parametrize(("count", "length"), [(0, 0), (1, 1), (52, 52)])
def test_count(count: int, length: int) -> None:
    assert len(weekly_occurrences(datetime(2026, 12, 5, 20, tzinfo=SEOUL), count)) == length


def test_first_is_kept_exactly() -> None:
    second_one_thirty = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)
    assert weekly_occurrences(second_one_thirty, 1) == [datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]


@pytest.mark.parametrize(("first_local", "count"), [(datetime(2026, 12, 5, 20), 2),
                                                    (datetime(2026, 12, 5, 20, tzinfo=SEOUL), -1)])
def test_bad_input(first_local: datetime, count: int) -> None:
    with pytest.raises(ValueError):
        weekly_occurrences(first_local, count)
