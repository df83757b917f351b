"""Parsing fetched feeds (bot.services.news.parsing) on the real fetcher and the local feed server, and what the
poll makes of it: a 304 is never parsed, a feed the parser gives up on is a failing feed."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.services.feed_fetch import FeedFetcher, FetchResult
from bot.services.news import NewsService
from bot.services.news import parsing as news_parsing
from bot.services.news.parsing import FeedParser, FeedProblem
from bot.services.settings import SettingsService
from db.news import NewsRepository
from tests.feeds import fixtures
from tests.feeds.builders import KOREAN_ITEMS, Item, generate_items, korean_outlet, load_sample, rss2
from tests.services.news_world import Clock, RecordingPoster

feed_server = fixtures.feed_server
FEED = rss2("Drama Beat", generate_items(3))
GUILD = 1001
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


def make_fetcher(session) -> FeedFetcher:
    return FeedFetcher(session, user_agent="CodeBlueTest/1.0 (+https://example.com/bot)", allow_private=True)


async def fetch_and_parse(fetcher: FeedFetcher, url: str, *, etag: str | None = None):
    """What a poll does with a fetch: (fetch result, parsed feed or None for a 304)."""
    result = await fetcher.fetch(url, etag=etag)
    if result.status == "not_modified":
        return result, None
    return result, await FeedParser().parse(result)


# --- the fetcher's results, parsed ------------------------------------------------------------------------------


async def test_a_fetched_feed_parses(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    result, feed = await fetch_and_parse(make_fetcher(session), feed_server.url("/feed.xml"))
    assert result.status == "ok"
    assert [entry.key for entry in feed.entries] == ["story-0", "story-1", "story-2"]


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (load_sample("not_a_feed.html"), "text/html; charset=utf-8", "not_a_feed"),
        (load_sample("garbage.xml"), "application/xml", "malformed"),
    ],
)
async def test_a_page_that_is_no_feed_is_a_problem_with_its_code(feed_server, session, body, content_type, code):
    feed_server.serve("/page", body, content_type=content_type)
    result = await make_fetcher(session).fetch(feed_server.url("/page"))
    with pytest.raises(FeedProblem) as caught:
        await FeedParser().parse(result)
    assert caught.value.text.split(":", 1)[0] == code
    assert result.http_status == 200


async def test_a_failed_fetch_is_a_problem_with_its_error_code(feed_server, session):
    feed_server.fail("/down.xml", 503)
    result = await make_fetcher(session).fetch(feed_server.url("/down.xml"))
    with pytest.raises(FeedProblem) as caught:
        await FeedParser().parse(result)
    assert caught.value.text.startswith(result.error_code)


@pytest.mark.parametrize(
    "content_type", ["application/rss+xml; charset=euc-kr", "text/xml", None, "application/xml; charset=utf-8"]
)
@pytest.mark.parametrize("declare_encoding", [True, False])
async def test_an_euc_kr_feed_parses(feed_server, session, content_type, declare_encoding):
    body = korean_outlet(KOREAN_ITEMS, encoding="euc-kr", declare_encoding=declare_encoding)
    feed_server.serve("/kr.xml", body, content_type=content_type)
    result, feed = await fetch_and_parse(make_fetcher(session), feed_server.url("/kr.xml"))
    assert result.status == "ok"
    assert feed.entries[-1].title == "중증외상센터 시즌2 제작 확정…주지훈 다시 백강혁으로"


async def test_live_feed_gets_a_new_item(feed_server, session):
    feed_server.serve_items("/live.xml", generate_items(2)[::-1])
    fetcher = make_fetcher(session)
    first, first_feed = await fetch_and_parse(fetcher, feed_server.url("/live.xml"))
    assert (await fetcher.fetch(feed_server.url("/live.xml"), etag=first.etag)).status == "not_modified"
    feed_server.add_item("/live.xml", Item("Season 2 confirmed", "https://example.com/new", guid="new"))
    third, third_feed = await fetch_and_parse(fetcher, feed_server.url("/live.xml"), etag=first.etag)
    assert third.status == "ok"
    assert {entry.key for entry in third_feed.entries} - {entry.key for entry in first_feed.entries} == {"new"}
    assert feed_server.request_count("/live.xml") == 3


async def test_parsing_a_big_feed_does_not_block_the_loop(feed_server, session):
    feed_server.serve("/big.xml", rss2("big", generate_items(3000)))
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    _, feed = await fetch_and_parse(make_fetcher(session), feed_server.url("/big.xml"))
    done.set()
    await task
    assert len(feed.entries) == 3000
    assert ticks > 5


async def test_parsing_in_a_process_pool_gives_the_same_entries_and_errors():
    """FeedParser on a ProcessPoolExecutor (how the cog runs the service): results and FeedParseError cross the
    process boundary."""
    body = rss2("Outlet", generate_items(3))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        parser = FeedParser(pool)
        parsed = await parser.parse(FetchResult("ok", "http://feeds.test/a", body=body,
                                                content_type="application/rss+xml"))
        assert [e.title for e in parsed.entries] == [f"Story {n}: Trauma Code news" for n in range(3)]
        assert parsed.entries[0].title_normalized == "story 0: trauma code news"
        with pytest.raises(FeedProblem) as caught:
            await parser.parse(FetchResult("ok", "http://feeds.test/b", body=b"<html><body>hi</body></html>",
                                           content_type="text/html"))
        assert caught.value.text.startswith("not_a_feed")


# --- the poll path ----------------------------------------------------------------------------------------------


@pytest.fixture
async def polling(migrated_db, session):
    """A NewsService on a real database and the real fetcher; parsing in threads (counted)."""
    db = migrated_db
    settings = SettingsService(db)
    await settings.update(GUILD, news_channel_id=10, log_channel_id=11)
    poster, clock = RecordingPoster(), Clock()
    service = NewsService(NewsRepository(db), make_fetcher(session), poster, settings, clock=clock,
                          allow_private=True, rng=random.Random(3))
    yield service, poster, clock
    assert poster.posts == [], "nothing is posted in these tests"


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """URLs parsed by the service, in order."""
    seen: list[str] = []
    real = news_parsing.parse_feed_bytes

    def counting(body, content_type, url, **options):
        seen.append(url)
        return real(body, content_type, url, **options)

    monkeypatch.setattr(news_parsing, "parse_feed_bytes", counting)
    return seen


async def test_a_304_answer_skips_parsing(feed_server, polling, parses):
    service, _, clock = polling
    feed_server.serve("/feed.xml", FEED)
    await service.add_feed(GUILD, feed_server.url("/feed.xml"), created_by=7)
    assert len(parses) == 1
    clock.now += timedelta(minutes=12)
    summary = await service.tick()
    assert (summary.feeds, summary.not_modified, summary.failed) == (1, 1, 0)
    assert feed_server.request_count("/feed.xml") == 2 and len(parses) == 1


async def test_a_feed_that_parses_to_nothing_with_a_problem_is_failing_and_admins_are_told(feed_server, polling):
    """A truncated document: feedparser recognises RSS but recovers no entry, with a problem. Such a fetch is a
    failure (not a healthy, empty feed): after FAILURE_NOTICE_AFTER of them in a row the admins get a notice."""
    service, poster, clock = polling
    feed_server.serve("/feed.xml", FEED)
    await service.add_feed(GUILD, feed_server.url("/feed.xml"), created_by=7)
    feed_server.serve("/feed.xml", b'<?xml version="1.0"?><rss version="2.0"><channel><title>Drama Beat</title>'
                                   b"</channel>")
    for _ in range(3):
        clock.now += timedelta(days=1)
        summary = await service.tick()
        assert summary.failed == 1
    [subscription] = await service.list_feeds(GUILD)
    assert subscription.feed.consecutive_failures == 3
    assert "no element found" in subscription.feed.last_error
    [(guild_id, key, params)] = poster.notices
    assert (guild_id, key, params["failures"]) == (GUILD, "news.notice.failing", 3)
    assert "no element found" in params["error"]
