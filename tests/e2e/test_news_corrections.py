"""Corrections end to end: a posted story that comes back with a changed title or summary under the same id/link
edits the posted message (marked updated, in each server's language), is never posted again, and is edited again
on a later change only up to the limit. Polls are run by the real `news:poll` job (news_steps.run_poll_job)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.e2e import test_news
from tests.e2e.test_news import POST_MESSAGE, START, answer, configure, news_posts
from tests.feeds import fixtures
from tests.feeds.builders import Item

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news
EDIT_MESSAGE = ("PATCH", "/channels/{channel_id}/messages/{message_id}")
LINK = "https://outlet.test/s2"


def serve(world, title: str, summary: str, *, extra: list[Item] = ()) -> None:
    story = Item(title=title, link=LINK, guid="story-1", summary=summary, published=START)
    world.feeds.server.serve_items("/outlet", [*extra, story], title="Outlet")


async def test_a_changed_story_edits_its_message_once_per_change_up_to_the_limit_and_is_not_reposted(fake, news):
    korean = fake.add_guild("Korean Fans", preferred_locale="ko")
    bot = await news.runner.start()
    g = fake.default_guild
    for guild in (g, korean):
        await configure(bot, guild)
    news.feeds.server.serve_items("/outlet", [], title="Outlet")
    for guild in (g, korean):
        await answer(await fake.slash(guild, guild.member("admin"), "news feed add", url=news.feeds.url("outlet")))
        await answer(await fake.slash(guild, guild.member("admin"), "news keywords add", keyword="season"))
    serve(news, "Season 2 confirmd", "Filming starts in 2025")
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))
    [korean_post] = news_posts(fake, korean.channel("news"))

    serve(news, "Season 2 confirmed", "Filming starts in 2025")  # the outlet fixes its title
    mark = fake.mark()
    await news.next_cycle()
    edits = {r.params["message_id"]: r.json for r in fake.requests_to(*EDIT_MESSAGE, since=mark)}
    assert set(edits) == {str(post["id"]), str(korean_post["id"])}
    assert fake.requests_to(*POST_MESSAGE, since=mark) == []
    assert edits[str(post["id"])]["allowed_mentions"] == {"parse": []}
    [embed] = fake.message(post["id"])["embeds"]
    assert embed["title"] == "Season 2 confirmed" and embed["url"] == LINK
    assert embed["footer"]["text"] == "✏️ Updated: the source changed this story after it was posted."
    assert fake.message(korean_post["id"])["embeds"][0]["footer"]["text"].startswith("✏️ 수정됨")
    assert fake.message(post["id"])["content"] == post["content"]  # the ping is not sent again

    # Polled again unchanged (another item makes it a full fetch): no edit.
    other = [Item(title="Unrelated", link="https://outlet.test/x", guid="x", summary="x",
                  published=START + timedelta(minutes=5))]
    serve(news, "Season 2 confirmed", "Filming starts in 2025", extra=other)
    mark = fake.mark()
    await news.next_cycle()
    assert fake.requests_to(*EDIT_MESSAGE, since=mark) == [] and fake.requests_to(*POST_MESSAGE, since=mark) == []

    # Each later change edits again, up to three corrections in all.
    for n, summary in enumerate(["Filming starts in May", "Filming starts in June", "Filming starts in July"]):
        serve(news, "Season 2 confirmed", summary, extra=other)
        mark = fake.mark()
        await news.next_cycle()
        edited = [r for r in fake.requests_to(*EDIT_MESSAGE, since=mark) if r.params["message_id"] == str(post["id"])]
        assert len(edited) == (1 if n < 2 else 0), summary
    assert fake.message(post["id"])["embeds"][0]["description"] == "Filming starts in June"
    assert len(news_posts(fake, g.channel("news"))) == 1


async def test_a_corrected_forum_post_has_its_starter_message_edited(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    forum = g.channel("episode-discussion")
    news.feeds.server.serve_items("/outlet", [], title="Outlet")
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet"), channel=forum))
    serve(news, "Season 2 confirmd", "Filming")
    mark = fake.mark()
    await news.next_cycle()
    [created] = fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark)
    thread_id = created.response["id"]
    serve(news, "Season 2 confirmed", "Filming")
    mark = fake.mark()
    await news.next_cycle()
    [edit] = fake.requests_to(*EDIT_MESSAGE, since=mark)
    assert edit.params == {"channel_id": thread_id, "message_id": thread_id}
    assert edit.json["embeds"][0]["title"] == "Season 2 confirmed"
    assert fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark) == []


async def test_two_runs_at_once_edit_a_corrected_story_once(fake, news):
    """The poll job and a manual check (or a push) may finish their polls together: the correction is edited by
    one of them. The first edit's answer is held, so the second run starts while the first is still editing."""
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.server.serve_items("/outlet", [], title="Outlet")
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    await answer(await fake.slash(g, g.member("admin"), "news keywords add", keyword="season"))
    serve(news, "Season 2 confirmd", "Filming starts in 2025")
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))
    serve(news, "Season 2 confirmed", "Filming starts in 2025")
    fake.hold(*EDIT_MESSAGE, 0.5)
    mark = fake.mark()
    news.clock.advance(minutes=11)
    await asyncio.gather(news.service.tick(), news.service.tick())
    assert [r.params["message_id"] for r in fake.requests_to(*EDIT_MESSAGE, since=mark)] == [str(post["id"])]
    assert fake.message(post["id"])["embeds"][0]["title"] == "Season 2 confirmed"


async def test_a_fetch_with_a_new_story_and_a_corrected_one_posts_the_new_and_edits_the_old(fake, news):
    bot = await news.runner.start()
    g = fake.default_guild
    await configure(bot, g)
    news.feeds.server.serve_items("/outlet", [], title="Outlet")
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet")))
    serve(news, "Season 2 confirmd", "Filming starts in 2025")
    await news.next_cycle()
    [post] = news_posts(fake, g.channel("news"))

    fresh = Item(title="Season 2 poster revealed", link="https://outlet.test/poster", guid="poster",
                 summary="A first look", published=START + timedelta(minutes=5))
    serve(news, "Season 2 confirmed", "Filming starts in 2025", extra=[fresh])
    mark = fake.mark()
    await news.next_cycle()
    assert [r.params["message_id"] for r in fake.requests_to(*EDIT_MESSAGE, since=mark)] == [str(post["id"])]
    assert fake.message(post["id"])["embeds"][0]["title"] == "Season 2 confirmed"
    [new_post] = [r.json for r in fake.requests_to(*POST_MESSAGE, since=mark)]
    assert new_post["embeds"][0]["title"] == "Season 2 poster revealed"
