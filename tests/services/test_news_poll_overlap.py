"""A `/news check` and the poll job at the same time: the poll read the feed rows before the check recorded its
fetch, so it reads the row again (the feed's lock was held since) or sees the check's not yet recorded 304, and does
not fetch the feed a second time (tests/services/news_world.py has the stand-ins)."""

from __future__ import annotations

import asyncio

import pytest

from tests.services import news_world
from tests.services.news_world import FEED, G1, G2, MemoryFetcher, item

world = news_world.world
OTHER = "http://feeds.test/other.xml"


class GatedFetcher(MemoryFetcher):
    """Fetches of `gated` URLs wait for `gate`."""

    def __init__(self, inner: MemoryFetcher, gated: str) -> None:
        super().__init__()
        self.feeds, self.calls = inner.feeds, inner.calls
        self.gated = gated
        self.gate = asyncio.Event()

    async def fetch(self, url, *, etag=None, last_modified=None):
        if url == self.gated:
            self.calls[url] = self.calls.get(url, 0) + 1
            await self.gate.wait()
            self.calls[url] -= 1  # counted once, below
        return await super().fetch(url, etag=etag, last_modified=last_modified)


async def until(condition) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(wait(), 5)


@pytest.mark.parametrize("changed", [True, False], ids=["check-finds-new-items", "check-gets-a-304"])
async def test_a_feed_a_concurrent_check_just_fetched_is_not_fetched_again_by_the_poll(world, changed):
    world.fetcher.set(OTHER, "Other", [])
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, OTHER, created_by=8)
    gated = GatedFetcher(world.fetcher, FEED)
    world.service.poller.fetcher = gated
    if changed:
        world.fetcher.add(FEED, item("Season 2 news", 3))
    world.clock.advance(minutes=12)  # both feeds due
    world.fetcher.calls.clear()

    check = asyncio.create_task(world.service.check_guild(G1))  # holds FEED's lock, waiting for its answer
    await until(lambda: world.fetcher.calls.get(FEED) == 1)
    tick = asyncio.create_task(world.service.tick())  # reads both rows as due, waits for FEED's lock
    await until(lambda: world.fetcher.calls.get(OTHER) == 1)  # the poll has read the rows and is polling
    gated.gate.set()
    checked, polled = await check, await tick

    assert world.fetcher.calls == {FEED: 1, OTHER: 1}
    assert checked.feeds == 1 and polled.feeds == 1
    assert (checked.new_entries, checked.not_modified) == ((1, 0) if changed else (0, 1))
    feed = (await world.repo.subscriptions_of_guild(G1))[0].feed
    assert feed.next_poll_at > int(world.clock.now.timestamp())  # the check's fetch was recorded


async def test_the_poll_reading_a_row_while_the_check_records_its_304_does_not_fetch_it_again(world):
    """The interleaving that failed once under load, made certain: the poll reads FEED's row again (its lock was
    held since) before the check's 304 is written, and the check writes it and forgets it as unrecorded while that
    read is under way. The poll must still see that FEED was just fetched."""
    world.fetcher.set(OTHER, "Other", [])
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, OTHER, created_by=8)
    gated = GatedFetcher(world.fetcher, FEED)
    poller = world.service.poller
    poller.fetcher = gated
    world.clock.advance(minutes=12)
    world.fetcher.calls.clear()
    repo = poller.repo
    read_again, get_feed, record_unchanged = asyncio.Event(), repo.get_feed, repo.record_unchanged

    async def recorded_after_the_read(feeds, *, now):
        await read_again.wait()
        return await record_unchanged(feeds, now=now)

    async def read_before_the_write(feed_id):
        row = await get_feed(feed_id)  # the check's 304 is not written yet
        read_again.set()
        await check  # ...and the check has written it and forgotten it before the poll goes on
        return row

    repo.record_unchanged, repo.get_feed = recorded_after_the_read, read_before_the_write
    check = asyncio.create_task(world.service.check_guild(G1))
    await until(lambda: world.fetcher.calls.get(FEED) == 1)
    tick = asyncio.create_task(world.service.tick())
    await until(lambda: world.fetcher.calls.get(OTHER) == 1)  # the poll has read the rows and waits for FEED's lock
    gated.gate.set()
    checked, polled = await check, await tick
    assert world.fetcher.calls == {FEED: 1, OTHER: 1}
    assert (checked.not_modified, polled.feeds) == (1, 1)
