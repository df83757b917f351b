"""A news post Discord stored before answering an error is not doubled when it is sent again: every text-channel post
carries a nonce derived from its delivery id (with enforce_nonce), so a resend of the same story within Discord's
nonce window gets the stored message back, whether discord.py resends it by itself (500/502/504) or the bot does
(a 503 it could not check in the channel's history)."""

from __future__ import annotations

import pytest

from tests.e2e import test_news
from tests.e2e.test_news import POST_MESSAGE, START, answer, configure, news_posts
from tests.fakediscord.state import Perm
from tests.feeds import fixtures

feed_server = fixtures.feed_server
feeds = test_news.feeds
news = test_news.news
LINK = "https://outlet.test/stored-then-500"


async def follow_outlet(fake, news, guild) -> None:
    await configure(news.bot, guild)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(guild, guild.member("admin"), "news feed add", url=news.feeds.url("outlet")))


async def delivery_row(news, link: str):
    return await news.bot.db.fetch_one("SELECT id, state, message_id FROM news_deliveries WHERE link = ?", (link,))


@pytest.mark.parametrize("locale", ["en-US", "ko"])
async def test_a_post_stored_before_a_500_is_returned_not_doubled_by_discord_py_resend(fake, news, locale):
    g = fake.default_guild if locale == "en-US" else fake.add_guild("Korean Fans", preferred_locale="ko")
    await news.runner.start()
    await follow_outlet(fake, news, g)
    news.feeds.add("outlet", "Season 2 stored, then a 500", LINK, START)
    # Discord stores the message, then answers 500: discord.py sends the same request again by itself.
    hold = fake.hold(*POST_MESSAGE, 0.0, status=500,
                     predicate=lambda r: r.params["channel_id"] == str(g.channel("news").id))
    await news.next_cycle()

    sends = [r for r in fake.requests_to(*POST_MESSAGE) if r.params["channel_id"] == str(g.channel("news").id)]
    assert len(hold.requests) == 1 and [r.status for r in sends] == [500, 200]
    row = await delivery_row(news, LINK)
    assert {(r.json["nonce"], r.json["enforce_nonce"]) for r in sends} == {(f"news.{row['id']}", True)}
    [post] = news_posts(fake, g.channel("news"))
    assert post["embeds"][0]["url"] == LINK
    assert fake.nonce_hits == 1
    assert (row["state"], row["message_id"]) == ("sent", int(post["id"]))


async def test_the_bots_own_resend_after_an_unverifiable_503_gets_the_stored_message_back(fake, news):
    g = fake.default_guild
    channel = g.channel("news")
    await news.runner.start()
    await follow_outlet(fake, news, g)
    # The bot may post but not read the channel's history: a send in doubt cannot be looked for, only resent.
    fake.set_overwrite(channel, fake.bot_member(g), deny=Perm.READ_MESSAGE_HISTORY)
    news.feeds.add("outlet", "Season 2 stored, then a 503", LINK, START)
    fake.hold(*POST_MESSAGE, 0.0, status=503)  # discord.py raises a 503 at once: the bot retries later
    await news.next_cycle()
    assert [p["embeds"][0]["url"] for p in news_posts(fake, channel)] == [LINK]
    assert (await delivery_row(news, LINK))["state"] == "pending"

    mark = fake.mark()
    news.clock.advance(seconds=31)  # past the delivery's backoff
    await news.service.tick()
    resend = fake.requests_to(*POST_MESSAGE, since=mark)
    row = await delivery_row(news, LINK)
    assert [r.json["nonce"] for r in resend] == [f"news.{row['id']}"]
    [post] = news_posts(fake, channel)
    assert fake.nonce_hits == 1
    assert (row["state"], row["message_id"]) == ("sent", int(post["id"]))
    assert [r.status for r in fake.requests_to("GET", "/channels/{channel_id}/messages", since=mark)] == [403]


async def test_a_forum_post_carries_no_nonce_and_is_still_posted_once(fake, news):
    """Forum posts (threads) take no nonce in Discord's API; they are reconciled by name after a crash instead."""
    g = fake.default_guild
    await news.runner.start()
    await configure(news.bot, g)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet"),
                                  channel=g.channel("episode-discussion")))
    news.feeds.add("outlet", "Season 2 in the forum", LINK, START)
    await news.next_cycle()
    [request] = fake.requests_to("POST", "/channels/{channel_id}/threads")
    assert "nonce" not in request.json
    assert (await delivery_row(news, LINK))["state"] == "sent"


async def test_a_forum_post_stored_before_a_500_is_kept_once_and_recorded(fake, news):
    """discord.py sends the forum post again by itself after the 500, and Discord makes a second post: the bot keeps
    the earlier one (heard over the gateway while discord.py waited), deletes the twin and records the one kept."""
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await news.runner.start()
    await configure(news.bot, g)
    news.feeds.set("outlet", "Outlet", [])
    await answer(await fake.slash(g, g.member("admin"), "news feed add", url=news.feeds.url("outlet"), channel=forum))
    news.feeds.add("outlet", "Season 2 stored, then a 500, in the forum", LINK, START)
    tries: list = []
    chaos = fake.chaos([("POST", "/channels/{channel_id}/threads")], fraction=1.0, statuses=(500,),
                       stored_share=1.0, predicate=lambda r: not tries.append(r) and len(tries) == 1)
    await news.next_cycle()
    assert chaos.injected == {"500 after storing": 1}
    assert len(fake.requests_to("POST", "/channels/{channel_id}/threads")) == 2
    [kept] = [c for c in fake.channels.values() if c.is_thread and c.parent_id == forum.id and not c.deleted]
    row = await delivery_row(news, LINK)
    assert (row["state"], row["message_id"]) == ("sent", kept.id)
