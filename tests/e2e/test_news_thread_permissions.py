"""Alert threads need permissions: `/news feed add|edit thread:on` and `/news threads on` are refused, ephemerally
and in the member's language, when the bot lacks Create Public Threads or Send Messages in Threads in the text
channel the alerts would go to (the feed's channel or the news channel), and nothing is written. Forum channels
need no check (a post per story). End to end with the fake Discord's permission overwrites."""

from __future__ import annotations

import asyncio

from tests.e2e import test_news
from tests.e2e.news_steps import START
from tests.e2e.test_news import answer, configure, news_posts, old_items
from tests.fakediscord.state import Perm
from tests.feeds import fixtures

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news
THREAD_FROM_MESSAGE = ("POST", "/channels/{channel_id}/messages/{message_id}/threads")


async def deny_bot(fake, bot, channel, deny: int) -> None:
    """Give the bot a channel overwrite (deny=0: remove it) and wait until the bot's cache has it."""
    g = fake.default_guild
    fake.set_overwrite(channel, fake.bot_member(g), deny=deny)

    def seen() -> bool:
        cached = bot.get_channel(channel.id)
        return cached is not None and cached.overwrites_for(cached.guild.me).pair()[1].value == int(deny)

    async def wait() -> None:
        while not seen():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), 5)


def refusal(channel, missing: str) -> str:
    return (f"I can't open alert threads in <#{channel.id}>: I'm missing {missing} there. Grant them to my role, "
            "or use `thread:off`.")


def korean_refusal(channel, missing: str) -> str:
    return (f"<#{channel.id}>에서 알림 스레드를 열 수 없어요: 그 채널에 {missing} 권한이 없어요. 그 채널에서 제 역할에 "
            "권한을 주거나 `thread:off`로 해 주세요.")


async def subscription_id(world, guild, url: str) -> int:
    return next(i.subscription.id for i in await world.service.list_feeds(guild.id) if i.feed.url == url)


async def test_feed_add_thread_on_is_refused_without_thread_permissions_and_nothing_is_followed(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel = g.member("admin"), g.channel("news")
    news.feeds.set("outlet", "Outlet", old_items())
    url = news.feeds.url("outlet")

    await deny_bot(fake, bot, channel, Perm.CREATE_PUBLIC_THREADS)
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed add", url=url, thread="on"))
    assert ephemeral and content == refusal(channel, "Create Public Threads")
    await deny_bot(fake, bot, channel, Perm.SEND_MESSAGES_IN_THREADS)
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed add", url=url, thread="on", locale="ko"))
    assert ephemeral and content == korean_refusal(channel, "스레드에서 메시지 보내기")
    general = g.channel("general")
    await deny_bot(fake, bot, general, Perm.CREATE_PUBLIC_THREADS | Perm.SEND_MESSAGES_IN_THREADS)
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=url, thread="on", channel=general))
    assert content == refusal(general, "Create Public Threads, Send Messages in Threads")
    assert await news.service.list_feeds(g.id) == [] and news.feeds.requests["outlet"] == 0  # nothing written

    # Without threads the same channel is fine; so is a forum channel (a post per story), whatever its overwrites.
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=url, thread="off"))
    assert content.startswith("Following **Outlet**")
    forum = g.channel("episode-discussion")
    await deny_bot(fake, bot, forum, Perm.CREATE_PUBLIC_THREADS)
    news.feeds.set("forum", "Forum Outlet", [])
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("forum"), thread="on",
                                               channel=forum))
    assert content.startswith("Following **Forum Outlet**")


async def test_feed_edit_thread_on_and_moving_a_threaded_feed_are_refused_without_thread_permissions(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel, general = g.member("admin"), g.channel("news"), g.channel("general")
    news.feeds.set("outlet", "Outlet", old_items())
    await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("outlet")))
    feed = await subscription_id(news, g, news.feeds.url("outlet"))

    await deny_bot(fake, bot, channel, Perm.CREATE_PUBLIC_THREADS)  # the news channel, where the feed posts
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="on",
                                                       ping="none"))
    assert ephemeral and content == refusal(channel, "Create Public Threads")
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="on",
                                                       locale="ko"))
    assert ephemeral and content == korean_refusal(channel, "공개 스레드 만들기")
    options = (await news.service.subscription_options([feed]))[feed]
    assert (options.thread, options.ping_role_id) == (None, None)  # nothing of the refused edits was written

    # Threads on in a channel that allows them, then a move to one that does not: refused, the feed stays.
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="on",
                                               channel=general))
    assert content.startswith(f"**Outlet** now posts in <#{general.id}>")
    target = fake.add_channel(g, "no-threads")
    await deny_bot(fake, bot, target, Perm.SEND_MESSAGES_IN_THREADS)
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), channel=target))
    assert ephemeral and content == refusal(target, "Send Messages in Threads")
    [item] = await news.service.list_feeds(g.id)
    assert item.subscription.channel_id == general.id
    # Moving it with thread:off is fine.
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), channel=target,
                                               thread="off"))
    assert content.startswith(f"**Outlet** now posts in <#{target.id}>")


async def test_server_wide_threads_are_refused_where_alerts_could_not_get_them_and_allowed_once_granted(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel, general = g.member("admin"), g.channel("news"), g.channel("general")
    await deny_bot(fake, bot, channel, Perm.CREATE_PUBLIC_THREADS)
    content, ephemeral = await answer(await fake.slash(g, admin, "news threads", thread="on"))
    assert ephemeral and content == refusal(channel, "Create Public Threads")
    content, ephemeral = await answer(await fake.slash(g, admin, "news threads", thread="on", locale="ko"))
    assert ephemeral and content == korean_refusal(channel, "공개 스레드 만들기")
    assert (await bot.settings_service.get(g.id)).news_threads is False

    # The news channel allows threads again, but a feed following the server's setting posts in #general, which
    # does not; a feed set to thread:off there does not matter.
    await deny_bot(fake, bot, channel, 0)
    for name, thread in (("follows", "server"), ("flat", "off")):
        news.feeds.set(name, name.title(), old_items(f"https://{name}.test"))
        target = general if name == "follows" else g.channel("watch-party")
        await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url(name), channel=target,
                                      thread=thread))
    await deny_bot(fake, bot, general, Perm.SEND_MESSAGES_IN_THREADS)
    await deny_bot(fake, bot, g.channel("watch-party"), Perm.CREATE_PUBLIC_THREADS)
    content, _ = await answer(await fake.slash(g, admin, "news threads", thread="on"))
    assert content == refusal(general, "Send Messages in Threads")
    assert (await bot.settings_service.get(g.id)).news_threads is False

    await deny_bot(fake, bot, general, 0)
    content, _ = await answer(await fake.slash(g, admin, "news threads", thread="on"))
    assert content.startswith("Every news alert in a text channel now gets its own discussion thread")
    assert (await bot.settings_service.get(g.id)).news_threads is True
    # The alert gets its thread (the real poll job).
    news.feeds.add("follows", "Season 2 confirmed", "https://follows.test/s2", START)
    mark = fake.mark()
    await news.next_cycle()
    [post] = news_posts(fake, general)
    [thread] = fake.requests_to(*THREAD_FROM_MESSAGE, since=mark)
    assert thread.params["message_id"] == str(post["id"])
