"""FeedLocks count releases, so a poll that read feed rows in one query knows which rows may be stale by the time
it holds a feed's lock (bot.services.news.poller)."""

import asyncio

from bot.services.news.schedule import FeedLocks


async def test_a_feed_whose_lock_was_held_after_the_read_is_known_as_possibly_changed():
    locks = FeedLocks()
    async with locks(1):
        pass  # before the read: does not count
    read_at = locks.sequence
    assert not locks.released_since(1, read_at) and not locks.released_since(2, read_at)
    async with locks(2):
        pass
    assert locks.released_since(2, read_at) and not locks.released_since(1, read_at)


async def test_a_lock_held_during_the_read_counts_once_released():
    locks = FeedLocks()
    holder_inside, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with locks(7):
            holder_inside.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holder_inside.wait()
    read_at = locks.sequence  # the row is read while someone holds the lock
    release.set()
    async with locks(7):
        assert locks.released_since(7, read_at)
    await task
