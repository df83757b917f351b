"""Ratings and progress in the episode service: votes, the ratings table, progress moved by joining, starter
edits serialized per episode, and no per-episode state kept once the work is done."""

import asyncio
import gc

import pytest

from tests.services import episode_service_env
from tests.services.episode_service_env import GUILD


async def _until(predicate, timeout: float = 10) -> None:
    """Wait for `predicate` to hold (an event the test needs), however loaded the machine is."""
    async def poll():
        while not predicate():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(poll(), timeout)


env = episode_service_env.env  # the shared fixture


async def test_ratings_progress_and_join(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    e1, e2 = (await service.lookup.episodes(show))[:2]
    for user, stars in ((1, 5), (2, 4), (3, 3), (1, 4)):
        await service.ratings.rate(e1.id, user, stars)
    await service.ratings.rate(e2.id, 1, 5)
    table = await service.ratings.ratings_table(show)
    assert [(s.count, s.average) for _, s in table.rows[:2]] == [(3, pytest.approx(11 / 3)), (1, 5.0)]
    assert table.best == e1.id  # e2 has too few votes to be ranked
    assert await service.ratings.is_beyond_progress(9, show, e1)
    thread = (await service.threads.open_or_link(e2.id, may_create=True)).thread
    await service.threads.join(e2.id, 9)
    assert service.gateway.members == [(thread.thread_id, 9)]
    assert (await service.ratings.progress(9, show)).key == (1, 2)
    assert not await service.ratings.is_beyond_progress(9, show, e1)


async def test_concurrent_votes_edit_the_starter_in_order_from_the_database(env):
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episode = await service.lookup.episode(show, "S1E1")
    await service.threads.open_or_link(episode.id, may_create=True)
    service.gateway.shown_votes.clear()
    # The first vote's edit is slow: unserialized, it would land after the others and show one vote.
    slow_edit = asyncio.Event()
    service.gateway.refresh_delays = [slow_edit]
    first = asyncio.create_task(service.ratings.rate(episode.id, 1, 5))
    await _until(lambda: not service.gateway.refresh_delays)  # the first vote's slow edit has begun
    voting = [asyncio.create_task(service.ratings.rate(episode.id, user, 3)) for user in (2, 3, 4)]

    async def all_votes_stored() -> None:  # the other three votes are stored while the first edit still hangs
        while (await service.ratings.rating(episode.id)).count < 4:
            await asyncio.sleep(0.001)
    await asyncio.wait_for(all_votes_stored(), 10)
    slow_edit.set()
    others = await asyncio.gather(*voting)
    await first
    assert service.gateway.shown_votes == [1, 4]  # in order; the three waiting refreshes coalesced into one
    assert all(s.rating.count == 4 for s in others)
    assert (await service.ratings.rating(episode.id)).count == 4


async def test_no_per_episode_state_is_kept_once_the_work_is_done(env):
    """Locks and starter-edit counters exist while an episode is being worked on, not for every episode ever
    touched (a long-running bot serving many servers would grow without bound)."""
    service, _ = env
    show = (await service.schedules.install_preset(GUILD, "trauma-code")).show
    episodes = await service.lookup.episodes(show)
    for episode in episodes:
        await service.threads.open_or_link(episode.id, may_create=True)
    service.gateway.refresh_delays = [0.2]  # the first vote's starter edit is slow: the votes stay in flight
    votes = [asyncio.create_task(service.ratings.rate(episode.id, user, 4)) for episode in episodes for user in (1, 2)]
    # until the first vote reaches its starter edit (however slow the machine is)
    await _until(lambda: service.threads._starter_edits)  # votes in flight share their episode's state
    await asyncio.gather(*votes)
    await service.threads.lock(episodes[0])
    def settled():  # starter refreshes may still be finishing in the background
        gc.collect()
        return not service.threads._locks and not service.threads._starter_edits
    await _until(settled)
    assert (len(service.threads._locks), len(service.threads._starter_edits)) == (0, 0)
    assert [(await service.ratings.rating(e.id)).count for e in episodes] == [2] * len(episodes)
    assert service.gateway.shown_votes[-1] == 2
