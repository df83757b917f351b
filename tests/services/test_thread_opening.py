"""Episode threads in the episode service: one thread per episode however many ask at once, archived ones
reopened, deleted ones recreated, unrecorded ones deleted, neighbours linked, /show open, joining and locking."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import UserFacingError
from tests.services import episode_service_env
from tests.services.episode_service_env import GUILD, NOW

env = episode_service_env.env  # the shared fixture


async def test_two_concurrent_requests_make_one_thread(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episode = await service.lookup.episode(show, "S1E3")
    service.gateway.create_delay = 0.05
    results = await asyncio.gather(*(service.threads.open_or_link(episode.id, may_create=True) for _ in range(3)))
    assert len(service.gateway.created) == 1
    assert sorted(r.outcome for r in results) == ["created", "linked", "linked"]
    assert {r.thread.thread_id for r in results} == {service.gateway.created[0]}


async def test_deleted_thread_is_recreated_and_archived_reopened(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episode = await service.lookup.episode(show, "2")
    first = (await service.threads.open_or_link(episode.id, may_create=True)).thread
    service.gateway.threads[first.thread_id] = "archived"
    assert (await service.threads.open_or_link(episode.id, may_create=False)).outcome == "reopened"
    del service.gateway.threads[first.thread_id]
    result = await service.threads.open_or_link(episode.id, may_create=True)
    assert result.outcome == "recreated"
    assert result.thread.thread_id != first.thread_id
    assert (await service.threads.thread(episode)).thread_id == result.thread.thread_id


async def test_neighbours_starters_are_refreshed(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    e1, e2, e3 = (await service.lookup.episodes(show))[:3]
    t1 = (await service.threads.open_or_link(e1.id, may_create=True)).thread
    t3 = (await service.threads.open_or_link(e3.id, may_create=True)).thread
    assert service.gateway.refreshed == []
    await service.threads.open_or_link(e2.id, may_create=True)
    assert sorted(service.gateway.refreshed) == sorted([t1.thread_id, t3.thread_id])
    starter = await service.threads.starter_info(e2.id)
    assert starter.previous[1].thread_id == t1.thread_id and starter.next[1].thread_id == t3.thread_id


async def test_a_thread_that_cannot_be_recorded_is_deleted(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episode = await service.lookup.episode(show, "1")
    service.gateway.kind = "voice"  # violates the table's CHECK: saving fails after Discord made the thread
    with pytest.raises(Exception, match="CHECK"):
        await service.threads.open_or_link(episode.id, may_create=True)
    assert service.gateway.deleted == service.gateway.created != []
    assert await service.threads.thread(episode) is None


async def test_unaired_episode_refused_without_may_create(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Later", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, NOW + timedelta(days=1))
    assert not service.lookup.has_aired(episode)
    with pytest.raises(UserFacingError) as error:
        await service.threads.open_or_link(episode.id, may_create=False)
    assert error.value.key == "episodes.not_aired"
    assert service.gateway.created == []


async def test_open_aired_opens_each_once_and_again_opens_none(env):
    service, clock = env
    clock["now"] = datetime.now(UTC)
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    assert await service.threads.unopened_aired(show) == 8
    first = await service.threads.open_aired(show)
    assert (first.count("created"), first.error) == (8, None)
    assert [e.number for e, _ in first.results] == list(range(1, 9))
    again = await service.threads.open_aired(show)
    assert (again.count("created", "recreated"), again.count("linked")) == (0, 8)
    assert len(service.gateway.created) == 8
    assert await service.threads.unopened_aired(show) == 0


async def test_open_aired_skips_unaired_and_stops_at_a_failure(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "on_air")
    for number, days in ((1, -2), (2, -1), (3, 1)):
        await service.schedules.add_episode(show, 1, number, None, NOW + timedelta(days=days))
    service.gateway.fail_with = UserFacingError("episodes.no_channel")
    stopped = await service.threads.open_aired(show)
    assert (stopped.results, stopped.stopped_at.number, stopped.error.key) == ([], 1, "episodes.no_channel")
    service.gateway.fail_with = None
    done = await service.threads.open_aired(show)
    assert [e.number for e, _ in done.results] == [1, 2]


async def test_join_reopens_an_archived_thread_and_skips_a_locked_one(env):
    service, clock = env
    clock["now"] = datetime.now(UTC)
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    e1, e2 = (await service.lookup.episodes(show))[:2]
    t1 = (await service.threads.open_or_link(e1.id, may_create=True)).thread
    service.gateway.threads[t1.thread_id] = "archived"
    assert (await service.threads.join(e1.id, 7)).outcome == "reopened"
    assert service.gateway.reopened == [t1.thread_id]
    assert service.gateway.members == [(t1.thread_id, 7)]
    await service.threads.open_or_link(e2.id, may_create=True)
    locked = await service.threads.lock(e2)
    assert (await service.threads.join(e2.id, 7)).outcome == "locked"
    assert service.gateway.members == [(t1.thread_id, 7)]  # not added to the locked thread...
    assert (await service.ratings.progress(7, show)).key == (1, 2)  # ...but progress moves up
    assert locked.thread_id not in service.gateway.reopened


async def test_locking_a_thread_deleted_in_discord_says_there_is_none(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episode = await service.lookup.episode(show, "S1E5")
    thread = (await service.threads.open_or_link(episode.id, may_create=True)).thread
    del service.gateway.threads[thread.thread_id]
    with pytest.raises(UserFacingError) as error:
        await service.threads.lock(episode)
    assert error.value.key == "episodes.no_thread"
