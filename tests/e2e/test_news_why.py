"""`/news why` end to end: for one story, by link or title, what happened and why (posted with the message's link,
waiting, excluded, no keyword, same story as an earlier alert, not seen yet with the feed's next poll or due now,
feed paused, held back because the channel is gone or Discord was failing, given up, already there when followed,
unknown), each in English and Korean. Polls are run by the real `news:poll` job (news_steps.run_poll_job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e import test_news
from tests.e2e.news_steps import pause_poll_job, run_poll_job
from tests.e2e.test_news import START, answer, configure, news_posts
from tests.feeds import fixtures

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news


async def why(fake, guild, link: str, locale: str = "en-US") -> list[str]:
    content, ephemeral = await answer(await fake.slash(guild, guild.member("admin"), "news why", link=link,
                                                       locale=locale))
    assert ephemeral
    return content.split("\n")


async def why_both(fake, guild, query: str) -> tuple[str, str]:
    """What `/news why` says happened to the story (the line after the story's), in English and in Korean."""
    return (await why(fake, guild, query))[1], (await why(fake, guild, query, locale="ko"))[1]


async def start_following_outlet(fake, world, *, items: tuple = (), channel=None, keywords: tuple = ()):
    """Start the bot, set the default server up, add `keywords` and follow the feed "Outlet" (already holding
    `items`) in `channel` (default: the news channel); returns the bot."""
    bot = await world.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    for keyword in keywords:
        await answer(await fake.slash(g, admin, "news keywords add", keyword=keyword))
    world.feeds.set("outlet", "Outlet", list(items))
    where = {} if channel is None else {"channel": channel}
    await answer(await fake.slash(g, admin, "news feed add", url=world.feeds.url("outlet"), **where))
    return bot


async def feed_id(world, guild, name: str) -> str:
    url = world.feeds.url(name)
    return next(str(i.subscription.id) for i in await world.service.list_feeds(guild.id) if i.feed.url == url)


async def test_why_explains_posted_excluded_unmatched_duplicate_unseen_paused_and_unknown_stories(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin, channel = g.member("admin"), g.channel("news")
    for name, title in (("outlet", "Outlet"), ("mirror", "Mirror")):
        news.feeds.set(name, title, [("Season 2 rumours from before", f"https://{name}.test/before", START)])
        await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url(name)))
    for keyword in ("season 2", "-spoiler"):
        await answer(await fake.slash(g, admin, "news keywords add", keyword=keyword))
    news.feeds.add("outlet", "Season 2 confirmed", "https://outlet.test/s2", START)
    news.feeds.add("outlet", "Season 2 spoiler leak", "https://outlet.test/leak", START + timedelta(minutes=1))
    news.feeds.add("outlet", "Another drama wins", "https://outlet.test/other", START + timedelta(minutes=2))
    await news.next_cycle()
    news.feeds.add("mirror", "Season 2 confirmed", "https://mirror.test/copy", START + timedelta(minutes=3))
    await news.next_cycle()
    [post] = news_posts(fake, channel)
    message = f"https://discord.com/channels/{g.id}/{channel.id}/{post['id']}"

    assert await why(fake, g, "https://outlet.test/s2?utm_source=x") == [
        "**Story:** [Season 2 confirmed](<https://outlet.test/s2>)",
        f"✅ Posted: it matched the keyword `season 2` → {message}"]
    assert await why(fake, g, "Season 2 confirmed", locale="ko") == [
        "**소식:** [Season 2 confirmed](<https://outlet.test/s2>)",
        f"✅ 올렸어요: 키워드 `season 2`에 맞았어요 → {message}"]
    assert await why_both(fake, g, "spoiler leak") == ("🚫 Excluded by `-spoiler`.", "🚫 `-spoiler` 때문에 제외됐어요.")
    assert await why_both(fake, g, "https://outlet.test/other") == (
        "➖ No keyword matched. Keywords in force for **Outlet**: `season 2`, `-spoiler`",
        "➖ 맞는 키워드가 없었어요. **Outlet**에 적용되는 키워드: `season 2`, `-spoiler`")
    assert await why_both(fake, g, "https://mirror.test/copy") == (
        f"🔁 The same story as an earlier alert: {message}", f"🔁 앞서 올린 알림과 같은 소식이에요: {message}")

    news.feeds.add("outlet", "Season 2 poster", "https://outlet.test/poster", START + timedelta(minutes=4))
    [feed] = [f.feed for f in await news.service.list_feeds(g.id) if f.feed.url == news.feeds.url("outlet")]
    when = f"<t:{feed.next_poll_at}:f> (<t:{feed.next_poll_at}:R>)"
    assert await why_both(fake, g, "Season 2 poster") == (
        f"🕒 Not seen yet: **Outlet** is checked next {when}.",
        f"🕒 아직 못 봤어요: **Outlet**의 다음 확인은 {when}이에요.")

    await answer(await fake.slash(g, admin, "news feed pause", feed=await feed_id(news, g, "mirror")))
    news.feeds.add("mirror", "Season 2 mirror exclusive", "https://mirror.test/excl", START + timedelta(minutes=5))
    assert await why_both(fake, g, "mirror exclusive") == (
        "⏸️ Its feed **Mirror** is paused: items that appear while it is paused are skipped.",
        "⏸️ 피드 **Mirror**이(가) 일시 중지돼 있어요: 중지된 동안 나온 항목은 건너뛰어요.")
    assert await why_both(fake, g, "https://outlet.test/before") == (
        "➖ It was already in **Outlet** when the server followed it (or while it was paused), so it was not posted.",
        "➖ 서버가 **Outlet**을(를) 구독할 때 (또는 일시 중지된 동안) 이미 있던 항목이라 올리지 않았어요.")
    assert await why_both(fake, g, "https://nowhere.test/story") == (
        "❓ I can't find that story in this server's alerts or in its feeds right now.",
        "❓ 이 서버의 알림에서도, 지금 피드에서도 그 소식을 찾을 수 없어요.")
    content, ephemeral = await answer(await fake.slash(g, admin, "news why", link="   "))
    assert ephemeral and content == "Give the story's link or words of its title."
    content, ephemeral = await answer(await fake.slash(g, admin, "news why", link="   ", locale="ko"))
    assert ephemeral and content == "소식의 링크나 제목의 일부를 주세요."


async def test_why_explains_stories_held_back_by_a_deleted_channel_or_failing_discord(fake, news):
    await start_following_outlet(fake, news)
    g = fake.default_guild

    fake.fail("POST", "/channels/{channel_id}/messages", status=503)
    news.feeds.add("outlet", "Season 2 date", "https://outlet.test/date", START)
    await news.next_cycle()
    held, held_ko = await why_both(fake, g, "Season 2 date")
    assert held.startswith("⏸️ Held back: Discord was failing (unavailable: 503")
    assert "Next try <t:" in held
    assert held_ko.startswith("⏸️ 보류 중: Discord 오류가 있었어요")
    await news.next_cycle()  # Discord works again: posted
    assert (await why(fake, g, "Season 2 date"))[1].startswith("✅ Posted")

    fake.fail("POST", "/channels/{channel_id}/messages", status=403, code=50013)
    news.feeds.add("outlet", "Season 2 cast list", "https://outlet.test/cast", START + timedelta(seconds=30))
    await news.next_cycle()
    failed, failed_ko = await why_both(fake, g, "cast list")
    assert failed.startswith("❌ It could not be posted (forbidden")
    assert failed_ko.startswith("❌ 올리지 못했어요 (forbidden")

    news_channel = g.channel("news")
    fake.delete_channel(news_channel)
    news.feeds.add("outlet", "Season 2 trailer", "https://outlet.test/trailer", START + timedelta(minutes=1))
    await news.next_cycle()
    assert await why_both(fake, g, "trailer") == (
        f"⏸️ Held back: the channel <#{news_channel.id}> is gone. It is posted once a news channel is set with "
        "`/config channel`.",
        f"⏸️ 보류 중: 채널 <#{news_channel.id}>이(가) 없어졌어요. `/config channel`로 뉴스 채널을 정하면 올라가요.")


async def test_a_story_not_seen_yet_names_the_feeds_next_poll_then_says_due_and_the_poll_then_posts_it(fake, news):
    bot = await start_following_outlet(fake, news,
                                       items=(("Old story", "https://outlet.test/old", START - timedelta(days=1)),))
    g = fake.default_guild
    channel = g.channel("news")
    news.feeds.add("outlet", "Season 2 poster", "https://outlet.test/poster", START + timedelta(minutes=1))
    [item] = await news.service.list_feeds(g.id)
    next_poll = item.feed.next_poll_at
    assert next_poll > news.clock.now.timestamp()
    when = f"<t:{next_poll}:f> (<t:{next_poll}:R>)"
    story, korean_story = ("**Story:** [Season 2 poster](<https://outlet.test/poster>)",
                           "**소식:** [Season 2 poster](<https://outlet.test/poster>)")
    assert await why(fake, g, "https://outlet.test/poster?utm_source=rss") == [
        story, f"🕒 Not seen yet: **Outlet** is checked next {when}."]
    assert await why(fake, g, "Season 2 poster", locale="ko") == [
        korean_story, f"🕒 아직 못 봤어요: **Outlet**의 다음 확인은 {when}이에요."]

    # A second before that time the job does not poll the feed, and the answer stays.
    fetched = news.feeds.requests["outlet"]
    await run_poll_job(bot, news.clock, datetime.fromtimestamp(next_poll - 1, UTC) - news.clock.now)
    assert news.feeds.requests["outlet"] == fetched and news_posts(fake, channel) == []
    assert (await why(fake, g, "Season 2 poster"))[1] == f"🕒 Not seen yet: **Outlet** is checked next {when}."

    # Its time has come, the job has not run yet: due, polled at the job's next run.
    await pause_poll_job(bot)
    news.clock.now = datetime.fromtimestamp(next_poll, UTC)
    assert await why(fake, g, "Season 2 poster") == [
        story, "🕒 Not seen yet: **Outlet** is due and is checked at the next poll (within a minute)."]
    assert await why(fake, g, "Season 2 poster", locale="ko") == [
        korean_story, "🕒 아직 못 봤어요: **Outlet**은(는) 확인할 때가 됐어요. 다음 확인(1분 안)에 봐요."]

    await run_poll_job(bot, news.clock, timedelta(0))  # that run
    [post] = news_posts(fake, channel)
    message = f"https://discord.com/channels/{g.id}/{channel.id}/{post['id']}"
    assert await why(fake, g, "Season 2 poster") == [
        story, f"✅ Posted (no keywords are in force: every new item is posted) → {message}"]
    assert (await why(fake, g, "Season 2 poster", locale="ko"))[1] == (
        f"✅ 올렸어요 (적용되는 키워드가 없어서 새 항목은 모두 올려요) → {message}")


async def test_a_story_waiting_behind_a_failed_send_is_explained_as_waiting_then_both_are_posted(fake, news):
    await start_following_outlet(fake, news, keywords=("season 2",))
    g = fake.default_guild
    channel = g.channel("news")
    news.feeds.add("outlet", "Season 2 date", "https://outlet.test/date", START)
    news.feeds.add("outlet", "Season 2 cast", "https://outlet.test/cast", START + timedelta(minutes=1))
    fake.fail("POST", "/channels/{channel_id}/messages", status=503)  # the first story's send only
    await news.next_cycle()
    assert news_posts(fake, channel) == []
    assert (await why(fake, g, "Season 2 date"))[1].startswith("⏸️ Held back: Discord was failing")
    assert (await why(fake, g, "Season 2 cast"))[1] == (
        f"⏳ It matched and is waiting to be posted in <#{channel.id}> (within the next minute).")
    assert (await why(fake, g, "https://outlet.test/cast", locale="ko"))[1] == (
        f"⏳ 키워드에 맞아서 <#{channel.id}>에 올라가기를 기다리고 있어요 (1분 안에).")

    await news.next_cycle(seconds=31)  # the retry: both posted, in order
    posts = news_posts(fake, channel)
    assert [p["embeds"][0]["title"] for p in posts] == ["Season 2 date", "Season 2 cast"]
    message = f"https://discord.com/channels/{g.id}/{channel.id}/{posts[1]['id']}"
    assert (await why(fake, g, "Season 2 cast"))[1] == f"✅ Posted: it matched the keyword `season 2` → {message}"


async def test_a_story_posted_in_a_forum_links_to_its_post(fake, news):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await start_following_outlet(fake, news, channel=forum)
    news.feeds.add("outlet", "Season 2 table read", "https://outlet.test/read", START)
    mark = fake.mark()
    await news.next_cycle()
    [created] = fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark)
    post = created.response["id"]
    link = f"https://discord.com/channels/{g.id}/{post}/{post}"
    assert await why_both(fake, g, "table read") == (
        f"✅ Posted (no keywords are in force: every new item is posted) → {link}",
        f"✅ 올렸어요 (적용되는 키워드가 없어서 새 항목은 모두 올려요) → {link}")
