"""The bot's feed-parsing process pool (bot.services.news.parsing.new_parse_pool) parses at a lower CPU priority, so
on a busy machine the event loop (interactions, posting) does not wait behind parsing."""

import os

from bot.services.feed_fetch import FetchResult
from bot.services.news.parsing import WORKER_NICENESS, FeedParser, new_parse_pool
from tests.feeds.builders import generate_items, rss2


async def test_the_parse_pool_workers_run_at_a_lower_priority_and_parse():
    pool = new_parse_pool(1)
    assert pool is not None
    parser = FeedParser(pool)
    try:
        parsed = await parser.parse(FetchResult("ok", "http://feeds.test/a", body=rss2("Outlet", generate_items(2)),
                                                content_type="application/rss+xml"))
        assert len(parsed.entries) == 2 and parser.parses == 1
        assert pool.submit(os.nice, 0).result(timeout=30) == min(os.nice(0) + WORKER_NICENESS, 19)
    finally:
        parser.close()


def test_no_processes_means_parsing_in_threads():
    assert new_parse_pool(0) is None
