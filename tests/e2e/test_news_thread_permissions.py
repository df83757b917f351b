"""Alert threads need permissions: `/news feed add|edit thread:on` and `/news threads on` are refused, ephemerally
and in the member's language, when the bot lacks Create Public Threads or Send Messages in Threads in the text
channel the alerts would go to (the feed's channel or the news channel), and nothing is written. So are feeds that
get threads because they follow the server's setting while server-wide threads are on (`/news feed add` without
`thread:` or with `thread:server`, `/news preset`, `/news feed edit thread:server` or a move of such a feed), and a
new news channel (`/config channel kind:news`) for the feeds that post there; `thread:off` stays allowed. Forum
channels need no check (a post per story). End to end with the fake Discord's permission overwrites."""

from __future__ import annotations

from tests.e2e import test_news
from tests.e2e.news_steps import START
from tests.e2e.settle import until
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

    await until(seen)


def refusal(channel, missing: str) -> str:
    return (f"I can't open alert threads in <#{channel.id}>: I'm missing {missing} there. Grant them to my role, "
            "or use `thread:off`.")


def korean_refusal(channel, missing: str) -> str:
    return (f"<#{channel.id}>에서 알림 스레드를 열 수 없어요: 그 채널에 {missing} 권한이 없어요. 그 채널에서 제 역할에 "
            "권한을 주거나 `thread:off`로 해 주세요.")


def server_refusal(channel, missing: str) -> str:
    return (f"Alert threads are on for the whole server (`/news threads`), so alerts in <#{channel.id}> would get "
            f"threads, but I'm missing {missing} there. Grant them to my role, or pick `thread:off` (for the feed "
            "with `/news feed edit`, or server-wide with `/news threads`).")


def korean_server_refusal(channel, missing: str) -> str:
    return (f"서버 전체에 알림 스레드가 켜져 있어서(`/news threads`) <#{channel.id}>의 알림에도 "
            f"스레드가 열려야 하는데, 그 채널에 {missing} 권한이 없어요. "
            "그 채널에서 제 역할에 권한을 주거나 `thread:off`로 해 주세요 "
            "(피드만이면 `/news feed edit`, 서버 전체면 `/news threads`).")


async def refused(fake, guild, member, command: str, expected: str, **options) -> None:
    """The command is refused with `expected`, ephemerally."""
    content, ephemeral = await answer(await fake.slash(guild, member, command, **options))
    assert ephemeral and content == expected


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
    await refused(fake, g, admin, "news feed add", refusal(channel, "Create Public Threads"), url=url, thread="on")
    await deny_bot(fake, bot, channel, Perm.SEND_MESSAGES_IN_THREADS)
    await refused(fake, g, admin, "news feed add", korean_refusal(channel, "스레드에서 메시지 보내기"),
                  url=url, thread="on", locale="ko")
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
    await refused(fake, g, admin, "news feed edit", refusal(channel, "Create Public Threads"),
                  feed=str(feed), thread="on", ping="none")
    await refused(fake, g, admin, "news feed edit", korean_refusal(channel, "공개 스레드 만들기"),
                  feed=str(feed), thread="on", locale="ko")
    options = (await news.service.subscription_options([feed]))[feed]
    assert (options.thread, options.ping_role_id) == (None, None)  # nothing of the refused edits was written

    # Threads on in a channel that allows them, then a move to one that does not: refused, the feed stays.
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="on",
                                               channel=general))
    assert content.startswith(f"**Outlet** now posts in <#{general.id}>")
    target = fake.add_channel(g, "no-threads")
    await deny_bot(fake, bot, target, Perm.SEND_MESSAGES_IN_THREADS)
    await refused(fake, g, admin, "news feed edit", refusal(target, "Send Messages in Threads"),
                  feed=str(feed), channel=target)
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
    await refused(fake, g, admin, "news threads", refusal(channel, "Create Public Threads"), thread="on")
    await refused(fake, g, admin, "news threads", korean_refusal(channel, "공개 스레드 만들기"),
                  thread="on", locale="ko")
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


async def server_threads_on(fake, bot, guild) -> None:
    content, _ = await answer(await fake.slash(guild, guild.member("admin"), "news threads", thread="on"))
    assert content.startswith("Every news alert in a text channel now gets its own discussion thread")
    assert (await bot.settings_service.get(guild.id)).news_threads is True


async def test_feeds_following_server_wide_threads_are_refused_on_add_where_threads_cannot_open(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel, general = g.member("admin"), g.channel("news"), g.channel("general")
    await server_threads_on(fake, bot, g)
    news.feeds.set("outlet", "Outlet", old_items())
    url = news.feeds.url("outlet")

    await deny_bot(fake, bot, general, Perm.CREATE_PUBLIC_THREADS)
    await refused(fake, g, admin, "news feed add", server_refusal(general, "Create Public Threads"),
                  url=url, channel=general)
    await refused(fake, g, admin, "news feed add", korean_server_refusal(general, "공개 스레드 만들기"),
                  url=url, channel=general, thread="server", locale="ko")
    # Into the news channel (no channel given), and a preset's feeds, which follow the server's setting too.
    await deny_bot(fake, bot, channel, Perm.SEND_MESSAGES_IN_THREADS)
    await refused(fake, g, admin, "news feed add", server_refusal(channel, "Send Messages in Threads"),
                  url=url, thread="server")
    await refused(fake, g, admin, "news preset", server_refusal(channel, "Send Messages in Threads"),
                  show="trauma-code")
    await refused(fake, g, admin, "news preset", korean_server_refusal(channel, "스레드에서 메시지 보내기"),
                  show="trauma-code", locale="ko")
    assert await news.service.list_feeds(g.id) == [] and news.feeds.requests["outlet"] == 0  # nothing written

    # thread:off into the same channels is fine.
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=url, channel=general, thread="off"))
    assert content.startswith("Following **Outlet**")
    news.feeds.set("other", "Other", old_items("https://other.test"))
    content, _ = await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("other"),
                                               thread="off", locale="ko"))
    assert content.startswith("**Other** 구독을 시작했어요")
    assert len(await news.service.list_feeds(g.id)) == 2


async def test_editing_or_moving_a_feed_on_server_wide_threads_is_refused_where_threads_cannot_open(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, general = g.member("admin"), g.channel("general")
    news.feeds.set("outlet", "Outlet", old_items())
    await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("outlet"), channel=general,
                                  thread="off"))
    feed = await subscription_id(news, g, news.feeds.url("outlet"))
    await server_threads_on(fake, bot, g)
    await deny_bot(fake, bot, general, Perm.CREATE_PUBLIC_THREADS)

    # Back to the server's setting where the feed posts: refused (en, ko); nothing written.
    await refused(fake, g, admin, "news feed edit", server_refusal(general, "Create Public Threads"),
                  feed=str(feed), thread="server", ping="none")
    await refused(fake, g, admin, "news feed edit", korean_server_refusal(general, "공개 스레드 만들기"),
                  feed=str(feed), thread="server", locale="ko")
    options = (await news.service.subscription_options([feed]))[feed]
    assert (options.thread, options.ping_role_id) == (False, None)

    # On the server's setting in a channel that allows threads, then moved to one that does not: refused.
    target = fake.add_channel(g, "no-threads")
    await deny_bot(fake, bot, target, Perm.SEND_MESSAGES_IN_THREADS)
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="server",
                                               channel=g.channel("news")))
    assert content.startswith(f"**Outlet** now posts in <#{g.channel('news').id}>")
    for locale, expected in (("en-US", server_refusal(target, "Send Messages in Threads")),
                             ("ko", korean_server_refusal(target, "스레드에서 메시지 보내기"))):
        content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed),
                                                           channel=target, locale=locale))
        assert ephemeral and content == expected
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), channel=target,
                                               thread="server"))
    assert content == server_refusal(target, "Send Messages in Threads")
    [item] = await news.service.list_feeds(g.id)
    options = (await news.service.subscription_options([feed]))[feed]
    assert (item.subscription.channel_id, options.thread) == (g.channel("news").id, None)

    # An edit that does not touch threads or the channel checks nothing; moving with thread:off is fine.
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), ping="none"))
    assert content.startswith("**Outlet** now posts in")
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), channel=target,
                                               thread="off"))
    assert content.startswith(f"**Outlet** now posts in <#{target.id}>")


async def test_a_news_channel_without_thread_permissions_is_refused_while_its_feeds_would_get_threads(fake, news):
    """`/config channel kind:news` moves the feeds without a channel of their own: refused where their alerts would
    get threads (server-wide threads on and feeds following it, or a feed on thread:on) the bot cannot open."""
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel = g.member("admin"), g.channel("news")
    target = fake.add_channel(g, "no-threads")
    await deny_bot(fake, bot, target, Perm.CREATE_PUBLIC_THREADS | Perm.SEND_MESSAGES_IN_THREADS)
    news.feeds.set("outlet", "Outlet", old_items())
    await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("outlet")))
    feed = await subscription_id(news, g, news.feeds.url("outlet"))
    missing = "Create Public Threads, Send Messages in Threads"
    # Threads off server-wide: the feed on the server's setting gets none, so the channel is fine ...
    content, _ = await answer(await fake.slash(g, admin, "config channel", kind="news", channel=target))
    assert content == f"News channel set to <#{target.id}>."
    await answer(await fake.slash(g, admin, "config channel", kind="news", channel=channel))
    await server_threads_on(fake, bot, g)

    # ... but with threads on server-wide it is refused (en, ko) and the news channel stays.
    await refused(fake, g, admin, "config channel", server_refusal(target, missing), kind="news", channel=target)
    both_missing = "공개 스레드 만들기, 스레드에서 메시지 보내기"
    await refused(fake, g, admin, "config channel", korean_server_refusal(target, both_missing),
                  kind="news", channel=target, locale="ko")
    assert (await bot.settings_service.get(g.id)).news_channel_id == channel.id

    # A feed on thread:on in the news channel is refused the same way, with threads off server-wide.
    await answer(await fake.slash(g, admin, "news threads", thread="off"))
    await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="on"))
    await refused(fake, g, admin, "config channel", refusal(target, missing), kind="news", channel=target)
    content, _ = await answer(await fake.slash(g, admin, "config channel", kind="news", channel=target, locale="ko"))
    assert content == korean_refusal(target, "공개 스레드 만들기, 스레드에서 메시지 보내기")
    assert (await bot.settings_service.get(g.id)).news_channel_id == channel.id

    # The feed on thread:off (or in a channel of its own): the news channel may move there.
    await answer(await fake.slash(g, admin, "news threads", thread="on"))
    await answer(await fake.slash(g, admin, "news feed edit", feed=str(feed), thread="off"))
    content, _ = await answer(await fake.slash(g, admin, "config channel", kind="news", channel=target))
    assert content == f"News channel set to <#{target.id}>."
    assert (await bot.settings_service.get(g.id)).news_channel_id == target.id
