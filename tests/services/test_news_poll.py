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

    async def notify(self, guild_id: int, key: str, **params) -> bool:
        self.notices.append((guild_id, key, params))
        return True


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

    def posting_with(self, poster):
        """The service built with another Discord stand-in (same database, fetcher and clock); returns it."""
        self.poster = poster
        self.service = NewsService(self.repo, self.fetcher, poster, self.settings, clock=self.clock,
                                   rng=random.Random(7))
        return poster


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
    assert world.titles() == ["Season 2 after resume"]  # what appeared while paused was skipped, as promised


async def test_a_paused_server_skips_what_other_servers_get_meanwhile(world):
    mine = await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    await world.service.set_paused(G1, mine.subscription.id, True)
    world.fetcher.add(FEED, item("Polled for G2 while G1 paused", 3))
    await world.next_cycle()
    world.fetcher.add(FEED, item("Not polled yet when G1 resumes", 4, 1))
    await world.service.set_paused(G1, mine.subscription.id, False)
    await world.service.deliver_pending()
    world.fetcher.add(FEED, item("After resume", 5, 2))
    await world.next_cycle()
    assert [(p.guild_id, p.title) for p in world.poster.posts] == [
        (G2, "Polled for G2 while G1 paused"), (G2, "Not polled yet when G1 resumes"),
        (G1, "After resume"), (G2, "After resume")]


async def test_resuming_an_unreachable_feed_keeps_it_paused_and_says_why(world):
    added = await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.set_paused(G1, added.subscription.id, True)
    world.fetcher.add(FEED, item("While paused", 3))
    world.fetcher.broken.add(FEED)
    with pytest.raises(NewsError, match=r"news\.feed\.resume_failed"):
        await world.service.set_paused(G1, added.subscription.id, False)
    assert (await world.repo.get_subscription(G1, added.subscription.id)).paused
    world.fetcher.broken.clear()
    await world.service.set_paused(G1, added.subscription.id, False)
    await world.next_cycle()
    assert world.titles() == []


async def test_transient_post_failure_is_retried_in_order_and_permanent_one_is_reported(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [PostError("unavailable: 503", permanent=False)]
    await world.next_cycle()
    assert world.titles() == []  # the channel rests after a transient failure; nothing is lost
    await world.service.tick()
    assert world.titles() == []  # A backs off, and B waits behind it
    world.clock.advance(seconds=31)
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

    world.posting_with(DiesAfterSending())
    with pytest.raises(asyncio.CancelledError):
        await world.next_cycle()
    delivered = world.poster.posts
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


async def test_news_check_polls_this_servers_active_feeds_now_due_or_not(world):
    """The rate limit of /news check is the command's cooldown (tests/e2e/test_news.py); the service polls."""
    other = "http://feeds.test/other.xml"
    world.fetcher.set(other, "Other", [])
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, other, created_by=8)
    world.fetcher.calls.clear()
    summary = await world.service.check_guild(G1)
    assert summary.feeds == 1 and world.fetcher.calls == {FEED: 1}
    world.fetcher.add(FEED, item("Season 2 news", 3))
    summary = await world.service.check_guild(G1)  # not due, polled anyway
    assert (summary.feeds, summary.new_entries, summary.posted) == (1, 1, 1)
    assert world.fetcher.calls == {FEED: 2}
    [subscription] = await world.repo.subscriptions_of_guild(G1)
    await world.service.set_paused(G1, subscription.subscription.id, True)
    with pytest.raises(NewsError, match=r"news\.check\.no_feeds"):
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


# --- delivery failures: temporary ones back off and never count toward giving up -------------------------------

OUTAGE = PostError("unavailable: 503", permanent=False, maybe_posted=True)


class CheckingPoster(RecordingPoster):
    """Discord stand-in whose failed sends may still have been stored (`accepted`), with a channel history check
    that finds them, and a count of those checks."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[PostError] = []  # errors answered although the message was posted
        self.checks = 0

    async def post(self, post: NewsPost) -> int:
        if self.accepted:
            self.posts.append(post)
            raise self.accepted.pop(0)
        return await super().post(post)

    async def find_posted(self, channel_id, link, title, since):
        self.checks += 1
        return next((5000 + i for i, p in enumerate(self.posts) if p.link == link and p.channel_id == channel_id),
                    None)


async def _tick_when_retry_due(world) -> None:
    pending = await world.repo.pending_deliveries()
    due = min((d.next_attempt_at for d in pending if d.next_attempt_at), default=None)
    if due is not None:
        world.clock.now = max(world.clock.now, datetime.fromtimestamp(due, UTC))
    await world.service.tick()


async def test_a_discord_outage_delays_stories_with_capped_backoff_and_loses_none(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [OUTAGE] * 10  # every retry fails for a while (an outage of about an hour)
    await world.next_cycle()
    delays = []
    while world.poster.failures:
        before = int(world.clock.now.timestamp())
        [first, _] = await world.repo.pending_deliveries()
        delays.append(first.next_attempt_at - before)
        await _tick_when_retry_due(world)
    await _tick_when_retry_due(world)
    assert delays == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert world.titles() == ["A", "B"]
    assert world.poster.notices == []
    assert await world.repo.count_deliveries(G1, "failed") == 0


async def test_a_send_answered_with_5xx_or_a_timeout_is_looked_for_before_it_is_sent_again(world):
    poster = world.posting_with(CheckingPoster())
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Stored although the answer was an error", 3, 1))
    world.fetcher.add(FEED, item("Next story", 4, 2))
    poster.accepted = [PostError("unavailable: timeout", permanent=False, maybe_posted=True)]
    await world.next_cycle()
    [pending, _] = await world.repo.pending_deliveries()
    assert pending.attempted_at is not None  # kept: the next try checks the channel first
    await _tick_when_retry_due(world)
    assert [p.title for p in poster.posts] == ["Stored although the answer was an error", "Next story"]
    assert poster.checks == 1 and await world.repo.count_deliveries(G1, "sent") == 2


async def test_a_429_or_408_answer_is_retried_without_a_channel_check(world):
    poster = world.posting_with(CheckingPoster())
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    poster.failures = [PostError("unavailable: 429", permanent=False), PostError("unavailable: 408", permanent=False)]
    await world.next_cycle()
    [pending] = await world.repo.pending_deliveries()
    assert (pending.attempted_at, pending.retries) == (None, 1)  # Discord refused it: nothing was posted
    await _tick_when_retry_due(world)
    await _tick_when_retry_due(world)
    assert [p.title for p in poster.posts] == ["A"] and poster.checks == 0


async def test_a_story_failing_for_a_day_is_given_up_and_admins_are_told_once(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [OUTAGE] * 3
    await world.next_cycle()
    world.clock.advance(hours=25)
    await world.service.tick()  # A and B fail again, a day after they were queued: both given up
    await world.service.tick()
    assert world.titles() == []
    assert [(g, key, params["count"]) for g, key, params in world.poster.notices] == [
        (G1, "news.notice.gave_up", 2)]
    assert world.poster.notices[0][2]["reason"] == "unavailable: 503"
    assert await world.repo.count_deliveries(G1, "failed") == 2
    world.fetcher.add(FEED, item("C", 5, 3))
    await world.next_cycle()
    assert world.titles() == ["C"]


async def test_a_story_whose_send_never_finishes_is_given_up_after_max_attempts_with_a_notice(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Kills the process", 3, 1))
    world.posting_with(RecordingPoster(failures=[asyncio.CancelledError()] * 5))
    with pytest.raises(asyncio.CancelledError):
        await world.next_cycle()
    for _ in range(4):
        with pytest.raises(asyncio.CancelledError):
            await world.service.tick()
    assert world.poster.failures == []
    await world.service.tick()
    assert [key for _, key, _ in world.poster.notices] == ["news.notice.gave_up"]
    assert await world.repo.count_deliveries(G1, "failed") == 1


async def test_a_backlog_in_a_waiting_channel_does_not_hide_other_channels(world, monkeypatch):
    from bot.services.news import delivery

    monkeypatch.setattr(delivery, "DELIVERY_BATCH", 2)  # a page smaller than the waiting channel's backlog
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.poster.failures = [OUTAGE]
    for n in range(5):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))
    await world.next_cycle()  # G1's channel failed on its first story and waits; G2 got all five
    g2_before = len(world.titles(G2))
    assert world.titles(G1) == [] and g2_before == 5
    await world.repo.db.execute("UPDATE news_deliveries SET next_attempt_at = ? WHERE guild_id = ? AND state = "
                                "'pending'", (int(world.clock.now.timestamp()) + 3600, G1))
    world.fetcher.add(FEED, item("Newest", 20, 30))
    await world.next_cycle()
    assert world.titles(G1) == [] and world.titles(G2)[g2_before:] == ["Newest"]


async def test_the_delivery_lock_is_held_until_every_channel_task_finished(world, caplog):
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.fetcher.add(FEED, item("Story", 3))
    release, broken, sending = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class OneBrokenOneSlow(RecordingPoster):
        async def post(self, post):
            if post.guild_id == G1:
                broken.set()
                raise RuntimeError("bug in rendering")
            sending.set()
            await release.wait()
            return await super().post(post)

    poster = world.posting_with(OneBrokenOneSlow())
    world.clock.advance(minutes=12)
    running = asyncio.create_task(world.service.tick())
    await asyncio.wait_for(asyncio.gather(broken.wait(), sending.wait()), 5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not running.done() and world.service.deliverer.lock.locked()  # G2's send is still under way
    second = asyncio.create_task(world.service.deliver_pending())  # must wait for the first run
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second.done()
    release.set()
    await running
    assert await second == 0
    assert [(p.guild_id, p.title) for p in poster.posts] == [(G2, "Story")]
    assert "delivering news to channel" in caplog.text


@pytest.mark.parametrize("action", ["pause", "remove"])
async def test_pausing_or_removing_a_feed_drops_its_queued_stories_but_not_one_being_sent(world, action):
    added = await world.service.add_feed(G1, FEED, created_by=7)
    for n in range(3):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))
    poster = world.posting_with(CheckingPoster())
    poster.accepted = [OUTAGE]  # the first send may have reached Discord: it must be reconciled, not dropped
    await world.next_cycle()
    [in_doubt, _, _] = await world.repo.pending_deliveries()
    assert in_doubt.attempted_at is not None
    if action == "pause":
        await world.service.set_paused(G1, added.subscription.id, True)
    else:
        await world.service.remove_feed(G1, added.subscription.id)
    assert [d.id for d in await world.repo.pending_deliveries()] == [in_doubt.id]
    await _tick_when_retry_due(world)
    assert [p.title for p in poster.posts if p.guild_id == G1] == ["Story 0"]  # reconciled, not posted again
    assert poster.checks == 1 and await world.repo.pending_deliveries() == []



async def test_server_wide_exclusions_apply_to_feeds_with_their_own_keywords(world):
    other = "http://feeds.test/other.xml"
    world.fetcher.set(other, "Other", [])
    sub = await world.service.add_feed(G1, other, created_by=7, keywords=["season 2", "-rumor"])
    await world.service.add_keyword(G1, "trauma code")  # replaced by the feed's own includes there
    await world.service.add_keyword(G1, "-spoiler")  # applies everywhere: exclusions win
    world.fetcher.add(other, ("Season 2 spoiler leak", "http://other.test/1", START))
    world.fetcher.add(other, ("Season 2 rumor", "http://other.test/2", START + timedelta(minutes=1)))
    world.fetcher.add(other, ("Trauma Code cast interview", "http://other.test/3", START + timedelta(minutes=2)))
    world.fetcher.add(other, ("Season 2 filming begins", "http://other.test/4", START + timedelta(minutes=3)))
    await world.next_cycle()
    assert world.titles() == ["Season 2 filming begins"]
    assert [k.raw for k in await world.service.list_keywords(G1, sub.subscription.id)] == ["season 2", "-rumor"]



async def test_failure_notice_has_a_short_url_and_is_retried_until_it_could_be_posted(world):
    long_url = "http://feeds.test/" + "very-long-path/" * 130 + "feed.xml"
    world.fetcher.set(long_url, "Long", [])
    await world.service.add_feed(G1, long_url, created_by=7)
    world.fetcher.broken.add(long_url)
    delivered = []

    async def log_channel_down_at_first(guild_id, key, **params):
        delivered.append((key, params))
        return len(delivered) > 1  # the first notice could not be posted

    world.poster.notify = log_channel_down_at_first
    for _ in range(5):
        world.clock.advance(days=1)
        await world.service.tick()
    assert [key for key, _ in delivered] == ["news.notice.failing", "news.notice.failing"]
    assert all(len(params["url"]) <= 200 for _, params in delivered)
    assert (await world.repo.subscriptions_of_guild(G1))[0].subscription.failure_notice_sent


async def test_stories_for_a_server_the_bot_left_while_offline_are_not_sent_and_its_feeds_pause(world):
    present = {G1, G2}
    service = NewsService(world.repo, world.fetcher, world.poster, world.settings, clock=world.clock,
                          in_guild=present.__contains__)
    await service.add_feed(G1, FEED, created_by=7)
    await service.add_feed(G2, FEED, created_by=8)
    present.discard(G2)  # removed while the bot was offline: no GUILD_DELETE ever came
    world.fetcher.add(FEED, item("Season 2 news", 3))
    world.clock.advance(minutes=12)
    await service.tick()
    assert [p.guild_id for p in world.poster.posts] == [G1]
    assert await world.repo.count_deliveries(G2, "pending") == 0
    assert [s.subscription.paused for s in await world.repo.subscriptions_of_guild(G2)] == [True]
    assert [s.subscription.paused for s in await world.repo.subscriptions_of_guild(G1)] == [False]


async def test_stories_for_a_deleted_channel_wait_with_one_notice_and_are_given_up_after_a_day(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.poster.failures.append(PostError("channel_missing", permanent=True))
    world.fetcher.add(FEED, item("Season 2 news", 3))
    await world.next_cycle()
    world.fetcher.add(FEED, item("Season 2 more news", 4))
    await world.next_cycle()
    assert [key for _, key, _ in world.poster.notices] == ["news.notice.channel_gone"]
    assert await world.repo.count_deliveries(G1, "pending") == 2 and world.poster.posts == []
    world.clock.advance(hours=25)
    await world.service.tick()
    assert await world.repo.count_deliveries(G1, "failed") == 2 and world.poster.posts == []
    assert [key for _, key, _ in world.poster.notices][1:] == ["news.notice.gave_up"]


@pytest.mark.parametrize("action", ["pause", "remove", "leave"])
async def test_stories_already_read_for_sending_are_not_posted_after_their_feed_stops(world, action):
    """The delivery run reads a batch, then an admin pauses/removes the feed (or the bot leaves) while the first
    story is being sent: the rest of the batch must not go out."""
    added = await world.service.add_feed(G1, FEED, created_by=7)
    for n, title in enumerate(["Season 2 casting", "Filming starts in Seoul", "Ratings record"]):
        world.fetcher.add(FEED, item(title, 10 + n, n))
    stops = {
        "pause": lambda: world.service.set_paused(G1, added.subscription.id, True),
        "remove": lambda: world.service.remove_feed(G1, added.subscription.id),
        "leave": lambda: world.service.leave_guild(G1),
    }

    class StoppedDuringFirstSend(RecordingPoster):
        async def post(self, post):
            if not self.posts:
                await stops[action]()
            return await super().post(post)

    poster = world.posting_with(StoppedDuringFirstSend())
    await world.next_cycle()
    # The other two were queued, then dropped: deleted (pause, remove) or failed (the bot left).
    assert await world.repo.count_deliveries(G1, "failed") == (2 if action == "leave" else 0)
    assert await world.repo.count_deliveries(G1) == (3 if action == "leave" else 1)
    assert [p.title for p in poster.posts] == ["Season 2 casting"]
    assert await world.repo.pending_deliveries() == []
    world.clock.advance(hours=1)
    await world.service.tick()
    assert [p.title for p in poster.posts] == ["Season 2 casting"]


class DeletedChannelPoster(RecordingPoster):
    """Channels in `deleted` answer 404 (the cog's PostError "channel_missing"); counts those attempts."""

    def __init__(self, deleted: set[int]) -> None:
        super().__init__()
        self.deleted = deleted
        self.refused = 0

    async def post(self, post: NewsPost) -> int:
        if post.channel_id in self.deleted:
            self.refused += 1
            raise PostError("channel_missing", permanent=True)
        return await super().post(post)


async def test_a_deleted_feed_channel_falls_back_to_the_news_channel_with_its_waiting_stories(world):
    feed_channel = 777
    added = await world.service.add_feed(G1, FEED, created_by=7, channel_id=feed_channel)
    poster = world.posting_with(DeletedChannelPoster({feed_channel}))
    world.fetcher.add(FEED, item("Season 2 casting", 3, 1))
    world.fetcher.add(FEED, item("Filming starts in Seoul", 4, 2))
    await world.next_cycle()
    assert [(p.title, p.channel_id) for p in poster.posts] == [
        ("Season 2 casting", G1 * 10), ("Filming starts in Seoul", G1 * 10)]  # same run, in order
    assert poster.refused == 1
    assert [(key, params) for _, key, params in poster.notices] == [
        ("news.notice.feed_channel_gone", {"channel_id": feed_channel, "news_channel_id": G1 * 10})]
    assert (await world.repo.get_subscription(G1, added.subscription.id)).channel_id is None
    world.fetcher.add(FEED, item("Ratings record", 5, 3))
    await world.next_cycle()  # later stories go straight to the news channel
    assert [(p.title, p.channel_id) for p in poster.posts][2:] == [("Ratings record", G1 * 10)]
    assert poster.refused == 1 and len(poster.notices) == 1


async def test_a_deleted_feed_channel_without_a_news_channel_waits_until_one_is_set(world):
    feed_channel = 777
    await world.settings.update(G1, news_channel_id=None)
    await world.service.add_feed(G1, FEED, created_by=7, channel_id=feed_channel)
    poster = world.posting_with(DeletedChannelPoster({feed_channel}))
    world.fetcher.add(FEED, item("Season 2 casting", 3, 1))
    await world.next_cycle()
    await world.next_cycle()
    assert poster.posts == [] and poster.refused == 1
    assert [key for _, key, _ in poster.notices] == ["news.notice.channel_gone"]
    assert await world.repo.count_deliveries(G1, "pending") == 1
    await world.settings.update(G1, news_channel_id=G1 * 10)  # /config channel
    await world.next_cycle()
    assert [(p.title, p.channel_id) for p in poster.posts] == [("Season 2 casting", G1 * 10)]
    assert [key for _, key, _ in poster.notices][1:] == ["news.notice.feed_channel_gone"]
