"""News alerts end to end: the real bot on the fake Discord, feeds from a local HTTP server, an injected clock.

Polls are triggered by calling the service method the `news:poll` job calls (`NewsService.tick`) after moving the
injected clock past the interval, or with `/news check`; nothing waits for the real interval.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest
from aiohttp import web

from tests.e2e.harness import BotRunner

EPHEMERAL = 64
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POST_MESSAGE = ("POST", "/channels/{channel_id}/messages")


def rss(title: str, items: list[tuple[str, str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<description>&lt;p&gt;{escape(t)} &amp;amp; more&lt;/p&gt;</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for t, link, when in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>https://outlet.test/</link><description>d</description>{body}</channel></rss>").encode()


class FeedServer:
    """Minimal feed server on 127.0.0.1 (ETag + 304, per-path request counts, forced errors).

    Stand-in until tests/feeds (the news-domain helper's `feed_server`) lands; see the report.
    """

    def __init__(self) -> None:
        self.feeds: dict[str, tuple[str, list]] = {}
        self.requests: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.failing: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def set(self, name: str, title: str, items: list) -> None:
        self.feeds[name] = (title, list(items))

    def add(self, name: str, title: str, link: str, when: datetime) -> None:
        self.feeds[name][1].append((title, link, when))

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[name] += 1
        if name in self.failing:
            return web.Response(status=self.failing[name], text="down")
        if name not in self.feeds:
            return web.Response(status=404, text="no such feed")
        title, items = self.feeds[name]
        body = rss(title, items)
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified[name] += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", charset="utf-8", headers={"ETag": etag})


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class NewsWorld:
    fake: object
    runner: BotRunner
    clock: Clock
    feeds: FeedServer

    @property
    def bot(self):
        return self.runner.bot

    @property
    def service(self):
        return self.bot.get_cog("NewsCog").service

    async def next_cycle(self):
        self.clock.advance(minutes=11)
        return await self.service.tick()


@pytest.fixture
async def feeds():
    server = FeedServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def news(fake, feeds, tmp_path):
    clock = Clock()
    runner = BotRunner(fake, tmp_path / "news.db", clock=clock)
    world = NewsWorld(fake, runner, clock, feeds)
    try:
        yield world
    finally:
        await runner.stop()


async def configure(bot, guild, *, log: bool = True) -> None:
    await bot.settings_service.update(
        guild.id, news_channel_id=guild.channel("news").id, news_ping_role_id=guild.role("News Ping").id,
        log_channel_id=guild.channel("bot-log").id if log else None,
    )


async def answer(ix) -> tuple[str, bool]:
    """The text of the bot's answer (direct or after a defer) and whether it was ephemeral."""
    resp = await ix.response()
    if resp.type == 5:
        [message] = await ix.followups(1)
        return message["content"], bool(message.get("flags", 0) & EPHEMERAL)
    return resp.content, resp.ephemeral


def old_items(prefix: str = "https://outlet.test/old") -> list:
    return [("Old story one", f"{prefix}/1", START - timedelta(days=2)),
            ("Old story two", f"{prefix}/2", START - timedelta(days=1))]


def news_posts(fake, channel) -> list[dict]:
    return [m for m in fake.messages_in(channel) if m.get("embeds")]


async def test_feed_add_posts_no_backlog_then_one_alert_with_only_the_role_and_no_repost_after_restart(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    channel, role = g.channel("news"), g.role("News Ping")
    await configure(bot, g)
    news.feeds.set("outlet", "Outlet Daily", old_items())

    ix = await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet"))
    content, ephemeral = await answer(ix)
    assert ephemeral
    assert content == (f"Following **Outlet Daily**: 2 current items were marked as seen, so only new ones will be "
                       f"posted in <#{channel.id}>.")
    ix = await fake.slash(g, g.member("admin"), "news keywords add", keyword="season 2")
    assert await answer(ix) == ("Keyword `season 2` added (server-wide).", True)
    await news.next_cycle()
    assert news_posts(fake, channel) == []  # no backlog

    news.feeds.add("outlet", "Trauma Code Season 2 confirmed", "https://outlet.test/s2?utm_source=rss",
                   START + timedelta(minutes=5))
    news.feeds.add("outlet", "Unrelated gossip", "https://outlet.test/gossip", START + timedelta(minutes=6))
    mark = fake.mark()
    await news.next_cycle()
    [post] = news_posts(fake, channel)
    assert post["content"] == f"<@&{role.id}>"
    assert post["mention_roles"] == [str(role.id)] and post["mentions"] == [] and post["mention_everyone"] is False
    [request] = fake.requests_to(*POST_MESSAGE, since=mark)
    assert request.json["allowed_mentions"] == {"parse": [], "roles": [role.id]}
    [embed] = post["embeds"]
    assert embed["title"] == "Trauma Code Season 2 confirmed"
    assert embed["url"] == "https://outlet.test/s2"  # tracking parameters removed
    assert "<p>" not in embed.get("description", "") and "& more" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    published = int((START + timedelta(minutes=5)).timestamp())
    assert fields == {"Source": "Outlet Daily", "Published": f"<t:{published}:F> (<t:{published}:R>)"}

    await news.runner.restart()
    await news.next_cycle()
    news.feeds.add("outlet", "Another unrelated item", "https://outlet.test/x", START + timedelta(minutes=30))
    await news.next_cycle()
    assert len(news_posts(fake, channel)) == 1
    assert news.feeds.requests["outlet"] == 5  # add + four polls: one fetch each


async def test_one_url_for_two_servers_is_fetched_once_per_cycle_and_alerts_both(fake, news):
    second = fake.add_guild("Second Server")
    bot = await news.runner.start()
    g = fake.default_guild
    for guild in (g, second):
        await configure(bot, guild)
    news.feeds.set("shared", "Shared", old_items())
    for guild in (g, second):
        ix = await fake.slash(guild, guild.member("admin"), "news feed add", url=news.feeds.url("shared"))
        await answer(ix)
    assert news.feeds.requests["shared"] == 2  # one check per add
    news.feeds.add("shared", "Season 2 filming starts", "https://outlet.test/film", START + timedelta(minutes=1))
    await news.next_cycle()
    assert news.feeds.requests["shared"] == 3
    for guild in (g, second):
        [post] = news_posts(fake, guild.channel("news"))
        assert post["embeds"][0]["title"] == "Season 2 filming starts"
        assert post["mention_roles"] == [str(guild.role("News Ping").id)]
    await news.next_cycle()
    assert news.feeds.requests["shared"] == 4 and news.feeds.not_modified["shared"] == 1  # 304 path
    assert all(len(news_posts(fake, guild.channel("news"))) == 1 for guild in (g, second))


async def test_feed_text_cannot_ping_anyone_else(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    fans, fan = g.role("Fans"), g.member("fan1")
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    news.feeds.add("outlet", f"@everyone @here <@&{fans.id}> <@{fan.id}> Season 2!", "https://outlet.test/ping",
                   START)
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))
    assert post["content"] == f"<@&{g.role('News Ping').id}>"
    assert post["mention_everyone"] is False and post["mentions"] == []
    assert post["mention_roles"] == [str(g.role("News Ping").id)]


async def test_keywords_add_remove_list_korean_exclusion_and_regex(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    for keyword in ("시즌2", "-spoiler", "re:season\\s*2"):
        content, ephemeral = await answer(await fake.slash(g, admin, "news keywords add", keyword=keyword))
        assert ephemeral and content == f"Keyword `{keyword}` added (server-wide)."
    content, ephemeral = await answer(await fake.slash(g, admin, "news keywords add", keyword="re:(unclosed"))
    assert ephemeral and content.startswith("“re:(unclosed” is not a valid regular expression")
    content, _ = await answer(await fake.slash(g, admin, "news keywords list"))
    assert content == "Keywords (server-wide): `시즌2`, `-spoiler`, `re:season\\s*2`"
    assert await answer(await fake.slash(g, admin, "news keywords remove", keyword="-spoiler")) == (
        "Keyword `-spoiler` removed (server-wide).", True)
    content, _ = await answer(await fake.slash(g, admin, "news keywords list", locale="ko"))
    assert content == "키워드 (서버 전체): `시즌2`, `re:season\\s*2`"

    news.feeds.set("kr", "코리아 연예", [])
    await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("kr")))
    news.feeds.add("kr", "중증외상센터 시즌 2 제작 확정", "https://kr.test/1", START)
    news.feeds.add("kr", "다른 드라마 소식", "https://kr.test/2", START + timedelta(minutes=1))
    news.feeds.add("kr", "Season2 teaser out", "https://kr.test/3", START + timedelta(minutes=2))
    await news.next_cycle()
    titles = [p["embeds"][0]["title"] for p in news_posts(fake, g.channel("news"))]
    assert titles == ["중증외상센터 시즌 2 제작 확정", "Season2 teaser out"]


async def test_failure_notice_after_three_failures_and_recovery_in_the_log_channel(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    log_channel = g.channel("bot-log")
    news.feeds.set("flaky", "Flaky", old_items())
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("flaky")))
    news.feeds.failing["flaky"] = 503
    for _ in range(4):
        news.clock.advance(days=1)
        await news.service.tick()
    notices = [m["content"] for m in fake.messages_in(log_channel)]
    assert len(notices) == 1 and notices[0].startswith(f"⚠️ The news feed <{news.feeds.url('flaky')}> has failed 3")
    ix = await fake.slash(g, g.member("admin"), "news feed list")
    embed = (await ix.response()).embeds[0]
    assert "4 failure(s) in a row" in embed["fields"][0]["value"]
    del news.feeds.failing["flaky"]
    news.clock.advance(days=1)
    await news.service.tick()
    notices = [m["content"] for m in fake.messages_in(log_channel)]
    assert notices[1:] == [f"✅ The news feed <{news.feeds.url('flaky')}> works again."]
    assert all(m["mention_everyone"] is False for m in fake.messages_in(log_channel))


async def test_forum_news_channel_gets_one_post_per_story(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    forum = g.channel("episode-discussion")
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet"), channel=forum))
    news.feeds.add("outlet", "Season 2 script reading photos", "https://outlet.test/a", START)
    news.feeds.add("outlet", "Cast confirms return for Season 2", "https://outlet.test/b", START + timedelta(minutes=1))
    mark = fake.mark()
    await news.next_cycle()
    threads = fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark)
    assert [r.json["name"] for r in threads] == ["Season 2 script reading photos", "Cast confirms return for Season 2"]
    for request in threads:
        assert request.json["message"]["allowed_mentions"] == {"parse": [], "roles": [g.role("News Ping").id]}
    assert fake.requests_to(*POST_MESSAGE, since=mark) == []


async def test_news_test_shows_matches_and_posts_nothing(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    await answer(await fake.slash(g, g.member("admin"), "news keywords add", keyword="season 2"))
    news.feeds.set("outlet", "Outlet", [*old_items(), ("Season 2 cast list", "https://outlet.test/c", START)])
    mark = fake.mark()
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news test",
                                                       url=news.feeds.url("outlet")))
    assert ephemeral
    assert content == ("**Outlet**: 3 items; 1 would be posted with the server-wide keywords, 0 excluded.\n"
                       "• Season 2 cast list — `season 2`")
    assert [r for r in fake.requests_to(*POST_MESSAGE, since=mark)] == []
    assert await news.service.list_feeds(g.id) == []


async def test_preset_adds_the_google_news_feeds(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news preset", show="trauma-code"))
    assert ephemeral and content.startswith("Added ")
    urls = [item.feed.url for item in await news.service.list_feeds(g.id)]
    assert urls and all(u.startswith("https://news.google.com/rss/search?") for u in urls)
    assert any("ceid=KR%3Ako" in u or "ceid=KR:ko" in u for u in urls)
    assert any("ceid=US%3Aen" in u or "ceid=US:en" in u for u in urls)
    content, _ = await answer(await fake.slash(g, g.member("admin"), "news preset", show="trauma-code"))
    assert "Already followed" in content


async def test_bad_feeds_are_refused_with_the_reason_and_nothing_is_stored(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("page", "x", [])
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                       url=news.feeds.url("missing")))
    assert ephemeral and content.startswith(f"I couldn't use <{news.feeds.url('missing')}> as a feed:")
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                       url="ftp://example.com/feed"))
    assert ephemeral and "not a feed address I can use" in content
    assert await news.service.list_feeds(g.id) == []


async def test_members_without_manage_server_are_refused(fake, news):
    await news.runner.start()
    g = fake.default_guild
    content, ephemeral = await answer(await fake.slash(g, g.member("fan1"), "news feed list"))
    assert ephemeral and content == "You need the Manage Server permission to use this command."


async def test_feed_list_pause_resume_remove_and_check_in_korean(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    news.feeds.set("outlet", "Outlet", old_items())
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("outlet"), locale="ko"))
    assert content.startswith("**Outlet** 구독을 시작했어요")
    ac = await fake.autocomplete(g, admin, "news feed pause", focused="feed", value="out")
    [choice] = (await ac.response()).choices
    assert choice["name"].startswith("Outlet")
    assert await answer(await fake.slash(g, admin, "news feed pause", feed=choice["value"], locale="ko")) == (
        "피드를 일시 중지했어요: 중지된 동안 나온 항목은 건너뛰어요.", True)
    content, _ = await answer(await fake.slash(g, admin, "news check", locale="ko"))
    assert content == "이 서버에는 사용 중인 피드가 없어요."
    await answer(await fake.slash(g, admin, "news feed resume", feed=choice["value"]))
    news.feeds.add("outlet", "Season 2 via check", "https://outlet.test/check", START)
    content, _ = await answer(await fake.slash(g, admin, "news check", locale="ko"))
    assert content == "피드 1개를 확인했어요: 새 항목 1개, 1개 게시, 0개 실패."
    content, _ = await answer(await fake.slash(g, admin, "news check"))
    assert content.startswith("Feeds were just checked.")
    assert await answer(await fake.slash(g, admin, "news feed remove", feed=choice["value"])) == (
        "Feed removed: nothing more from it will be posted.", True)
    assert await news.service.list_feeds(g.id) == []


async def test_private_addresses_are_refused_unless_allowed(fake, feeds, tmp_path):
    runner = BotRunner(fake, tmp_path / "ssrf.db", env={"CODEBLUE_ALLOW_PRIVATE_FEEDS": "0"})
    try:
        bot = await runner.start()
        g = fake.default_guild
        await configure(bot, g)
        feeds.set("outlet", "Outlet", old_items())
        content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                           url=feeds.url("outlet")))
        assert ephemeral and content == (
            f"I won't fetch <{feeds.url('outlet')}>: it points to a private, local or reserved address. "
            "(Self-hosters can allow those with CODEBLUE_ALLOW_PRIVATE_FEEDS=1.)")
        assert feeds.requests["outlet"] == 0  # refused before any request
        assert await bot.get_cog("NewsCog").service.list_feeds(g.id) == []
    finally:
        await runner.stop()


async def test_burst_is_posted_in_order_and_a_429_loses_nothing(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    for n in range(8):
        news.feeds.add("outlet", f"Story {n}", f"https://outlet.test/burst/{n}", START + timedelta(minutes=n))
    fake.rate_limit("POST", "/channels/{channel_id}/messages", times=2, retry_after=0.05)
    await news.next_cycle()
    titles = [p["embeds"][0]["title"] for p in news_posts(fake, g.channel("news"))]
    assert titles == [f"Story {n}" for n in range(8)]
    await asyncio.sleep(0)


async def test_restart_after_a_crash_mid_send_reconciles_instead_of_reposting(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    channel = g.channel("news")
    await configure(bot, g)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    news.feeds.add("outlet", "Reached Discord before the crash", "https://outlet.test/sent", START)
    news.feeds.add("outlet", "Intent written, never sent", "https://outlet.test/unsent", START + timedelta(minutes=1))
    await news.next_cycle()
    assert len(news_posts(fake, channel)) == 2
    # Rewind the log to what a crash would leave: both sends begun (attempted_at), neither result recorded; the
    # second message never reached Discord.
    unsent = next(m for m in news_posts(fake, channel) if m["embeds"][0]["url"].endswith("/unsent"))
    fake.messages[channel.id].pop(int(unsent["id"]))  # no helper to delete a message behind the bot's back
    attempted = int(news.clock.now.timestamp())
    await bot.db.execute("UPDATE news_deliveries SET state = 'pending', message_id = NULL, attempted_at = ?",
                         (attempted,))
    await news.runner.kill()
    await news.runner.start()
    mark = fake.mark()
    await news.service.tick()
    reposted = [r.json["embeds"][0]["url"] for r in fake.requests_to(*POST_MESSAGE, since=mark)]
    history = fake.requests_to("GET", "/channels/{channel_id}/messages", since=mark)
    assert history, "the channel's recent messages were checked"
    assert reposted == ["https://outlet.test/unsent"]
    assert await news.service.repo.pending_deliveries() == []
