"""News alerts end to end: the real bot on the fake Discord, feeds from a local HTTP server, an injected clock.

Polls are run by the real `news:poll` scheduler job (tests/e2e/news_steps.py: the injected clock is moved past the
feed interval, then the job is made to run now and awaited), or by `/news check`; nothing waits for the real
interval, and no test calls the service's poll itself.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

import pytest

from bot.services.news import PollSummary
from tests.e2e.harness import BotRunner
from tests.e2e.news_steps import PAST_THE_INTERVAL, START, Clock, fetch_outcomes, run_poll_job
from tests.e2e.settle import until
from tests.feeds import fixtures
from tests.feeds.builders import KOREAN_ITEMS, Item, korean_outlet, load_sample, rss2
from tests.feeds.server import FeedServer, RebindingDns

feed_server = fixtures.feed_server

EPHEMERAL = 64
POST_MESSAGE = ("POST", "/channels/{channel_id}/messages")


class NewsFeeds:
    """The shared test feed server (tests/feeds) with names for paths: `set`/`add` live RSS feeds, request and
    304 counts per feed, forced HTTP failures."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, name: str) -> str:
        return self.server.url(f"/{name}")

    def set(self, name: str, title: str, items: list, *, kind: str = "rss2") -> None:
        self.server.serve_items(f"/{name}", [self._item(*item) for item in items], kind=kind, title=title)

    def add(self, name: str, title: str, link: str, when: datetime) -> None:
        self.server.add_item(f"/{name}", self._item(title, link, when))

    @staticmethod
    def _item(title: str, link: str, when: datetime) -> Item:
        return Item(title=title, link=link, guid=link, summary=f"<p>{escape(title)} &amp; more</p>", published=when)

    @property
    def requests(self) -> Counter[str]:
        return Counter({path.lstrip("/"): n for path, n in self.server.request_counts().items()})

    @property
    def not_modified(self) -> Counter[str]:
        return Counter({path.lstrip("/"): n for path, n in self.server.not_modified.items()})

    def fail(self, name: str, status: int) -> None:
        self.server.fail(f"/{name}", status)

    def recover(self, name: str) -> None:
        self.server.recover(f"/{name}")


@dataclass
class NewsWorld:
    fake: object
    runner: BotRunner
    clock: Clock
    feeds: NewsFeeds

    @property
    def bot(self):
        return self.runner.bot

    @property
    def service(self):
        return self.bot.get_cog("NewsCog").service

    async def next_cycle(self, **advance: float) -> PollSummary:
        """Move the clock (default: past the feed interval), run the real `news:poll` job, wait for its end; the
        summary of that poll."""
        return await run_poll_job(self.bot, self.clock, timedelta(**advance) if advance else PAST_THE_INTERVAL)


@pytest.fixture
def feeds(feed_server):
    return NewsFeeds(feed_server)


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
    news.feeds.fail("flaky", 503)
    for _ in range(4):
        await news.next_cycle(days=1)
    notices = [m["content"] for m in fake.messages_in(log_channel)]
    assert len(notices) == 1 and notices[0].startswith(f"⚠️ The news feed <{news.feeds.url('flaky')}> has failed 3")
    ix = await fake.slash(g, g.member("admin"), "news feed list")
    embed = (await ix.response()).embeds[0]
    assert "4 failure(s) in a row" in embed["fields"][0]["value"]
    news.feeds.recover("flaky")
    await news.next_cycle(days=1)
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
    news.feeds.add("outlet", "Season 2 while paused", "https://outlet.test/paused", START)
    assert await answer(await fake.slash(g, admin, "news feed resume", feed=choice["value"])) == (
        "Feed resumed: new items will be posted again.", True)
    news.feeds.add("outlet", "Season 2 via check", "https://outlet.test/check", START)
    content, _ = await answer(await fake.slash(g, admin, "news check", locale="ko"))
    assert content == "피드 1개를 확인했어요: 새 항목 1개, 1개 게시, 0개 실패."
    assert [p["embeds"][0]["title"] for p in news_posts(fake, g.channel("news"))] == ["Season 2 via check"]
    content, ephemeral = await answer(await fake.slash(g, admin, "news check"))
    assert ephemeral and content.startswith("Slow down a little: try again in ") and content.endswith(" s.")
    assert await answer(await fake.slash(g, admin, "news feed remove", feed=choice["value"])) == (
        "Feed removed: nothing more from it will be posted.", True)
    assert await news.service.list_feeds(g.id) == []


async def test_news_check_has_a_cooldown_per_server_that_nothing_to_check_does_not_start(fake, news):
    second = fake.add_guild("Second Server")
    bot = await news.runner.start()
    g = fake.default_guild
    news.feeds.set("outlet", "Outlet", old_items())
    content, _ = await answer(await fake.slash(g, g.member("admin"), "news check"))
    assert content == "This server follows no active feeds."
    for guild in (g, second):
        await configure(bot, guild)
        await answer(await fake.slash(guild, guild.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    content, _ = await answer(await fake.slash(g, g.member("admin"), "news check"))
    assert content == "Checked 1 feeds: 0 new items, 0 posted, 0 failed."
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news check", locale="ko"))
    assert ephemeral and content.startswith("조금 천천히요: ") and content.endswith("초 뒤에 다시 해 주세요.")
    seconds = int(content.removeprefix("조금 천천히요: ").split("초", 1)[0])
    assert 55 <= seconds <= 60
    content, _ = await answer(await fake.slash(second, second.member("admin"), "news check"))
    assert content == "Checked 1 feeds: 0 new items, 0 posted, 0 failed."  # another server is not limited


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



async def test_dns_rebinding_is_refused_at_connect_time_when_private_feeds_are_off(fake, feeds, tmp_path,
                                                                                    monkeypatch):
    """The feed host answers public to the fetcher's check and 127.0.0.1 to the connection's own lookup: the
    runner's shared session (GuardedResolver) refuses the connect, so the feed server sees no request."""
    dns = RebindingDns().install(monkeypatch)
    runner = BotRunner(fake, tmp_path / "rebind.db", env={"CODEBLUE_ALLOW_PRIVATE_FEEDS": "0"})
    try:
        bot = await runner.start()
        g = fake.default_guild
        await configure(bot, g)
        feeds.set("outlet", "Outlet", old_items())
        url = f"http://{dns.host}:{feeds.port}/outlet"
        content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add", url=url))
        assert ephemeral and content == (
            f"I won't fetch <{url}>: it points to a private, local or reserved address. "
            "(Self-hosters can allow those with CODEBLUE_ALLOW_PRIVATE_FEEDS=1.)")
        assert dns.lookups == 2  # checked public first, then the connector's lookup was refused
        assert feeds.requests["outlet"] == 0
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


@pytest.mark.parametrize(("status", "checked"), [(503, True), (429, False)])
async def test_a_discord_error_on_send_is_retried_later_once_without_a_double_post(fake, news, status, checked):
    """A 503 may have been stored by Discord: the retry reads the channel first. A 429 that outlived discord.py's
    own retries means nothing was posted: retried later, no check. Neither drops the story or tells the admins."""
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    news.feeds.add("outlet", "Season 2 during an outage", "https://outlet.test/outage", START)
    if status == 429:
        fake.rate_limit(*POST_MESSAGE, times=5, retry_after=0.01)  # more than discord.py retries
    else:
        fake.fail(*POST_MESSAGE, status=status)
    await news.next_cycle()
    assert news_posts(fake, g.channel("news")) == []
    mark = fake.mark()
    await news.next_cycle(seconds=31)
    assert [p["embeds"][0]["url"] for p in news_posts(fake, g.channel("news"))] == ["https://outlet.test/outage"]
    assert bool(fake.requests_to("GET", "/channels/{channel_id}/messages", since=mark)) == checked
    assert fake.messages_in(g.channel("bot-log")) == []


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
    await news.next_cycle(seconds=0)  # the first run of the job after the restart: reconciliation
    reposted = [r.json["embeds"][0]["url"] for r in fake.requests_to(*POST_MESSAGE, since=mark)]
    history = fake.requests_to("GET", "/channels/{channel_id}/messages", since=mark)
    assert history, "the channel's recent messages were checked"
    assert reposted == ["https://outlet.test/unsent"]
    assert await news.service.repo.pending_deliveries() == []


# --- feed formats, cross-feed dedupe and broken feeds through the bot (shared tests/feeds server) -------------


@pytest.mark.parametrize("kind", ["atom", "rss1"])
async def test_atom_and_rss1_feeds_post_new_entries(fake, news, kind):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("feed", "Drama Beat", old_items(), kind=kind)
    content, _ = await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("feed")))
    assert content.startswith("Following **Drama Beat**: 2 current items were marked as seen")
    news.feeds.add("feed", "Trauma Code season 2 teaser", "https://outlet.test/teaser", START + timedelta(minutes=5))
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))
    [embed] = post["embeds"]
    assert (embed["title"], embed["url"]) == ("Trauma Code season 2 teaser", "https://outlet.test/teaser")
    published = int((START + timedelta(minutes=5)).timestamp())
    assert {f["name"]: f["value"] for f in embed["fields"]} == {
        "Source": "Drama Beat", "Published": f"<t:{published}:F> (<t:{published}:R>)"}


@pytest.mark.parametrize(
    ("content_type", "declare_encoding"),
    [
        ("application/rss+xml; charset=euc-kr", True),  # HTTP charset and XML declaration
        ("application/rss+xml", True),  # XML declaration only
        ("application/rss+xml", False),  # neither: detected
    ],
)
async def test_korean_euc_kr_feed_matches_a_korean_keyword_and_posts_the_title_intact(fake, news, content_type,
                                                                                       declare_encoding):
    bot = await news.runner.start()
    g = fake.default_guild
    admin = g.member("admin")
    await configure(bot, g)
    await answer(await fake.slash(g, admin, "news keywords add", keyword="시즌2", locale="ko"))
    items = [KOREAN_ITEMS[1]]

    def publish() -> None:
        body = korean_outlet(items, encoding="euc-kr", declare_encoding=declare_encoding)
        news.feeds.server.serve("/kr", body, content_type=content_type)

    publish()
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("kr"), locale="ko"))
    assert content.startswith("**연예뉴스 - 스타일경제** 구독을 시작했어요")
    other = Item(title="다른 드라마 캐스팅 소식", link="https://www.example.co.kr/news/2000",
                 published=datetime(2025, 3, 2, 2, 0, tzinfo=UTC))
    items = [other, KOREAN_ITEMS[0], *items]
    publish()
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))
    [embed] = post["embeds"]
    assert embed["title"] == "중증외상센터 시즌2 제작 확정…주지훈 다시 백강혁으로"
    assert embed["url"] == "https://www.example.co.kr/news/articleView.html?idxno=1001"  # utm_medium removed
    assert embed["description"] == "넷플릭스 시리즈 <중증외상센터>가 시즌 2 제작을 확정했다."
    assert embed["thumbnail"]["url"] == "https://img.example.co.kr/1001.jpg"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Source"] == "연예뉴스 - 스타일경제"


async def test_google_news_and_the_outlets_own_feed_post_a_story_once(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    admin = g.member("admin")
    await configure(bot, g)
    server = news.feeds.server
    server.serve_items("/gnews", [], kind="google_news", title="Trauma Code season 2")
    server.serve_items("/soompi", [], kind="rss2", title="Soompi")
    for name in ("gnews", "soompi"):
        await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url(name)))
    when = START + timedelta(minutes=3)
    soompi = ("Soompi", "https://www.soompi.com")
    server.add_item("/gnews", Item(title="Trauma Code Season 2 cast confirmed", published=when, source=soompi,
                                   link="https://news.google.com/rss/articles/CBMiCast?oc=5", guid="CBMiCast"))
    server.add_item("/gnews", Item(title="Trauma Code Season 2 filming confirmed", source=soompi,
                                   published=when + timedelta(minutes=1),
                                   link="https://news.google.com/rss/articles/CBMiFilm?oc=5", guid="CBMiFilm"))
    server.add_item("/soompi", Item(title="“Trauma Code” Season 2 cast confirmed!", published=when,
                                    link="https://www.soompi.com/article/1", guid="soompi-1"))
    summary = await news.next_cycle()
    assert summary.new_entries == 3
    # What an admin sees of the same: of the two cast stories one was posted, the other is the same story.
    outcomes = []
    for link in ("https://news.google.com/rss/articles/CBMiCast?oc=5", "https://www.soompi.com/article/1"):
        content, _ = await answer(await fake.slash(g, admin, "news why", link=link))
        outcomes.append(content.split("\n")[1][0])
    assert sorted(outcomes) == ["✅", "🔁"]
    titles = sorted(p["embeds"][0]["title"] for p in news_posts(fake, g.channel("news")))
    assert len(titles) == 2  # the cast story once (from whichever feed came first), the filming story apart
    assert "cast confirmed" in titles[0].lower() or "cast confirmed" in titles[1].lower()
    assert sum("filming confirmed" in t.lower() for t in titles) == 1
    await news.next_cycle()
    assert len(news_posts(fake, g.channel("news"))) == 2


async def test_malformed_oversize_and_slow_feeds_are_recorded_and_the_others_still_post(fake, news, monkeypatch):
    monkeypatch.setattr("bot.services.news.service.FETCH_TOTAL_TIMEOUT", 0.3)  # the fetcher the cog builds at start
    bot = await news.runner.start()
    g = fake.default_guild
    admin = g.member("admin")
    await configure(bot, g)
    names = ("healthy", "broken", "huge", "slow")
    for name in names:
        news.feeds.set(name, f"Feed {name}", old_items(f"https://{name}.test"))
        await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url(name)))
    server = news.feeds.server
    server.serve("/broken", load_sample("garbage.xml"), content_type="application/xml")
    server.oversize("/huge", size=6_000_000)
    server.slow("/slow", rss2("Feed slow", []), delay=1.5)
    news.feeds.add("healthy", "Season 2 news still arrives", "https://healthy.test/new", START)
    summary = await news.next_cycle()
    assert (summary.feeds, summary.failed, summary.posted) == (4, 3, 1)
    assert fetch_outcomes(bot) == {"ok": 1, "failed": 3}  # what /metrics shows of that poll
    [post] = news_posts(fake, g.channel("news"))
    assert post["embeds"][0]["title"] == "Season 2 news still arrives"

    embed = (await (await fake.slash(g, admin, "news feed list")).response()).embeds[0]
    fields = {f["name"].split(" ", 1)[1]: f["value"] for f in embed["fields"]}
    assert "failure" not in fields["Feed healthy"]
    assert "⚠️ 1 failure(s) in a row: malformed" in fields["Feed broken"]
    assert "⚠️ 1 failure(s) in a row: too_large" in fields["Feed huge"]
    assert "⚠️ 1 failure(s) in a row: timeout" in fields["Feed slow"]
    assert bot.is_ready() and not bot.is_closed()


def embed_size(embed: dict) -> int:
    """Characters Discord counts toward the 6,000 limit of an embed."""
    fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return len(embed.get("title", "")) + len(embed.get("description", "")) + fields + len(
        embed.get("footer", {}).get("text", ""))


async def test_feed_list_pages_50_feeds_with_long_korean_urls_and_errors_within_discord_limits(fake, news):
    from bot.domain.feed_presets import google_news_url

    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    repo = news.service.repo
    now = int(START.timestamp())
    for n in range(50):
        url = google_news_url(f"중증외상센터 시즌2 {'방송 확정 촬영 캐스팅 ' * 6}{n}", "ko")
        feed = await repo.ensure_feed(url, now=now, next_poll_at=now + 3600)
        await repo.record_failure(feed.id, now=now, next_poll_at=now + 3600, error="http_5xx: " + "오류 " * 200)
        await repo.create_subscription(g.id, feed.id, channel_id=g.channel("news").id, created_by=1, now=now)
    admin = g.member("admin")
    listing = await fake.slash(g, admin, "news feed list", locale="ko")
    page = await listing.response()
    assert page.ephemeral
    message_id = page.message["id"]
    seen, pages = [], []
    while True:
        [embed] = page.embeds
        assert embed_size(embed) <= 6000 and len(embed["fields"]) <= 25
        seen += [f["name"].split()[0] for f in embed["fields"]]
        pages.append(embed["footer"]["text"])
        buttons = page.components[0]["components"]
        following = next(b for b in buttons if b["custom_id"].endswith(":next"))
        if following.get("disabled"):
            break
        page = await (await fake.click(message_id, following["custom_id"], admin, locale="ko")).response()
        assert page.type == 7
    assert len(seen) == len(set(seen)) == 50
    assert pages[0].startswith(f"{len(pages)}쪽 중 1쪽") and len(pages) >= 5


def rejoin(fake, guild) -> None:
    """The bot is added back to a server it left (same guild id; GUILD_CREATE as a join)."""
    fake.guilds[guild.id] = guild
    fake.gateway.dispatch_guild_create(guild)


async def test_a_server_the_bot_left_is_not_polled_its_queue_is_dropped_and_rejoining_keeps_feeds_paused(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    channel = g.channel("news")
    news.feeds.set("outlet", "Outlet", old_items())
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    news.feeds.add("outlet", "Season 2 stuck in a Discord outage", "https://outlet.test/queued", START)
    fake.fail(*POST_MESSAGE, status=503)  # the story stays queued, backing off
    await news.next_cycle()
    repo = news.service.repo
    assert await repo.count_deliveries(g.id, "pending") == 1
    fetches = news.feeds.requests["outlet"]

    fake.remove_guild(g)
    await until(lambda: bot.get_guild(g.id) is None)

    async def paused() -> bool:  # the on_guild_remove listener runs in the background
        return all(s.subscription.paused for s in await repo.subscriptions_of_guild(g.id))

    await until(paused, timeout=2)
    news.feeds.add("outlet", "Season 2 news nobody should get", "https://outlet.test/after", START + timedelta(hours=1))
    await news.next_cycle()
    await news.next_cycle()
    assert news.feeds.requests["outlet"] == fetches  # no active subscriber: not fetched
    assert await repo.count_deliveries(g.id, "pending") == 0  # the queued story was dropped
    assert [s.subscription.paused for s in await repo.subscriptions_of_guild(g.id)] == [True]

    rejoin(fake, g)
    await until(lambda: bot.get_guild(g.id) is not None)
    await news.next_cycle()
    assert news.feeds.requests["outlet"] == fetches  # still paused until an admin resumes
    [listed] = await news.service.list_feeds(g.id)
    ix = await fake.slash(g, g.member("admin"), "news feed resume", feed=str(listed.subscription.id))
    assert await answer(ix) == ("Feed resumed: new items will be posted again.", True)
    await news.next_cycle()
    assert news_posts(fake, channel) == []  # resuming re-baselined: no backlog
    news.feeds.add("outlet", "Season 2 premiere date", "https://outlet.test/premiere", START + timedelta(hours=2))
    await news.next_cycle()
    assert [p["embeds"][0]["title"] for p in news_posts(fake, channel)] == ["Season 2 premiere date"]


async def test_a_deleted_news_channel_keeps_stories_waiting_tells_admins_once_and_posts_in_the_new_channel(
        fake, news, caplog):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    old_channel, log_channel = g.channel("news"), g.channel("bot-log")
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    fake.delete_channel(old_channel)
    await until(lambda: bot.get_channel(old_channel.id) is None)
    news.feeds.add("outlet", "Season 2 first stills", "https://outlet.test/stills", START)
    with caplog.at_level("WARNING", logger="bot.services.news"):
        await news.next_cycle()
    assert any(r.levelname == "WARNING" and str(g.id) in r.getMessage() and str(old_channel.id) in r.getMessage()
               for r in caplog.records)
    [notice] = [m["content"] for m in fake.messages_in(log_channel)]
    assert notice.startswith(f"⚠️ The news channel <#{old_channel.id}> is gone") and "/config channel" in notice
    assert await news.service.repo.count_deliveries(g.id, "pending") == 1  # waiting, not failed

    news.feeds.add("outlet", "Season 2 table read", "https://outlet.test/read", START + timedelta(minutes=1))
    mark = fake.mark()
    await news.next_cycle()
    assert len(fake.messages_in(log_channel)) == 1  # told once
    assert [r for r in fake.requests[mark:] if str(old_channel.id) in r.path] == []  # no more tries meanwhile

    new_channel = fake.add_channel(g, "season-2-news")
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="news", channel=new_channel)
    await ix.response()
    await news.next_cycle()
    titles = [p["embeds"][0]["title"] for p in news_posts(fake, new_channel)]
    assert titles == ["Season 2 first stills", "Season 2 table read"]
    assert await news.service.repo.count_deliveries(g.id, "failed") == 0


async def test_a_fan_clicking_a_feed_list_button_gets_an_ephemeral_refusal(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    repo, now = news.service.repo, int(START.timestamp())
    for n in range(12):
        feed = await repo.ensure_feed(f"https://outlet.test/feed{n}.xml", now=now, next_poll_at=now + 3600)
        await repo.create_subscription(g.id, feed.id, channel_id=None, created_by=1, now=now)
    page = await (await fake.slash(g, g.member("admin"), "news feed list")).response()
    following = next(b for b in page.components[0]["components"] if b["custom_id"].endswith(":next"))
    click = await fake.click(page.message["id"], following["custom_id"], g.member("fan1"))
    refusal = await click.response()
    assert refusal.type == 4 and refusal.ephemeral
    assert refusal.content == "You need the Manage Server permission to use this command."


async def test_an_untitled_story_in_a_korean_forum_gets_a_korean_post_name(fake, news):
    korean = fake.add_guild("중증외상센터 팬", preferred_locale="ko")
    bot = await news.runner.start()
    await configure(bot, korean)
    forum = korean.channel("episode-discussion")
    news.feeds.set("kr", "코리아 연예", [])
    await answer(await fake.slash(korean, korean.member("admin"), "news feed add", url=news.feeds.url("kr"),
                                  channel=forum))
    news.feeds.add("kr", "", "https://kr.test/untitled", START)
    mark = fake.mark()
    await news.next_cycle()
    [thread] = fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark)
    assert thread.json["name"] == "뉴스"
