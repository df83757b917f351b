"""Shows and episodes in the episode service: how members name episodes and shows, and imported schedules."""

from datetime import UTC, datetime

import pytest

from bot.domain.episodes import ScheduleImportError
from bot.errors import UserFacingError
from bot.services.episodes import (
    parse_episode_ref,
    show_key,
)
from tests.services import episode_service_env
from tests.services.episode_service_env import GUILD

env = episode_service_env.env  # the shared fixture


@pytest.mark.parametrize(("text", "expected"), [
    ("3", (None, 3)), ("E3", (None, 3)), ("ep 3", (None, 3)), ("S1E3", (1, 3)), ("s2 e10", (2, 10)),
    ("1x3", (1, 3)), ("season 2 episode 4", (2, 4)), ("three", None), ("", None), ("S1", None),
    ("S13", None),
])
def test_parse_episode_ref(text, expected):
    assert parse_episode_ref(text) == expected


@pytest.mark.parametrize(("title", "key"), [
    ("Trauma Code: Heroes on Call", "trauma-code-heroes-on-call"), ("중증외상센터", "중증외상센터"), ("!!!", "show"),
])
def test_show_key(title, key):
    assert show_key(title) == key


@pytest.mark.parametrize(("ref", "season", "key"), [
    ("9", None, "episodes.beyond_season"), ("S2E1", None, "episodes.unknown_season"), ("x", None,
                                                                                         "episodes.bad_episode"),
])
async def test_bad_episode_references(env, ref, season, key):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    with pytest.raises(UserFacingError) as error:
        await service.lookup.episode(show, ref, season)
    assert error.value.key == key


async def test_import_with_bad_rows_writes_nothing(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Imported", None, None, "on_air")
    csv = b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,two,,2026-04-02 21:00\n1,3,,yesterday\n"
    with pytest.raises(ScheduleImportError) as error:
        await service.schedules.import_schedule(show, "s1.csv", csv)
    assert [p.line for p in error.value.problems] == [3, 4]
    assert await service.lookup.episodes(show) == []
    good = b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,2,,2026-04-02 21:00 Asia/Seoul\n"
    assert await service.schedules.import_schedule(show, "s1.csv", good) == 2
    episodes = await service.lookup.episodes(show)
    assert [e.airs_at for e in episodes] == [datetime(2026, 4, 1, 21, 0, tzinfo=UTC),
                                              datetime(2026, 4, 2, 12, 0, tzinfo=UTC)]
