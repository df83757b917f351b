"""The shared HTTP session the runner builds: guarded against DNS rebinding unless private feeds are allowed.

A rebinding name answers a public address to the fetcher's own check and 127.0.0.1 (the feed server) to the
connector's lookup. With CODEBLUE_ALLOW_PRIVATE_FEEDS=0 the connect is refused; the control case shows that
without the guarded connector the same lookup sequence really reaches the server. Also: parsing in a process
pool (how the cog runs the service) gives the same entries and errors.
"""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest

from bot.config import parse_settings
from bot.runner import new_http_session
from bot.services.feed_fetch import FeedFetcher, FetchResult
from bot.services.news import NewsService
from db.database import Database
from db.migrate import migrate
from db.news import NewsRepository
from tests.feeds import fixtures
from tests.feeds.builders import generate_items, rss2
from tests.feeds.server import RebindingDns

feed_server = fixtures.feed_server


def settings(allow_private: str):
    return parse_settings({"CODEBLUE_ALLOW_PRIVATE_FEEDS": allow_private}, require_token=False)


@pytest.mark.parametrize(("allow_private", "guarded"), [("0", True), ("1", False)])
async def test_runner_session_checks_the_address_it_connects_to(feed_server, monkeypatch, allow_private, guarded):
    feed_server.serve("/feed.xml", rss2("Outlet", generate_items(2)))
    dns = RebindingDns().install(monkeypatch)
    async with new_http_session(settings(allow_private)) as session:
        # The fetcher's own pre-check stays on (allow_private=False) in both cases: only the session differs.
        fetcher = FeedFetcher(session, user_agent="CodeBlueTest", allow_private=False)
        result = await fetcher.fetch(feed_server.url("/feed.xml", host=dns.host))
    assert dns.lookups == 2  # the fetcher's check (public), then the connector's (loopback)
    if guarded:
        assert (result.status, result.error_code) == ("error", "blocked_address")
        assert "127.0.0.1" in (result.error_detail or "")
        assert feed_server.request_count("/feed.xml") == 0
    else:
        assert result.status == "ok"
        assert feed_server.request_count("/feed.xml") == 1


async def test_session_without_settings_is_guarded(feed_server, monkeypatch):
    """`codeblue sync` and any caller without settings get the safe session."""
    feed_server.serve("/feed.xml", rss2("Outlet", generate_items(1)))
    dns = RebindingDns().install(monkeypatch)
    async with new_http_session() as session:
        result = await FeedFetcher(session, user_agent="CodeBlueTest").fetch(
            feed_server.url("/feed.xml", host=dns.host))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0



async def test_parsing_in_a_process_pool_gives_the_same_entries_and_errors(tmp_path):
    """NewsService(parse_executor=ProcessPoolExecutor(...)): results and FeedParseError cross the process boundary."""
    db = Database(tmp_path / "news.db")
    await db.connect()
    await migrate(db)
    body = rss2("Outlet", generate_items(3))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        service = NewsService(NewsRepository(db), None, None, None, clock=lambda: datetime.now(UTC),
                              rng=random.Random(1), parse_executor=pool)
        parsed, error = await service._parse(FetchResult("ok", "http://feeds.test/a", body=body,
                                                         content_type="application/rss+xml"))
        assert error is None and [e.title for e in parsed.entries] == [f"Story {n}: Trauma Code news" for n in range(3)]
        assert parsed.entries[0].title_normalized == "story 0: trauma code news"
        _, error = await service._parse(FetchResult("ok", "http://feeds.test/b", body=b"<html><body>hi</body></html>",
                                                    content_type="text/html"))
        assert error is not None and error.startswith("not_a_feed")
    await db.close()
