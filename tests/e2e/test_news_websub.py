"""WebSub push end to end: the real bot with its web companion (public URL set), a feed that advertises a local hub
(tests/feeds/hub.py), the hub's verification of intent, signed pushes, lease renewal and unsubscribing. Polls (the
safety net, lease upkeep) are run by the real `news:poll` job after moving the injected clock (news_steps.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest

from tests.e2e import test_news
from tests.e2e.harness import BotRunner, free_port
from tests.e2e.news_steps import Clock
from tests.e2e.test_news import (
    POST_MESSAGE,
    START,
    NewsFeeds,
    NewsWorld,
    answer,
    configure,
    news_posts,
)
from tests.feeds import fixtures
from tests.feeds.builders import Item, rss2
from tests.feeds.hub import LocalHub, with_hub

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news


@pytest.fixture
async def hub():
    local = LocalHub(lease_seconds=3600)
    await local.start()
    try:
        yield local
    finally:
        await local.close()


@pytest.fixture
async def pushed(fake, feed_server, tmp_path):
    """The news world with the web companion on a free port and CODEBLUE_PUBLIC_URL pointing at it."""
    port = free_port()
    clock = Clock()
    runner = BotRunner(fake, tmp_path / "news.db", clock=clock,
                       env={"CODEBLUE_WEB_PORT": str(port), "CODEBLUE_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    world = NewsWorld(fake, runner, clock, NewsFeeds(feed_server))
    world.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        yield world
    finally:
        await runner.stop()


def item(title: str, slug: str, minutes: int) -> Item:
    link = f"https://outlet.test/{slug}"
    return Item(title=title, link=link, guid=link, summary=title, published=START + timedelta(minutes=minutes))


def serve(world, items: list[Item], hub: LocalHub, *, header: bool = False) -> str:
    """Serve the feed at /pushed, advertising the hub in the feed (or in a Link header); returns its URL (topic)."""
    url = world.feeds.url("pushed")
    body = rss2("Pushed Daily", items[::-1])
    if header:
        world.feeds.server.serve("/pushed", body, headers={"Link": f'<{hub.url}>; rel="hub", <{url}>; rel="self"'})
    else:
        world.feeds.server.serve("/pushed", with_hub(body, hub.url, url))
    return url


async def follow_and_subscribe(fake, world, hub: LocalHub, items: list[Item], *, header: bool = False) -> str:
    bot = await world.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    topic = serve(world, items, hub, header=header)
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=topic))  # finds the hub, subscribes
    await hub.wait_until(lambda: bool(hub.verified("subscribe", topic)))
    return topic


async def test_pushed_story_is_posted_within_seconds_once_and_bad_signatures_are_refused(fake, pushed, hub):
    g = fake.default_guild
    channel = g.channel("news")
    old = [item("Old story", "old", -60)]
    topic = await follow_and_subscribe(fake, pushed, hub, old)
    [request] = hub.requests
    assert request.form["hub.callback"].startswith(f"{pushed.base}/websub/")
    assert len(request.form["hub.secret"]) >= 32 and request.form["hub.topic"] == topic
    assert request.answer is not None and request.answer[0] == 200

    # Pushed feeds are polled at the slower safety-net interval: the next regular poll does not fetch it.
    fetched = pushed.feeds.requests["pushed"]
    await pushed.next_cycle()
    assert pushed.feeds.requests["pushed"] == fetched

    # A forged push (wrong secret, no signature, sha1, unknown callback) is refused and nothing is read from it.
    forged = [*old, item("Forged scoop", "forged", 1)]
    forged_body = rss2("Pushed Daily", forged[::-1])
    assert await hub.publish(topic, forged_body, sign_with="not-the-secret") == [403]
    assert await hub.publish(topic, forged_body, signature="") == [403]
    assert await hub.publish(topic, forged_body, header="X-Hub-Signature", algorithm="sha1") == [403]
    async with aiohttp.ClientSession() as http, http.post(f"{pushed.base}/websub/unknown-token",
                                                           data=forged_body) as response:
        assert response.status == 404

    # Signed but not a feed: refused without effect.
    assert await hub.publish(topic, b"<html>not a feed</html>", content_type="text/html") == [400]

    # An authentic push (also via X-Hub-Signature with sha256) is posted within seconds, exactly like a poll would.
    current = [*old, item("Season 2 confirmed", "s2", 2)]
    serve(pushed, current, hub)
    mark = fake.mark()
    started = asyncio.get_running_loop().time()
    assert await hub.publish(topic, rss2("Pushed Daily", current[::-1])) == [202]
    await fake.wait_for_request(*POST_MESSAGE, since=mark, timeout=5)
    assert asyncio.get_running_loop().time() - started < 5
    assert [p["embeds"][0]["title"] for p in news_posts(fake, channel)] == ["Season 2 confirmed"]
    assert news_posts(fake, channel)[0]["mention_roles"] == [str(g.role("News Ping").id)]

    # The same story pushed again, and then polled by the safety net: still one post.
    later = [*current, item("Cast returns", "cast", 3)]
    serve(pushed, later, hub)
    mark = fake.mark()
    assert await hub.publish(topic, rss2("Pushed Daily", later[::-1]), header="X-Hub-Signature") == [202]
    await fake.wait_for_request(*POST_MESSAGE, since=mark, timeout=5)
    await pushed.next_cycle(hours=2)
    assert pushed.feeds.requests["pushed"] == fetched + 1  # the safety-net poll
    titles = [p["embeds"][0]["title"] for p in news_posts(fake, channel)]
    assert titles == ["Season 2 confirmed", "Cast returns"]  # the forged story never, the others once


async def test_lease_is_renewed_before_expiry_and_unsubscribed_when_no_server_follows(fake, pushed, hub):
    g = fake.default_guild
    topic = await follow_and_subscribe(fake, pushed, hub, [item("Old story", "old", -60)], header=True)
    [first] = hub.requests
    # The hub's verification with another topic, or of a mode the bot did not ask for, is refused.
    async with aiohttp.ClientSession() as http:
        for params in ({"hub.mode": "subscribe", "hub.topic": "https://other.test/feed", "hub.challenge": "x"},
                       {"hub.mode": "unsubscribe", "hub.topic": topic, "hub.challenge": "x"}):
            async with http.get(first.form["hub.callback"], params=params) as response:
                assert response.status == 404

    await pushed.next_cycle(minutes=30)
    assert len(hub.requests) == 1  # lease far from its end: nothing sent
    await pushed.next_cycle(seconds=3600 - 30 * 60 - 120)  # two minutes before the lease ends
    await hub.wait_until(lambda: len(hub.verified("subscribe", topic)) == 2)
    renewal = hub.requests[1]
    assert renewal.form["hub.callback"] == first.form["hub.callback"]
    assert renewal.form["hub.secret"] == first.form["hub.secret"]

    [feed] = await pushed.service.list_feeds(g.id)
    await answer(await fake.slash(g, g.member("admin"), "news feed remove", feed=str(feed.subscription.id)))
    await pushed.next_cycle(seconds=0)
    await hub.wait_until(lambda: bool(hub.verified("unsubscribe", topic)))
    assert hub.subscribers == {}
    assert await pushed.service.repo.all_websubs() == []
    await pushed.next_cycle(seconds=0)
    assert [r.form["hub.mode"] for r in hub.requests] == ["subscribe", "subscribe", "unsubscribe"]


async def test_without_a_public_url_no_hub_is_contacted(fake, news, hub):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    url = news.feeds.url("pushed")
    news.feeds.server.serve("/pushed", with_hub(rss2("Pushed Daily", []), hub.url, url))
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=url))
    await news.next_cycle()
    await news.next_cycle()
    assert hub.requests == [] and news.feeds.requests["pushed"] == 3  # polled at the normal interval



async def test_a_request_the_hub_never_verifies_is_sent_again_and_a_denied_one_is_dropped(fake, pushed, hub):
    hub.verify_intent = False
    bot = await pushed.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    topic = serve(pushed, [item("Old story", "old", -60)], hub)
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=topic))
    assert len(hub.requests) == 1
    await pushed.next_cycle(minutes=30)
    assert len(hub.requests) == 1  # still waiting for the hub
    await pushed.next_cycle(minutes=31)
    first, again = hub.requests
    assert again.form["hub.callback"] == first.form["hub.callback"] and again.form["hub.mode"] == "subscribe"

    async with aiohttp.ClientSession() as http, http.get(
            first.form["hub.callback"], params={"hub.mode": "denied", "hub.topic": topic}) as response:
        assert response.status == 200
    assert await pushed.service.repo.all_websubs() == []
    [feed] = await pushed.service.list_feeds(g.id)
    assert feed.feed.next_poll_at - pushed.service.poller.schedule.now() <= 11 * 60  # polled at the normal pace
