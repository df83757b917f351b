"""Following news feeds: adding (with the newest item), keywords per server and per feed, refused input, pausing
and resuming, and `/news test` (tests/services/news_world.py has the stand-ins).
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
    START,
    item,
)

world = news_world.world


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


async def test_test_feed_reports_matches_and_writes_nothing(world):
    await world.service.add_keyword(G1, "season 2")
    world.fetcher.add(FEED, item("Season 2 teaser", 3))
    report = await world.service.test_feed(G1, FEED)
    assert (report.title, report.entries) == ("Outlet", 3)
    assert [(m.title, m.keyword) for m in report.matching] == [("Season 2 teaser", "season 2")]
    assert await world.service.list_feeds(G1) == [] and world.poster.posts == []
