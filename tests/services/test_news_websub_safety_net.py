"""A poll's unchanged feeds (304s) that are pushed (an active WebSub subscription) keep the slower safety-net
interval, the others the normal one; one read finds the pushed ones for the whole poll, not one read per feed
(bot/services/news/websub.py `WebSub.unchanged`). Real SQLite repository, an in-memory fetcher."""

from __future__ import annotations

import random
from datetime import timedelta

import aiohttp

from bot.services.news import NewsService
from bot.services.news.websub import SAFETY_FACTOR
from db.news_features import WebSubRecord
from tests.services import news_world
from tests.services.news_world import FEED, G1, START

world = news_world.world
OTHER = "http://feeds.test/other.xml"


async def test_an_unchanged_pushed_feed_keeps_the_safety_net_interval_read_once_per_poll(world):
    async with aiohttp.ClientSession() as session:  # never used: no hub is asked anything here
        service = NewsService(world.repo, world.fetcher, world.poster, world.settings, clock=world.clock,
                              rng=random.Random(7), session=session, public_url="https://codeblue.example")
        world.fetcher.set(OTHER, "Other", [("Other story", "http://other.test/1", START - timedelta(days=1))])
        await service.add_feed(G1, FEED, created_by=7)
        await service.add_feed(G1, OTHER, created_by=7)
        pushed = await world.repo.get_feed_by_url(FEED)
        now = int(world.clock().timestamp())
        await world.repo.save_websub(WebSubRecord(pushed.id, FEED, "https://hub.test/", "token", "secret", "active",
                                                  now + 86400, now, None))
        reads = []
        active_websub_feeds = world.repo.active_websub_feeds

        async def counted(feed_ids):
            reads.append(sorted(feed_ids))
            return await active_websub_feeds(feed_ids)

        world.repo.active_websub_feeds = counted

        world.clock.advance(minutes=12)
        summary = await service.tick()
        assert (summary.feeds, summary.not_modified) == (2, 2)
        assert len(reads) == 1 and len(reads[0]) == 2
        polled_at = int(world.clock().timestamp())
        safety = int(service.websub.schedule.interval.total_seconds()) * SAFETY_FACTOR
        assert (await world.repo.get_feed(pushed.id)).next_poll_at >= polled_at + safety
        other = await world.repo.get_feed_by_url(OTHER)
        assert other.next_poll_at < polled_at + safety

        calls = dict(world.fetcher.calls)
        world.clock.advance(minutes=12)
        await service.tick()
        assert world.fetcher.calls[FEED] == calls[FEED]  # not due yet: pushed
        assert world.fetcher.calls[OTHER] == calls[OTHER] + 1
        service.close()
