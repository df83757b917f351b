"""A feed body whose bytes did not change since the last fetch is not parsed again and posts nothing, also from
servers that ignore conditional requests (no ETag/Last-Modified, or a new ETag on every answer). End to end: the
real bot on the fake Discord, feeds from the local feed server, polls run by the real `news:poll` scheduler job
after moving the injected clock past the interval (news_steps.run_poll_job).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.harness import BotRunner
from tests.e2e.news_steps import START, Clock, fetch_outcomes, run_poll_job
from tests.feeds import fixtures
from tests.feeds.builders import Item, korean_outlet, rss2

feed_server = fixtures.feed_server


@pytest.fixture
async def running(fake, tmp_path):
    clock = Clock()
    runner = BotRunner(fake, tmp_path / "news.db", clock=clock)
    bot = await runner.start()
    guild = fake.default_guild
    await bot.settings_service.update(guild.id, news_channel_id=guild.channel("news").id,
                                      news_ping_role_id=guild.role("News Ping").id)
    try:
        yield bot, clock
    finally:
        await runner.stop()


def parses(bot) -> int:
    return bot.get_cog("NewsCog").service.parser.parses


def posted_titles(fake, channel) -> list[str]:
    return [m["embeds"][0]["title"] for m in fake.messages_in(channel) if m.get("embeds")]


async def answer(ix) -> str:
    resp = await ix.response()
    if resp.type == 5:
        [message] = await ix.followups(1)
        return message["content"]
    return resp.content


OLD = datetime(2025, 5, 30, tzinfo=UTC)
ENGLISH = (
    "season 2",
    lambda items: rss2("Plain Outlet", items),
    [Item("Old casting story", "https://plain.test/old", guid="old", summary="<p>Old</p>", published=OLD)],
    Item("Trauma Code Season 2 filming starts", "https://plain.test/s2", guid="s2", summary="<p>New</p>",
         published=START),
)
KOREAN = (
    "시즌2",
    lambda items: korean_outlet(items, encoding="euc-kr", declare_encoding=False),  # EUC-KR, no declaration
    [Item("옛날 기사", "https://www.example.co.kr/1", guid="k1", summary="<p>옛날</p>", published=OLD)],
    Item("중증외상센터 시즌2 촬영 시작", "https://www.example.co.kr/2", guid="k2", summary="<p>촬영</p>",
         published=START),
)


@pytest.mark.parametrize(("keyword", "render", "items", "new_item"), [ENGLISH, KOREAN], ids=["english", "korean"])
async def test_an_unchanged_body_without_validators_is_fetched_but_not_parsed_and_posts_nothing(
        fake, running, feed_server, keyword, render, items, new_item):
    bot, clock = running
    g = fake.default_guild
    admin, channel = g.member("admin"), g.channel("news")
    # A server that ignores conditional requests: no ETag, no Last-Modified, always the whole body.
    feed_server.serve("/plain.xml", render(items), conditional=False)
    await answer(await fake.slash(g, admin, "news keywords add", keyword=keyword))
    await answer(await fake.slash(g, admin, "news feed add", url=feed_server.url("/plain.xml")))
    assert parses(bot) == 1 and feed_server.request_count("/plain.xml") == 1

    await run_poll_job(bot, clock)  # the same bytes again
    assert feed_server.request_count("/plain.xml") == 2
    assert parses(bot) == 1
    assert posted_titles(fake, channel) == []
    assert fetch_outcomes(bot).get("unchanged") == 1

    feed_server.serve("/plain.xml", render([new_item, *items]), conditional=False)  # the feed changes
    await run_poll_job(bot, clock)
    assert parses(bot) == 2
    assert posted_titles(fake, channel) == [new_item.title]

    await run_poll_job(bot, clock)  # unchanged again: fetched, not parsed, nothing posted twice
    await answer(await fake.slash(g, admin, "news check"))  # `/news check` too
    assert feed_server.request_count("/plain.xml") == 5
    assert parses(bot) == 2
    assert posted_titles(fake, channel) == [new_item.title]
    assert fetch_outcomes(bot).get("unchanged") == 3


async def test_the_same_body_under_a_new_etag_is_not_parsed_and_the_new_etag_is_sent_next_time(
        fake, running, feed_server):
    bot, clock = running
    g = fake.default_guild
    body = rss2("Etag Churn", ENGLISH[2])
    # A server that sends a new ETag with every answer and never answers 304 (as some CDNs do).
    feed_server.serve("/churn.xml", body, conditional=False, headers={"ETag": '"v1"'})
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=feed_server.url("/churn.xml")))
    for etag in ('"v2"', '"v3"'):
        feed_server.serve("/churn.xml", body, conditional=False, headers={"ETag": etag})
        await run_poll_job(bot, clock)
    sent = [headers.get("If-None-Match") for path, headers in feed_server.requests if path == "/churn.xml"]
    assert sent == [None, '"v1"', '"v2"']  # each answer's ETag was kept, though its body was not parsed
    assert parses(bot) == 1
    assert posted_titles(fake, g.channel("news")) == []
