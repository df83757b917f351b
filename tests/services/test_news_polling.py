"""Polling news feeds: no backlog, one fetch per URL for all servers, 304s, cross-feed dedupe, oldest first,
failing feeds (backoff, one notice, recovery) and `/news check` (tests/services/news_world.py has the stand-ins).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.news import NewsError
from tests.services import news_world
from tests.services.news_world import (
    FEED,
    G1,
    G2,
    GNEWS,
    START,
    RecordingPoster,
    item,
)

world = news_world.world


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


async def test_failure_notice_has_a_short_url_and_is_retried_until_it_could_be_posted(world):
    long_url = "http://feeds.test/" + "very-long-path/" * 130 + "feed.xml"
    world.fetcher.set(long_url, "Long", [])
    await world.service.add_feed(G1, long_url, created_by=7)
    world.fetcher.broken.add(long_url)
    delivered = []

    class LogChannelDownAtFirst(RecordingPoster):
        async def notify(self, guild_id, key, **params):
            delivered.append((key, params))
            return len(delivered) > 1  # the first notice could not be posted

    world.posting_with(LogChannelDownAtFirst())
    for _ in range(5):
        world.clock.advance(days=1)
        await world.service.tick()
    assert [key for key, _ in delivered] == ["news.notice.failing", "news.notice.failing"]
    assert all(len(params["url"]) <= 200 for _, params in delivered)
    assert (await world.repo.subscriptions_of_guild(G1))[0].subscription.failure_notice_sent


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
