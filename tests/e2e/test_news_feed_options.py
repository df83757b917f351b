"""Per-feed ping (`ping:<role|none>`), alert threads (`thread:`, `/news threads`), `/news feed edit` and the counts
of `/news test`, end to end against the fake Discord with feeds from the local feed server; polls are run by the
real `news:poll` job (news_steps.run_poll_job)."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e import test_news
from tests.e2e.test_news import (
    POST_MESSAGE,
    START,
    answer,
    configure,
    news_posts,
    old_items,
)
from tests.feeds import fixtures

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news
THREAD_FROM_MESSAGE = ("POST", "/channels/{channel_id}/messages/{message_id}/threads")


async def follow(fake, world, name: str, title: str, **options) -> str:
    g = fake.default_guild
    world.feeds.set(name, title, old_items(f"https://{name}.test/old"))
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                       url=world.feeds.url(name), **options))
    assert ephemeral and content.startswith(f"Following **{title}**"), content
    return world.feeds.url(name)


async def subscription_id(world, guild, url: str) -> str:
    return next(str(i.subscription.id) for i in await world.service.list_feeds(guild.id) if i.feed.url == url)


async def test_official_feed_pings_its_role_and_a_rumour_feed_posts_quietly(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    fans = fake.add_role(g, "Official News", mentionable=True)
    news_role = g.role("News Ping")
    await follow(fake, news, "official", "Official", ping="Official News")
    await follow(fake, news, "rumours", "Rumour Mill", ping="none")
    await follow(fake, news, "plain", "Plain Outlet")
    news.feeds.add("official", "Season 2 officially announced", "https://official.test/s2", START)
    news.feeds.add("rumours", "Rumour: a new cast member", "https://rumours.test/cast", START + timedelta(minutes=1))
    news.feeds.add("plain", "Filming photos", "https://plain.test/photos", START + timedelta(minutes=2))
    mark = fake.mark()
    await news.next_cycle()
    requests = {r.json["embeds"][0]["title"]: r.json for r in fake.requests_to(*POST_MESSAGE, since=mark)}
    assert requests["Season 2 officially announced"]["content"] == f"<@&{fans.id}>"
    assert requests["Season 2 officially announced"]["allowed_mentions"] == {"parse": [], "roles": [fans.id]}
    assert requests["Rumour: a new cast member"].get("content") in (None, "")
    assert requests["Rumour: a new cast member"]["allowed_mentions"] == {"parse": []}
    assert requests["Filming photos"]["content"] == f"<@&{news_role.id}>"
    assert requests["Filming photos"]["allowed_mentions"] == {"parse": [], "roles": [news_role.id]}
    posts = {p["embeds"][0]["title"]: p for p in news_posts(fake, g.channel("news"))}
    assert posts["Rumour: a new cast member"]["mention_roles"] == []
    assert posts["Season 2 officially announced"]["mention_roles"] == [str(fans.id)]


async def test_an_unknown_ping_role_is_refused_in_english_and_korean_and_nothing_is_followed(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("outlet", "Outlet", [])
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                       url=news.feeds.url("outlet"), ping="Nobody"))
    assert ephemeral and content == ("“Nobody” is not a role of this server. Pick a role, `none` to post quietly or "
                                     "`default` for the news role.")
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news feed add",
                                                       url=news.feeds.url("outlet"), ping="Nobody", locale="ko"))
    assert ephemeral and content.startswith("“Nobody”은(는) 이 서버의 역할이 아니에요.")
    assert await news.service.list_feeds(g.id) == [] and news.feeds.requests["outlet"] == 0
    ix = await fake.autocomplete(g, g.member("admin"), "news feed add", focused="ping", value="fan",
                                 options={"url": news.feeds.url("outlet")})
    names = [c["name"] for c in (await ix.response()).choices]
    assert names == ["none (post quietly)", "default (the news role)", "@Fans"]
    ix = await fake.autocomplete(g, g.member("admin"), "news feed add", focused="ping", value="", locale="ko",
                                 options={"url": news.feeds.url("outlet")})
    assert [c["name"] for c in (await ix.response()).choices][:2] == ["없음 (조용히 올리기)", "기본 (뉴스 알림 역할)"]


async def test_feed_edit_moves_the_feed_and_changes_ping_thread_and_keywords(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, general = g.member("admin"), g.channel("general")
    url = await follow(fake, news, "outlet", "Outlet Daily")
    feed = await subscription_id(news, g, url)

    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=feed, channel=general,
                                                       ping="none", options={"thread": "on",
                                                                             "keywords": "season 2, -spoiler"}))
    assert ephemeral and content == (f"**Outlet Daily** now posts in <#{general.id}>, pings none (post quietly), "
                                     "each alert gets its own thread.")
    content, _ = await answer(await fake.slash(g, admin, "news keywords list", feed=feed))
    assert content == "Keywords (this feed only): `season 2`, `-spoiler`"
    listed = (await (await fake.slash(g, admin, "news feed list")).response()).embeds[0]["fields"][0]["value"]
    assert "Pings none (post quietly) · each alert gets its own thread" in listed

    news.feeds.add("outlet", "Season 2 teaser", "https://outlet.test/teaser", START)
    news.feeds.add("outlet", "Season 2 spoiler leak", "https://outlet.test/leak", START + timedelta(minutes=1))
    news.feeds.add("outlet", "Other drama", "https://outlet.test/other", START + timedelta(minutes=2))
    mark = fake.mark()
    await news.next_cycle()
    assert news_posts(fake, g.channel("news")) == []
    [post] = news_posts(fake, general)
    assert post["embeds"][0]["title"] == "Season 2 teaser" and not post.get("content")
    [thread] = fake.requests_to(*THREAD_FROM_MESSAGE, since=mark)
    assert thread.params["message_id"] == str(post["id"]) and thread.json["name"] == "Season 2 teaser"

    # Back to the server's defaults, in Korean; keywords "none" clears the feed's own keywords.
    content, _ = await answer(await fake.slash(g, admin, "news feed edit", feed=feed, ping="default",
                                               options={"thread": "server", "keywords": "none"}, locale="ko"))
    assert content == (f"**Outlet Daily**: 이제 <#{general.id}>에 올리고, 알림은 기본 (뉴스 알림 역할), "
                       "서버 설정대로 스레드 (`/news threads`).")
    assert (await answer(await fake.slash(g, admin, "news keywords list", feed=feed)))[0] == (
        "No keywords (this feed only): every new item is posted.")
    news.feeds.add("outlet", "Another story", "https://outlet.test/another", START + timedelta(minutes=3))
    mark = fake.mark()
    await news.next_cycle()
    [request] = fake.requests_to(*POST_MESSAGE, since=mark)
    assert request.json["content"] == f"<@&{g.role('News Ping').id}>"
    assert fake.requests_to(*THREAD_FROM_MESSAGE, since=mark) == []


async def test_feed_edit_refuses_bad_input_and_writes_nothing(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    url = await follow(fake, news, "outlet", "Outlet Daily")
    feed = await subscription_id(news, g, url)
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=feed, ping="none",
                                                       keywords="re:(unclosed"))
    assert ephemeral and content.startswith("“re:(unclosed” is not a valid regular expression")
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed="999", ping="none"))
    assert ephemeral and content == "I don't know that feed here. Pick one from the list."
    options = await news.service.subscription_options([int(feed)])
    assert options[int(feed)].ping_role_id is None  # nothing was written by the refused edit
    content, ephemeral = await answer(await fake.slash(g, admin, "news feed edit", feed=feed, ping="@Ghost",
                                                       locale="ko"))
    assert ephemeral and content.startswith("“@Ghost”은(는) 이 서버의 역할이 아니에요.")


async def test_server_wide_threads_give_each_alert_a_thread_unless_the_feed_says_off(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    content, ephemeral = await answer(await fake.slash(g, admin, "news threads", thread="on"))
    assert ephemeral and content.startswith("Every news alert in a text channel now gets its own discussion thread")
    content, _ = await answer(await fake.slash(g, admin, "news threads", thread="on", locale="ko"))
    assert content.startswith("이제 텍스트 채널의 뉴스 알림마다 토론 스레드가 열려요")
    await follow(fake, news, "threaded", "Threaded")
    await follow(fake, news, "flat", "Flat", thread="off")
    news.feeds.add("threaded", "Episode 9 rumours", "https://threaded.test/9", START)
    news.feeds.add("flat", "Box office numbers", "https://flat.test/box", START + timedelta(minutes=1))
    mark = fake.mark()
    await news.next_cycle()
    posts = {p["embeds"][0]["title"]: p for p in news_posts(fake, g.channel("news"))}
    [thread] = fake.requests_to(*THREAD_FROM_MESSAGE, since=mark)
    assert thread.params["message_id"] == str(posts["Episode 9 rumours"]["id"])
    assert thread.json["name"] == "Episode 9 rumours" and thread.json["auto_archive_duration"] == 10080
    assert (await bot.settings_service.get(g.id)).news_threads is True


async def test_news_test_counts_every_entry_that_would_be_posted_and_lists_the_newest_ten(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.set("busy", "Busy", [(f"Season 2 story {n}", f"https://busy.test/{n}", START + timedelta(minutes=n))
                                    for n in range(1, 14)])
    content, ephemeral = await answer(await fake.slash(g, g.member("admin"), "news test", url=news.feeds.url("busy")))
    lines = content.split("\n")
    assert ephemeral
    assert lines[0] == "**Busy**: 13 items; 13 would be posted with the server-wide keywords, 0 excluded."
    assert lines[1] == "The newest 10:"
    assert lines[2:] == [f"• Season 2 story {n} — `no keywords: everything`" for n in range(13, 3, -1)]
    content, _ = await answer(await fake.slash(g, g.member("admin"), "news test", url=news.feeds.url("busy"),
                                               locale="ko"))
    assert content.split("\n")[1] == "최신 10개:"


async def test_stories_waiting_for_a_deleted_news_channel_follow_the_feed_to_its_new_channel(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    url = await follow(fake, news, "outlet", "Outlet Daily")
    fake.delete_channel(g.channel("news"))
    news.feeds.add("outlet", "Season 2 premiere date", "https://outlet.test/date", START)
    await news.next_cycle()  # the channel is found gone: the story waits
    general = g.channel("general")
    assert news_posts(fake, general) == []
    await answer(await fake.slash(g, g.member("admin"), "news feed edit", feed=await subscription_id(news, g, url),
                                  channel=general))
    await news.next_cycle()
    assert [p["embeds"][0]["title"] for p in news_posts(fake, general)] == ["Season 2 premiere date"]
