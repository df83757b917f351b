from datetime import UTC, datetime

import pytest

from bot.domain import episodes
from bot.domain.episode_models import EpisodeSpec, is_beyond_progress, spoiler_warning_due


@pytest.mark.parametrize(
    ("season", "episode", "progress", "beyond"),
    [
        (1, 1, None, True),  # nothing recorded: every episode asks first
        (1, 3, (1, 3), False),
        (1, 2, (1, 3), False),
        (1, 4, (1, 3), True),
        (2, 1, (1, 8), True),
        (1, 8, (2, 1), False),
        (2, 1, [2, 1], False),  # progress read back from storage as a list
    ],
)
def test_is_beyond_progress(season, episode, progress, beyond):
    assert is_beyond_progress(season, episode, progress) is beyond


def test_episode_key_orders_by_season_then_episode():
    at = datetime(2025, 1, 24, tzinfo=UTC)
    specs = [EpisodeSpec(1, None, at, season=2), EpisodeSpec(10, None, at), EpisodeSpec(2, None, at)]
    assert [spec.key for spec in sorted(specs, key=lambda spec: spec.key)] == [(1, 2), (1, 10), (2, 1)]


def test_facade_exports_exist():
    assert all(hasattr(episodes, name) for name in episodes.__all__)


@pytest.mark.parametrize(
    ("mode", "progress", "warned"),
    [
        ("tracked", None, False),  # fans who never recorded progress are not asked
        ("tracked", (1, 2), True),
        ("tracked", (1, 3), False),
        ("everyone", None, True),
        ("everyone", (1, 3), False),
        ("off", None, False),
        ("off", (1, 1), False),
    ],
)
def test_spoiler_warning_follows_the_servers_mode(mode, progress, warned):
    assert spoiler_warning_due(mode, 1, 3, progress) is warned


def test_unknown_spoiler_mode_is_refused():
    with pytest.raises(ValueError):
        spoiler_warning_due("sometimes", 1, 1, None)
