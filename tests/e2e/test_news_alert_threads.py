"""Alert threads that are never lost: with `thread:on` each news alert in a text channel gets exactly one discussion
thread, also when Discord fails the thread (5xx: opened by a later poll, the message never posted again), refuses it
(403: admins told once, no retry loop), keeps failing until it is given up (admins told once per channel, with
links to the alerts) or the bot crashes between the post and its thread (after a restart the
story is found in the channel and gets its one thread). End to end: the real bot on the fake Discord, feeds from
the local feed server, polls run by the real `news:poll` scheduler job (`run_poll_job`).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from tests.e2e import test_news
from tests.e2e.news_steps import run_poll_job
from tests.e2e.test_news import START, answer, configure, news_posts, old_items
from tests.fakediscord.state import Perm
from tests.feeds import fixtures

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news

POST_MESSAGE = ("POST", "/channels/{channel_id}/messages")
THREAD_FROM_MESSAGE = ("POST", "/channels/{channel_id}/messages/{message_id}/threads")
GET_MESSAGE = ("GET", "/channels/{channel_id}/messages/{message_id}")


def korean_guild(fake):
    return fake.add_guild("중증외상센터 팬", preferred_locale="ko")


async def follow_threaded(fake, world, guild, name: str, *, server_wide: bool = False) -> None:
    """Follow a feed whose alerts get threads: per feed (`thread:on`) or server-wide (`/news threads on`)."""
    admin = guild.member("admin")
    world.feeds.set(name, name.title(), old_items(f"https://{name}.test/old"))
    if server_wide:
        await answer(await fake.slash(guild, admin, "news threads", thread="on"))
        content, _ = await answer(await fake.slash(guild, admin, "news feed add", url=world.feeds.url(name)))
    else:
        content, _ = await answer(await fake.slash(guild, admin, "news feed add", url=world.feeds.url(name),
                                                   thread="on"))
    assert content.startswith(("Following", "구독")), content


async def start_following_threaded(fake, world, guild, *, server_wide: bool = False):
    """Start the bot, set the server up (news channel `news`, log channel `bot-log`) and follow the feed "outlet"
    with alert threads; returns the bot. A server of the test's own is added before this (the bot sees it at
    start)."""
    bot = await world.runner.start()
    await configure(bot, guild)
    await follow_threaded(fake, world, guild, "outlet", server_wide=server_wide)
    return bot


def threads_of(fake, channel) -> list:
    return [c for c in fake.channels.values() if c.parent_id == channel.id and c.is_thread]


def thread_requests(fake, message: dict, since: int = 0) -> list:
    return [r for r in fake.requests_to(*THREAD_FROM_MESSAGE, since=since) if r.params["message_id"] == message["id"]]


async def alert_thread_rows(world) -> list[tuple]:
    rows = await world.bot.db.fetch_all("SELECT delivery_id, state, attempts, error FROM news_alert_threads")
    return [tuple(r) for r in rows]


async def test_a_threaded_alert_gets_exactly_one_thread_named_after_the_story(fake, news):
    g = fake.default_guild
    channel = g.channel("news")
    bot = await start_following_threaded(fake, news, g)
    news.feeds.add("outlet", "Season 2 filming starts", "https://outlet.test/s2", START)
    await run_poll_job(bot, news.clock)
    [post] = news_posts(fake, channel)
    [request] = thread_requests(fake, post)
    assert request.json["name"] == "Season 2 filming starts"
    [thread] = threads_of(fake, channel)
    assert thread.id == int(post["id"])
    mark = fake.mark()
    await run_poll_job(bot, news.clock)  # the moment a retry would run: nothing is opened again
    assert fake.requests_to(*THREAD_FROM_MESSAGE, since=mark) == []
    assert await alert_thread_rows(news) == []


@pytest.mark.parametrize("korean", [False, True], ids=["english", "korean"])
async def test_a_thread_that_failed_with_503_is_opened_by_the_next_poll_and_the_message_is_not_posted_again(
        fake, news, korean):
    g = korean_guild(fake) if korean else fake.default_guild
    channel = g.channel("news")
    bot = await start_following_threaded(fake, news, g, server_wide=korean)
    # An untitled story in a Korean server: its thread is named with the server's word for "News".
    news.feeds.add("outlet", "" if korean else "Season 2 teaser", "https://outlet.test/teaser", START)
    fake.fail(*THREAD_FROM_MESSAGE, status=503, message="Service Unavailable")
    await run_poll_job(bot, news.clock)
    [post] = news_posts(fake, channel)
    assert [r.status for r in thread_requests(fake, post)] == [503]
    assert threads_of(fake, channel) == []
    [(_, state, attempts, error)] = await alert_thread_rows(news)
    assert (state, attempts, error) == ("pending", 1, "unavailable: 503")

    mark = fake.mark()
    await run_poll_job(bot, news.clock)
    [request] = thread_requests(fake, post, since=mark)
    assert request.status < 300 and request.json["name"] == ("뉴스" if korean else "Season 2 teaser")
    assert [t.id for t in threads_of(fake, channel)] == [int(post["id"])]
    assert fake.requests_to(*POST_MESSAGE, since=mark) == [] and len(news_posts(fake, channel)) == 1
    assert await alert_thread_rows(news) == []
    assert fake.messages_in(g.channel("bot-log")) == []  # a failure that passed is nothing to tell


async def test_a_thread_failing_every_time_is_retried_with_backoff_then_given_up(fake, news):
    g = fake.default_guild
    channel = g.channel("news")
    bot = await start_following_threaded(fake, news, g)
    news.feeds.add("outlet", "During a long outage", "https://outlet.test/outage", START)
    fake.fail(*THREAD_FROM_MESSAGE, status=503, times=100)
    await run_poll_job(bot, news.clock)
    [post] = news_posts(fake, channel)
    [(_, state, attempts, _)] = await alert_thread_rows(news)
    assert (state, attempts) == ("pending", 1)
    # A poll 10 s later, before its backoff (30 s) has passed: the upkeep leaves it alone.
    news.clock.now -= timedelta(minutes=11) - timedelta(seconds=10)  # run_poll_job moves the clock 11 minutes
    mark = fake.mark()
    await run_poll_job(bot, news.clock)
    assert thread_requests(fake, post, since=mark) == []
    for _ in range(8):  # each poll job moves the clock 11 minutes, past every backoff
        await run_poll_job(bot, news.clock)
    assert len(thread_requests(fake, post)) == 6  # the first try and five retries, then given up
    [(_, state, attempts, _)] = await alert_thread_rows(news)
    assert (state, attempts) == ("given_up", 6)
    assert len(news_posts(fake, channel)) == 1


def given_up_notice(guild, channel, posts: list, korean: bool) -> str:
    links = " ".join(f"https://discord.com/channels/{guild.id}/{channel.id}/{p['id']}" for p in posts)
    if korean:
        return (f"⚠️ {channel.mention}에서 뉴스 알림 {len(posts)}개의 토론 스레드를 열다가 포기했어요: Discord가 계속 "
                f"실패했어요. 알림은 올라가 있어요. 스레드가 필요하면 직접 열어 주세요: {links}")
    return (f"⚠️ I gave up opening the discussion threads of {len(posts)} news alert(s) in {channel.mention}: Discord "
            f"kept failing. The alerts are posted; open their threads by hand if you want them: {links}")


@pytest.mark.parametrize("korean", [False, True], ids=["english", "korean"])
async def test_threads_given_up_are_told_to_the_admins_once_per_channel_with_links_to_the_alerts(fake, news, korean):
    g = korean_guild(fake) if korean else fake.default_guild
    channel, general, log_channel = g.channel("news"), g.channel("general"), g.channel("bot-log")
    bot = await start_following_threaded(fake, news, g)
    news.feeds.set("other", "Other", old_items("https://other.test/old"))
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("other"), channel=general,
                                  thread="on"))
    news.feeds.add("outlet", "First stuck", "https://outlet.test/1", START)
    news.feeds.add("outlet", "Second stuck", "https://outlet.test/2", START + timedelta(minutes=1))
    news.feeds.add("other", "Elsewhere stuck", "https://other.test/1", START)
    fake.fail(*THREAD_FROM_MESSAGE, status=503, times=100)
    for tries in range(1, 6):  # each poll job moves the clock 11 minutes, past every backoff
        await run_poll_job(bot, news.clock)
        assert {(state, attempts) for _, state, attempts, _ in await alert_thread_rows(news)} == {("pending", tries)}
        assert fake.messages_in(log_channel) == []  # not told while tries remain
    posts, elsewhere = news_posts(fake, channel), news_posts(fake, general)
    assert (len(posts), len(elsewhere)) == (2, 1)

    await run_poll_job(bot, news.clock)  # the sixth try of all three: given up together
    assert {(state, attempts) for _, state, attempts, _ in await alert_thread_rows(news)} == {("given_up", 6)}
    notices = sorted(m["content"] for m in fake.messages_in(log_channel))
    assert notices == sorted([given_up_notice(g, channel, posts, korean), given_up_notice(g, general, elsewhere,
                                                                                          korean)])
    mark = fake.mark()
    await run_poll_job(bot, news.clock)  # when a retry would run: none, and nothing told again
    assert fake.requests_to(*THREAD_FROM_MESSAGE, since=mark) == []
    assert len(fake.messages_in(log_channel)) == 2
    assert len(news_posts(fake, channel)) == 2 and threads_of(fake, channel) == []


async def test_a_given_up_notice_that_cannot_be_posted_is_logged_and_the_poll_goes_on(fake, news, caplog):
    g = fake.default_guild
    channel, log_channel = g.channel("news"), g.channel("bot-log")
    bot = await start_following_threaded(fake, news, g)
    news.feeds.add("outlet", "Stuck", "https://outlet.test/stuck", START)
    fake.fail(*THREAD_FROM_MESSAGE, status=503, times=100)
    for _ in range(5):
        await run_poll_job(bot, news.clock)
    fake.set_overwrite(log_channel, g.role("Code Blue"), deny=Perm.SEND_MESSAGES)
    await run_poll_job(bot, news.clock)  # given up; the notice is refused (403)
    [(_, state, attempts, _)] = await alert_thread_rows(news)
    assert (state, attempts) == ("given_up", 6)
    assert fake.messages_in(log_channel) == []
    assert any(r.getMessage() == f"could not post to the log channel of guild {g.id}" for r in caplog.records)
    news.feeds.add("outlet", "Posted after it", "https://outlet.test/after", START + timedelta(minutes=1))
    await run_poll_job(bot, news.clock)
    assert len(news_posts(fake, channel)) == 2


@pytest.mark.parametrize("korean", [False, True], ids=["english", "korean"])
async def test_a_refused_thread_tells_the_admins_once_and_is_not_retried(fake, news, korean):
    g = korean_guild(fake) if korean else fake.default_guild
    channel, log_channel = g.channel("news"), g.channel("bot-log")
    bot = await start_following_threaded(fake, news, g)
    fake.set_overwrite(channel, g.role("Code Blue"), deny=Perm.CREATE_PUBLIC_THREADS)
    news.feeds.add("outlet", "First refused", "https://outlet.test/1", START)
    news.feeds.add("outlet", "Second refused", "https://outlet.test/2", START + timedelta(minutes=1))
    await run_poll_job(bot, news.clock)
    posts = news_posts(fake, channel)
    assert len(posts) == 2
    assert [r.status for p in posts for r in thread_requests(fake, p)] == [403, 403]
    [notice] = fake.messages_in(log_channel)
    expected = (f"{channel.mention}에서 뉴스 알림의 토론 스레드를 열지 못했어요" if korean else
                f"I couldn't open discussion threads for news alerts in {channel.mention}: I lack the Create Public "
                "Threads permission there.")
    assert expected in notice["content"]
    assert {state for _, state, _, _ in await alert_thread_rows(news)} == {"refused"}

    mark = fake.mark()
    await run_poll_job(bot, news.clock)  # when a retry would run: none
    news.feeds.add("outlet", "Third refused", "https://outlet.test/3", START + timedelta(minutes=2))
    await run_poll_job(bot, news.clock)
    assert len(fake.requests_to(*THREAD_FROM_MESSAGE, since=mark)) == 1  # only the new alert's one try
    assert len(fake.messages_in(log_channel)) == 1  # told once

    # Permission given back: threads open again, and a later refusal is news to the admins again.
    fake.set_overwrite(channel, g.role("Code Blue"))
    news.feeds.add("outlet", "Threaded again", "https://outlet.test/4", START + timedelta(minutes=3))
    await run_poll_job(bot, news.clock)
    assert len(threads_of(fake, channel)) == 1
    fake.set_overwrite(channel, g.role("Code Blue"), deny=Perm.CREATE_PUBLIC_THREADS)
    news.feeds.add("outlet", "Refused later", "https://outlet.test/5", START + timedelta(minutes=4))
    await run_poll_job(bot, news.clock)
    assert len(fake.messages_in(log_channel)) == 2


@pytest.mark.parametrize("crash_after", ["post", "thread"])
async def test_a_crash_between_the_post_and_its_thread_gives_the_story_exactly_one_thread_after_restart(
        fake, news, crash_after):
    """What a crash leaves: Discord stored the alert (and, crash_after="thread", opened its thread too) but the bot
    died before recording the send. After a restart on the same database the story is found in the channel, not
    posted again, and has exactly one thread: opened now, or the one it has (not a second)."""
    bot = await news.runner.start()
    g = fake.default_guild
    channel = g.channel("news")
    await configure(bot, g)
    if crash_after == "thread":
        await follow_threaded(fake, news, g, "outlet")
    else:  # the alert goes out without its thread, as when the crash came before the thread request
        news.feeds.set("outlet", "Outlet", old_items("https://outlet.test/old"))
        await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    news.feeds.add("outlet", "Posted just before the crash", "https://outlet.test/crash", START)
    await run_poll_job(bot, news.clock)
    [post] = news_posts(fake, channel)
    assert len(threads_of(fake, channel)) == (1 if crash_after == "thread" else 0)
    # Rewind the log to what the crash would leave: the send begun (attempted_at), its result never recorded.
    await news.runner.stop()
    conn = sqlite3.connect(news.runner.db_path)
    with conn:
        conn.execute("UPDATE news_deliveries SET state = 'pending', message_id = NULL, sent_at = NULL")
        conn.execute("UPDATE news_subscriptions SET thread = 1")
    conn.close()

    mark = fake.mark()
    bot = await news.runner.start()
    await run_poll_job(bot, news.clock)
    assert [r for r in fake.requests_to(*POST_MESSAGE, since=mark) if r.params["channel_id"] == str(channel.id)] == []
    assert news_posts(fake, channel) == [post]
    assert [t.id for t in threads_of(fake, channel)] == [int(post["id"])]
    opened = thread_requests(fake, post, since=mark)
    assert len(opened) == (1 if crash_after == "post" else 0)
    [row] = await bot.db.fetch_all("SELECT state, message_id FROM news_deliveries")
    assert (row["state"], row["message_id"]) == ("sent", int(post["id"]))
    assert await alert_thread_rows(news) == []
