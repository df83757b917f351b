from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.episode_models import EpisodeSpec, ReleasePace
from bot.domain.episode_presets import load_preset
from bot.domain.episode_release import thread_open_times

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SEOUL = ZoneInfo("Asia/Seoul")
RELEASE = datetime(2025, 1, 24, 8, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def binge(count: int, airs_at: datetime) -> list[EpisodeSpec]:
    return [EpisodeSpec(number, None, airs_at) for number in range(1, count + 1)]


def open_times(*args, **kwargs) -> list[tuple[int, datetime]]:
    return [(episode.number, at) for episode, at in thread_open_times(*args, **kwargs)]


def test_trauma_code_binge_opens_every_thread_at_release():
    season = load_preset("trauma-code").seasons[0]
    assert open_times(season.episodes, season.release_pace) == [(n, RELEASE) for n in range(1, 9)]


def test_trauma_code_daily_opens_one_a_day_at_17_kst():
    season = load_preset("trauma-code").seasons[0]
    assert open_times(season.episodes, "daily", zone=SEOUL) == [
        (n, RELEASE + timedelta(days=n - 1)) for n in range(1, 9)
    ]


@pytest.mark.parametrize(
    ("release_local", "zone", "expected_utc"),
    [
        # New York springs forward on 2025-03-09: 20:00 local stays 20:00, so UTC moves an hour earlier
        (
            datetime(2025, 3, 7, 20, 0, tzinfo=NEW_YORK),
            None,
            [utc(2025, 3, 8, 1), utc(2025, 3, 9, 1), utc(2025, 3, 10, 0), utc(2025, 3, 11, 0)],
        ),
        # London falls back on 2025-10-26: 21:00 local stays 21:00, so UTC moves an hour later
        (
            datetime(2025, 10, 25, 21, 0, tzinfo=LONDON),
            None,
            [utc(2025, 10, 25, 20), utc(2025, 10, 26, 21), utc(2025, 10, 27, 21), utc(2025, 10, 28, 21)],
        ),
        # release given in UTC, days counted in the server's zone
        (
            utc(2025, 3, 8, 1),
            NEW_YORK,
            [utc(2025, 3, 8, 1), utc(2025, 3, 9, 1), utc(2025, 3, 10, 0), utc(2025, 3, 11, 0)],
        ),
        # 02:30 does not exist in New York on 2025-03-09: that day's thread opens at 03:30 EDT instead
        (
            datetime(2025, 3, 8, 2, 30, tzinfo=NEW_YORK),
            None,
            [utc(2025, 3, 8, 7, 30), utc(2025, 3, 9, 7, 30), utc(2025, 3, 10, 6, 30), utc(2025, 3, 11, 6, 30)],
        ),
        # Seoul has no DST: exactly 24 hours apart
        (
            datetime(2025, 3, 7, 20, 0, tzinfo=SEOUL),
            None,
            [utc(2025, 3, 7, 11), utc(2025, 3, 8, 11), utc(2025, 3, 9, 11), utc(2025, 3, 10, 11)],
        ),
    ],
)
def test_daily_pace_keeps_the_local_hour_across_dst(release_local, zone, expected_utc):
    episodes = binge(4, datetime(2025, 1, 1, tzinfo=UTC))
    result = open_times(episodes, ReleasePace.DAILY, release_local, zone=zone)
    assert result == list(enumerate(expected_utc, start=1))
    assert all(at.tzinfo is UTC for _, at in result)


def test_on_air_opens_each_at_its_own_air_time_in_episode_order():
    episodes = [
        EpisodeSpec(2, None, utc(2025, 2, 7, 12)),
        EpisodeSpec(1, "one", utc(2025, 2, 1, 12)),
        EpisodeSpec(1, None, utc(2025, 9, 1, 12), season=2),
    ]
    assert [(e.key, at) for e, at in thread_open_times(episodes, "on_air", RELEASE)] == [
        ((1, 1), utc(2025, 2, 1, 12)),
        ((1, 2), utc(2025, 2, 7, 12)),
        ((2, 1), utc(2025, 9, 1, 12)),
    ]


@pytest.mark.parametrize(
    ("pace", "release_at", "expected"),
    [
        # a later release moves every thread
        ("all_at_once", utc(2025, 2, 1), [(1, utc(2025, 2, 1)), (2, utc(2025, 2, 1)), (3, utc(2025, 2, 1))]),
        # no thread opens before its episode airs (episode 3 airs a week later)
        ("all_at_once", utc(2025, 1, 24), [(1, utc(2025, 1, 24)), (2, utc(2025, 1, 24)), (3, utc(2025, 1, 31))]),
        ("daily", utc(2025, 1, 24), [(1, utc(2025, 1, 24)), (2, utc(2025, 1, 25)), (3, utc(2025, 1, 31))]),
        # default release: the earliest air time
        ("all_at_once", None, [(1, utc(2025, 1, 24)), (2, utc(2025, 1, 24)), (3, utc(2025, 1, 31))]),
    ],
)
def test_release_at_and_air_times_combine(pace, release_at, expected):
    episodes = [*binge(2, utc(2025, 1, 24)), EpisodeSpec(3, None, utc(2025, 1, 31))]
    assert open_times(episodes, pace, release_at) == expected


def test_no_episodes_no_threads():
    assert thread_open_times([], "daily") == []


@pytest.mark.parametrize(
    ("pace", "release_at"),
    [("weekly", RELEASE), ("daily", datetime(2025, 1, 24, 17, 0))],  # naive on purpose
)
def test_bad_pace_or_naive_release_is_refused(pace, release_at):
    with pytest.raises(ValueError, match=r"weekly|aware"):
        thread_open_times(binge(2, RELEASE), pace, release_at)
