"""KeywordMatchers (bot.services.news.ingest) reads a server's stored keywords once for all its subscriptions (a
poll matching 500 feeds of one server made 500 reads), and what it read is dropped on every change (forget), also
when the change comes while a read is under way. Real SQLite repository; the reads are counted."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.news.ingest import KeywordMatchers
from db.news import NewsRepository

NOW = 1_750_000_000


class CountingRepository(NewsRepository):
    def __init__(self, db):
        super().__init__(db)
        self.reads = 0
        self.read_done = asyncio.Event()
        self.hold: asyncio.Event | None = None

    async def keywords_of_guild(self, guild_id):
        self.reads += 1
        records = await super().keywords_of_guild(guild_id)
        self.read_done.set()
        if self.hold is not None:
            await self.hold.wait()  # the read is done, its result not yet handed back
        return records


@pytest.fixture
def repo(migrated_db):
    return CountingRepository(migrated_db)


async def _subscriptions(repo, count):
    subs = []
    for n in range(count):
        feed = await repo.ensure_feed(f"https://feeds.test/{n}", now=NOW, next_poll_at=NOW)
        subs.append(await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW))
    return subs


async def test_one_read_serves_every_subscription_until_the_keywords_change(repo):
    a, b, c = await _subscriptions(repo, 3)
    await repo.add_keyword(1, None, "season 2", "include", NOW)
    await repo.add_keyword(1, b.id, "poster", "include", NOW)
    matchers = KeywordMatchers(repo)
    for sub in (a, b, c, a):
        await matchers.for_subscription(1, sub.id)
    assert repo.reads == 1
    assert (await matchers.for_subscription(1, a.id)).match("Trauma Code season 2").matched
    # b has its own include: the server-wide ones do not apply to it
    assert not (await matchers.for_subscription(1, b.id)).match("Trauma Code season 2").matched
    assert (await matchers.for_subscription(1, b.id)).match("New poster").matched

    await repo.add_keyword(1, None, "-rumor", "exclude", NOW)
    matchers.forget(1)
    assert not (await matchers.for_subscription(1, c.id)).match("Season 2 rumor").matched
    assert not (await matchers.for_subscription(1, a.id)).match("Season 2 rumor").matched
    assert repo.reads == 2


async def test_keywords_read_before_a_change_are_not_kept(repo):
    [a] = await _subscriptions(repo, 1)
    await repo.add_keyword(1, None, "season 2", "include", NOW)
    matchers = KeywordMatchers(repo)
    repo.hold = asyncio.Event()
    reading = asyncio.create_task(matchers.for_subscription(1, a.id))
    await repo.read_done.wait()
    await repo.add_keyword(1, None, "-rumor", "exclude", NOW)  # the change lands while the read waits
    matchers.forget(1)
    repo.hold.set()
    assert (await reading).match("Season 2 rumor").matched  # as read
    assert not (await matchers.for_subscription(1, a.id)).match("Season 2 rumor").matched  # read again
    assert repo.reads == 2
