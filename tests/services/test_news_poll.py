"""NewsService on a real SQLite database and the real feed parser; the network and Discord are stand-ins.

The fetcher stand-in serves RSS documents from memory with ETag/304 behaviour and counts fetches per URL; the
poster records what would be posted. Time is an injected clock.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest

from bot.services.news import NewsError, NewsPost, NewsService, PostError
from bot.services.settings import SettingsService
from db.database import Database
from db.migrate import migrate
from db.news import NewsRepository

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
G1, G2 = 1001, 1002
FEED = "http://feeds.test/outlet.xml"
GNEWS = "http://feeds.test/google.xml"


def rss(title: str, items: list[tuple[str, str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<description>{escape(t)} summary</description><pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>http://feeds.test/</link><description>d</description>{body}</channel></rss>").encode()


@dataclass
class Result:
    status: str
    body: bytes | None = None
    content_type: str | None = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    http_status: int | None = None


class MemoryFetcher:
    """Feeds by URL with ETags; `broken` URLs answer an error; counts fetches."""

    def __init__(self) -> None:
        self.feeds: dict[str, tuple[str, list]] = {}
        self.broken: set[str] = set()
        self.calls: dict[str, int] = {}
        self.not_modified: int = 0

    def set(self, url: str, title: str, items: list) -> None:
        self.feeds[url] = (title, list(items))

    def add(self, url: str, item: tuple[str, str, datetime]) -> None:
        self.feeds[url][1].append(item)

    def etag(self, url: str) -> str:
        return f'"{hash(repr(self.feeds[url])) & 0xFFFFFFFF:x}"'

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Result:
        self.calls[url] = self.calls.get(url, 0) + 1
        await asyncio.sleep(0)
        if url in self.broken or url not in self.feeds:
            return Result("error", error_code="http_5xx", error_detail="503", http_status=503)
        current = self.etag(url)
        if etag == current:
            self.not_modified += 1
            return Result("not_modified", http_status=304)
        title, items = self.feeds[url]
        return Result("ok", rss(title, items), etag=current, final_url=url, http_status=200)


@dataclass
class RecordingPoster:
    posts: list[NewsPost] = field(default_factory=list)
    notices: list[tuple[int, str, dict]] = field(default_factory=list)
    failures: list[PostError] = field(default_factory=list)
    next_id: int = 5000

    async def post(self, post: NewsPost) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.posts.append(post)
        self.next_id += 1
        return self.next_id

    async def find_posted(self, channel_id, link, title, since):
        return None

    async def notify(self, guild_id: int, key: str, **params) -> None:
        self.notices.append((guild_id, key, params))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class World:
    service: NewsService
    repo: NewsRepository
    fetcher: MemoryFetcher
    poster: RecordingPoster
    clock: Clock
    settings: SettingsService

    def titles(self, guild_id: int | None = None) -> list[str]:
        return [p.title for p in self.poster.posts if guild_id is None or p.guild_id == guild_id]

    async def next_cycle(self):
        self.clock.advance(minutes=12)
        return await self.service.tick()


@pytest.fixture
async def world(tmp_path):
    db = Database(tmp_path / "news.db")
    await db.connect()
    await migrate(db)
    settings = SettingsService(db)
    for guild in (G1, G2):
        await settings.update(guild, news_channel_id=guild * 10, news_ping_role_id=guild * 100,
                              log_channel_id=guild * 10 + 1)
    fetcher, poster, clock = MemoryFetcher(), RecordingPoster(), Clock()
    repo = NewsRepository(db)
    service = NewsService(repo, fetcher, poster, settings, clock=clock, rng=random.Random(7))
    fetcher.set(FEED, "Outlet", [("Old story one", "http://outlet.test/1", START - timedelta(days=2)),
                                 ("Old story two", "http://outlet.test/2", START - timedelta(days=1))])
    yield World(service, repo, fetcher, poster, clock, settings)
    await db.close()


def item(title: str, n: int, minutes: int = 0):
    return (title, f"http://outlet.test/{n}", START + timedelta(minutes=minutes))


async def test_add_posts_no_backlog_then_one_alert_per_new_matching_item(world):
    result = await world.service.add_feed(G1, FEED, created_by=7)
    assert (result.title, result.entries, result.queued_newest) == ("Outlet", 2, False)
    await world.service.add_keyword(G1, "season 2")
    assert (await world.next_cycle()).posted == 0
    world.fetcher.add(FEED, item("Trauma Code Season 2 confirmed", 3))
    world.fetcher.add(FEED, item("Unrelated gossip", 4))
    summary = await world.next_cycle()
    assert (summary.new_entries, summary.queued, summary.posted) == (2, 1, 1)
    [post] = world.poster.posts
    assert (post.guild_id, post.channel_id, post.role_id) == (G1, G1 * 10, G1 * 100)
    assert post.link == "http://outlet.test/3" and post.source == "Outlet"
    assert post.published == START
    # Polled again (changed or not), nothing is posted twice.
    world.fetcher.add(FEED, item("Another unrelated", 5))
    await world.next_cycle()
    await world.next_cycle()
    assert world.titles() == ["Trauma Code Season 2 confirmed"]
    assert await world.repo.count_deliveries(G1, "sent") == 1


async def test_one_url_for_two_servers_is_fetched_once_per_cycle_and_alerts_both(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, "http://FEEDS.test/outlet.xml#x", created_by=8)  # same feed, other spelling
    assert len({s.feed.id for g in (G1, G2) for s in await world.repo.subscriptions_of_guild(g)}) == 1
    world.fetcher.calls.clear()
    world.fetcher.add(FEED, item("Season 2 news", 3))
    await world.next_cycle()
    assert world.fetcher.calls == {FEED: 1}
    assert sorted(p.guild_id for p in world.poster.posts) == [G1, G2]
    await world.service.tick()  # not due again yet: no fetch
    assert world.fetcher.calls == {FEED: 1}


async def test_unchanged_feed_costs_a_304(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    summary = await world.next_cycle()
    assert (summary.feeds, summary.not_modified, summary.posted) == (1, 1, 0)
    feed = (await world.repo.subscriptions_of_guild(G1))[0].feed
    assert feed.last_checked_at == int(world.clock.now.timestamp()) and feed.consecutive_failures == 0
    assert 9 * 60 <= feed.next_poll_at - feed.last_checked_at <= 11 * 60  # interval with jitter


async def test_a_new_subscriber_gets_no_backlog_but_existing_ones_keep_their_new_items(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Fresh story", 3))
    await world.service.add_feed(G2, FEED, created_by=8)  # fetches before G1's next poll
    await world.service.deliver_pending()
    assert [(p.guild_id, p.title) for p in world.poster.posts] == [(G1, "Fresh story")]


async def test_post_newest_option_posts_just_the_newest(world):
    result = await world.service.add_feed(G1, FEED, created_by=7, post_newest=True)
    assert result.queued_newest
    await world.service.deliver_pending()
    assert world.titles() == ["Old story two"]


async def test_keywords_exclusions_and_per_feed_override(world):
    other = "http://feeds.test/other.xml"
    world.fetcher.set(other, "Other", [])
    await world.service.add_feed(G1, FEED, created_by=7)
    sub = await world.service.add_feed(G1, other, created_by=7, keywords=["시즌2"])
    await world.service.add_keyword(G1, "season 2")
    await world.service.add_keyword(G1, "-spoiler")
    world.fetcher.add(FEED, item("Season 2 spoiler leak", 3))
    world.fetcher.add(FEED, item("Season 2 table read", 4, 1))
    world.fetcher.add(FEED, item("중증외상센터 시즌2 확정", 5, 2))  # server-wide keywords: no match
    world.fetcher.add(other, ("Season 2 elsewhere", "http://other.test/1", START))  # its own keywords: no match
    world.fetcher.add(other, ("중증외상센터 시즌 2 촬영", "http://other.test/2", START + timedelta(minutes=3)))
    await world.next_cycle()
    assert world.titles() == ["Season 2 table read", "중증외상센터 시즌 2 촬영"]
    assert [k.raw for k in await world.service.list_keywords(G1, sub.subscription.id)] == ["시즌2"]


async def test_invalid_keywords_are_refused_and_nothing_is_stored(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    for raw in ("", "re:(unclosed"):
        with pytest.raises(NewsError) as caught:
            await world.service.add_keyword(G1, raw)
        assert caught.value.key.startswith("news.keyword.error.")
    with pytest.raises(NewsError):
        await world.service.add_feed(G1, "http://feeds.test/x.xml", created_by=7, keywords=["re:(("])
    assert await world.service.list_keywords(G1) == []
    assert len(await world.service.list_feeds(G1)) == 1
    with pytest.raises(NewsError, match=r"news\.keyword\.not_found"):
        await world.service.remove_keyword(G1, "never added")


async def test_same_story_from_two_feeds_is_posted_once_per_server(world):
    world.fetcher.set(GNEWS, "Google News", [])
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G1, GNEWS, created_by=7)
    world.fetcher.add(GNEWS, ("Trauma Code renewed for Season 2 - Outlet", "http://news.google.test/a/1", START))
    world.fetcher.add(FEED, ("Trauma Code renewed for Season 2", "http://outlet.test/9?utm_source=x", START))
    world.fetcher.add(FEED, ("Different story", "http://outlet.test/10", START + timedelta(minutes=5)))
    await world.next_cycle()
    titles = world.titles()
    assert len(titles) == 2 and "Different story" in titles
    assert len([t for t in titles if t.startswith("Trauma Code renewed for Season 2")]) == 1


async def test_posts_go_out_oldest_first(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Third", 13, 30))
    world.fetcher.add(FEED, item("First", 11, 10))
    world.fetcher.add(FEED, item("Second", 12, 20))
    await world.next_cycle()
    assert world.titles() == ["First", "Second", "Third"]


async def test_failures_back_off_notify_once_and_recovery_is_announced(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.fetcher.broken.add(FEED)
    delays = []
    for _ in range(4):
        world.clock.advance(days=1)
        summary = await world.service.tick()
        assert summary.failed == 1
        feed = (await world.repo.subscriptions_of_guild(G1))[0].feed
        delays.append(feed.next_poll_at - feed.last_checked_at)
    assert delays == sorted(delays) and delays[0] > 12 * 60
    failing = [(g, key) for g, key, _ in world.poster.notices]
    assert failing == [(G1, "news.notice.failing"), (G2, "news.notice.failing")]
    assert world.poster.notices[0][2]["failures"] == 3
    world.fetcher.broken.clear()
    world.clock.advance(days=1)
    await world.service.tick()
    assert [(g, key) for g, key, _ in world.poster.notices[2:]] == [(G1, "news.notice.recovered"),
                                                                     (G2, "news.notice.recovered")]
    assert (await world.repo.subscriptions_of_guild(G1))[0].feed.consecutive_failures == 0


async def test_unreachable_or_bad_urls_are_refused_on_add(world):
    with pytest.raises(NewsError, match=r"news\.feed\.unreachable"):
        await world.service.add_feed(G1, "http://feeds.test/missing.xml", created_by=7)
    with pytest.raises(NewsError, match=r"news\.feed\.bad_url"):
        await world.service.add_feed(G1, "ftp://feeds.test/a.xml", created_by=7)
    await world.service.add_feed(G1, FEED, created_by=7)
    with pytest.raises(NewsError, match=r"news\.feed\.already"):
        await world.service.add_feed(G1, FEED, created_by=7)
    assert len(await world.service.list_feeds(G1)) == 1


async def test_paused_subscriptions_are_skipped_and_not_polled_alone(world):
    added = await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.set_paused(G1, added.subscription.id, True)
    world.fetcher.add(FEED, item("Season 2 while paused", 3))
    world.fetcher.calls.clear()
    await world.next_cycle()
    assert world.fetcher.calls == {} and world.poster.posts == []
    await world.service.set_paused(G1, added.subscription.id, False)
    world.fetcher.add(FEED, item("Season 2 after resume", 4, 1))
    await world.next_cycle()
    assert world.titles() == ["Season 2 while paused", "Season 2 after resume"]


async def test_transient_post_failure_is_retried_in_order_and_permanent_one_is_reported(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [PostError("unavailable: 503", permanent=False)]
    await world.next_cycle()
    assert world.titles() == []  # the channel rests after a transient failure; nothing is lost
    await world.service.tick()
    assert world.titles() == ["A", "B"]
    world.fetcher.add(FEED, item("C", 5, 3))
    world.poster.failures = [PostError("forbidden", permanent=True)]
    await world.next_cycle()
    assert world.titles() == ["A", "B"]
    assert (G1, "news.notice.post_failed") in [(g, k) for g, k, _ in world.poster.notices]
    assert await world.repo.count_deliveries(G1, "failed") == 1


async def test_a_send_interrupted_by_a_crash_is_reconciled_not_reposted(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Reached Discord before the crash", 3, 1))
    world.fetcher.add(FEED, item("Queued when the process died", 4, 2))

    class DiesAfterSending(RecordingPoster):
        async def post(self, post):
            self.posts.append(post)  # Discord accepted it ...
            raise asyncio.CancelledError  # ... and the process was killed before the result was recorded

    world.service.poster = DiesAfterSending()
    with pytest.raises(asyncio.CancelledError):
        await world.next_cycle()
    delivered = world.service.poster.posts
    assert [p.title for p in delivered] == ["Reached Discord before the crash"]

    class AfterRestart(RecordingPoster):
        async def find_posted(self, channel_id, link, title, since):
            return 4242 if any(p.link == link and p.channel_id == channel_id for p in delivered) else None

    poster = AfterRestart()
    restarted = NewsService(world.repo, world.fetcher, poster, world.settings, clock=world.clock)
    assert (await restarted.tick()).posted == 1
    assert [p.title for p in poster.posts] == ["Queued when the process died"]
    assert await world.repo.pending_deliveries() == []
    assert await world.repo.count_deliveries(G1, "sent") == 2


async def test_news_check_is_rate_limited_per_server(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.fetcher.calls.clear()
    summary = await world.service.check_guild(G1)
    assert summary.feeds == 1 and world.fetcher.calls == {FEED: 1}
    with pytest.raises(NewsError, match=r"news\.check\.cooldown"):
        await world.service.check_guild(G1)
    await world.service.check_guild(G2)  # another server is not limited by G1's check
    world.clock.advance(seconds=61)
    await world.service.check_guild(G1)


async def test_test_feed_reports_matches_and_writes_nothing(world):
    await world.service.add_keyword(G1, "season 2")
    world.fetcher.add(FEED, item("Season 2 teaser", 3))
    report = await world.service.test_feed(G1, FEED)
    assert (report.title, report.entries) == ("Outlet", 3)
    assert [(m.title, m.keyword) for m in report.matching] == [("Season 2 teaser", "season 2")]
    assert await world.service.list_feeds(G1) == [] and world.poster.posts == []


async def test_dedupe_titles_are_stored_normalized_and_legacy_rows_still_count(world):
    """Deliveries keep the normalized dedupe title (migration 0006); rows written before it ('') are normalized
    when read, so a story delivered before the upgrade still blocks its Google News twin."""
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Trauma Code Season 2: cast confirmed!", 3))
    await world.next_cycle()
    row = await world.repo.db.fetch_one("SELECT title_normalized, title_fingerprint FROM news_deliveries")
    assert tuple(row) == ("trauma code season 2: cast confirmed!", "traumacodeseason2castconfirmed")
    await world.repo.db.execute("UPDATE news_deliveries SET title_normalized = '', title_fingerprint = 'legacy'")
    world.fetcher.set(GNEWS, "Google News", [])
    await world.service.add_feed(G1, GNEWS, created_by=7)
    world.fetcher.add(GNEWS, ("Trauma Code season 2 cast confirmed - Soompi", "http://news.google.test/a",
                              START + timedelta(minutes=9)))
    world.fetcher.add(GNEWS, ("Trauma Code season 2 filming confirmed - Soompi", "http://news.google.test/b",
                              START + timedelta(minutes=10)))
    await world.next_cycle()
    assert world.titles() == ["Trauma Code Season 2: cast confirmed!",
                              "Trauma Code season 2 filming confirmed - Soompi"]
