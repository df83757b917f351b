"""The real `news:poll` job and a `/news check` at the same time, end to end: the real bot on the fake Discord, a feed
from the local feed server whose answers take a second (so one fetch is in flight while the other party starts).
Whichever starts first, both finish, the story is posted once, and a feed the check has just fetched is not fetched
again by the job (the feed's lock, then its row read again: bot/services/news/schedule.py FeedLocks).
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from tests.e2e import test_news
from tests.e2e.news_steps import PAST_THE_INTERVAL, START, pause_poll_job, start_poll_job
from tests.e2e.test_news import configure, news_posts, old_items
from tests.feeds import fixtures
from tests.feeds.builders import Item

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news

SLOW_ANSWER = 1.0  # seconds the feed server takes to answer: the other party starts meanwhile
CHECK_REPLY = {
    "en-US": re.compile(r"Checked 1 feeds: (\d) new items, (\d) posted, 0 failed\."),
    "ko": re.compile(r"피드 1개를 확인했어요: 새 항목 (\d)개, (\d)개 게시, 0개 실패\."),
}


async def requests_reach(world, name: str, count: int) -> None:
    """Wait until the feed server has received `count` requests for the feed (the fetch is then in flight)."""
    async def reached() -> None:
        while world.feeds.requests[name] < count:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(reached(), 10)


async def check_reply(ix, locale: str) -> tuple[int, int]:
    """The deferred, ephemeral `/news check` answer in the member's language: (new items, posted)."""
    assert (await ix.response()).type == 5
    [message] = await ix.followups(1)
    assert message.get("flags", 0) & 64
    match = CHECK_REPLY[locale].fullmatch(message["content"])
    assert match, message["content"]
    return int(match.group(1)), int(match.group(2))


async def follow_slow_feed(fake, world):
    bot = await world.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    world.feeds.set("outlet", "Outlet", old_items())
    ix = await fake.slash(g, g.member("admin"), "news feed add", url=world.feeds.url("outlet"))
    await ix.followups(1)
    route = world.feeds.server.add_item("/outlet", Item(
        title="Season 2 confirmed", link="https://outlet.test/s2", guid="s2", summary="s2",
        published=START + timedelta(minutes=1)))
    route.delay = SLOW_ANSWER
    return bot, g


@pytest.mark.parametrize("locale", ["en-US", "ko"])
async def test_a_check_while_the_poll_job_fetches_waits_for_it_and_the_story_is_posted_once(fake, news, locale):
    bot, g = await follow_slow_feed(fake, news)
    fetched = news.feeds.requests["outlet"]
    job = await start_poll_job(bot, news.clock)  # past the interval: the job polls the feed
    await requests_reach(news, "outlet", fetched + 1)  # the job's fetch is in flight
    check = await fake.slash(g, g.member("admin"), "news check", locale=locale)

    summary = await job
    checked_new, checked_posted = await check_reply(check, locale)
    [post] = news_posts(fake, g.channel("news"))
    assert post["embeds"][0]["title"] == "Season 2 confirmed"
    assert summary.feeds == 1 and summary.new_entries + checked_new == 1  # the story is new once
    assert summary.posted + checked_posted == 1
    # A check always fetches (it is asked for), but conditionally: the job's answer's validators were kept.
    assert news.feeds.requests["outlet"] == fetched + 2 and news.feeds.not_modified["outlet"] == 1


@pytest.mark.parametrize("locale", ["en-US", "ko"])
async def test_the_poll_job_during_a_check_does_not_fetch_the_feed_again_and_the_story_is_posted_once(
        fake, news, locale):
    bot, g = await follow_slow_feed(fake, news)
    fetched = news.feeds.requests["outlet"]
    await pause_poll_job(bot)  # no automatic run in between: the job runs when this test starts it below
    news.clock.now += PAST_THE_INTERVAL  # the feed is due: the job would poll it, but a check comes first
    check = await fake.slash(g, g.member("admin"), "news check", locale=locale)
    await requests_reach(news, "outlet", fetched + 1)  # the check's fetch is in flight
    job = await start_poll_job(bot, news.clock, timedelta(0))  # reads the feed as due, waits for its lock

    checked_new, checked_posted = await check_reply(check, locale)
    summary = await job  # ended: whatever it would have fetched, it has
    assert checked_new == 1
    assert news.feeds.requests["outlet"] == fetched + 1  # the check fetched it; the job saw it no longer due
    assert summary.feeds == 0 and summary.new_entries == 0
    [post] = news_posts(fake, g.channel("news"))
    assert post["embeds"][0]["title"] == "Season 2 confirmed"
    assert summary.posted + checked_posted == 1
