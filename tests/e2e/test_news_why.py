"""`/news why` end to end: for one story, by link or title, what happened and why (posted, excluded, no keyword,
same story as an earlier alert, not seen yet, feed paused, held back because the channel is gone or Discord was
failing, unknown), in English and Korean."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e import test_news
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
    assert (await why(fake, g, "Season 2 confirmed", locale="ko"))[1] == (
        f"✅ 올렸어요: 키워드 `season 2`에 맞았어요 → {message}")
    assert (await why(fake, g, "spoiler leak"))[1] == "🚫 Excluded by `-spoiler`."
    assert (await why(fake, g, "https://outlet.test/other"))[1] == (
        "➖ No keyword matched. Keywords in force for **Outlet**: `season 2`, `-spoiler`")
    assert (await why(fake, g, "https://mirror.test/copy"))[1] == (
        f"🔁 The same story as an earlier alert: {message}")

    news.feeds.add("outlet", "Season 2 poster", "https://outlet.test/poster", START + timedelta(minutes=4))
    [feed] = [f.feed for f in await news.service.list_feeds(g.id) if f.feed.url == news.feeds.url("outlet")]
    when = f"<t:{feed.next_poll_at}:f> (<t:{feed.next_poll_at}:R>)"
    assert (await why(fake, g, "Season 2 poster"))[1] == f"🕒 Not seen yet: **Outlet** is checked next {when}."
    assert (await why(fake, g, "Season 2 poster", locale="ko"))[1] == (
        f"🕒 아직 못 봤어요: **Outlet**의 다음 확인은 {when}이에요.")

    await answer(await fake.slash(g, admin, "news feed pause", feed=await feed_id(news, g, "mirror")))
    news.feeds.add("mirror", "Season 2 mirror exclusive", "https://mirror.test/excl", START + timedelta(minutes=5))
    assert (await why(fake, g, "mirror exclusive"))[1] == (
        "⏸️ Its feed **Mirror** is paused: items that appear while it is paused are skipped.")
    assert (await why(fake, g, "https://outlet.test/before"))[1] == (
        "➖ It was already in **Outlet** when the server followed it (or while it was paused), so it was not posted.")
    assert (await why(fake, g, "https://nowhere.test/story"))[1] == (
        "❓ I can't find that story in this server's alerts or in its feeds right now.")
    content, ephemeral = await answer(await fake.slash(g, admin, "news why", link="   "))
    assert ephemeral and content == "Give the story's link or words of its title."


async def test_why_explains_stories_held_back_by_a_deleted_channel_or_failing_discord(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    admin = g.member("admin")
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, admin, "news feed add", url=news.feeds.url("outlet")))

    fake.fail("POST", "/channels/{channel_id}/messages", status=503)
    news.feeds.add("outlet", "Season 2 date", "https://outlet.test/date", START)
    await news.next_cycle()
    lines = await why(fake, g, "Season 2 date")
    assert lines[1].startswith("⏸️ Held back: Discord was failing (unavailable: 503")
    assert "Next try <t:" in lines[1]
    assert (await why(fake, g, "Season 2 date", locale="ko"))[1].startswith("⏸️ 보류 중: Discord 오류가 있었어요")
    await news.next_cycle()  # Discord works again: posted
    assert (await why(fake, g, "Season 2 date"))[1].startswith("✅ Posted")

    fake.fail("POST", "/channels/{channel_id}/messages", status=403, code=50013)
    news.feeds.add("outlet", "Season 2 cast list", "https://outlet.test/cast", START + timedelta(seconds=30))
    await news.next_cycle()
    assert (await why(fake, g, "cast list"))[1].startswith("❌ It could not be posted (forbidden")

    news_channel = g.channel("news")
    fake.delete_channel(news_channel)
    news.feeds.add("outlet", "Season 2 trailer", "https://outlet.test/trailer", START + timedelta(minutes=1))
    await news.next_cycle()
    assert (await why(fake, g, "trailer"))[1] == (
        f"⏸️ Held back: the channel <#{news_channel.id}> is gone. It is posted once a news channel is set with "
        "`/config channel`.")
