"""After a crash in the middle of a burst of news, the interrupted story is found in the channel, not posted twice."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from tests.e2e.member_steps import answer
from tests.feeds import fixtures
from tests.feeds.builders import Item

feed_server = fixtures.feed_server
BURST = 60  # more alerts than one page of channel history (50 or 100)
POSTS = "/channels/{channel_id}/messages"


async def test_a_story_interrupted_late_in_a_burst_is_found_not_reposted(fake, runner, feed_server):
    bot = await runner.start()
    guild = fake.default_guild
    admin = guild.member("admin")
    news = guild.channel("news")
    await answer(fake, guild, admin, "config channel", kind="news", channel=news)
    feed_server.serve_items("/burst", [], title="Burst Daily")
    await answer(fake, guild, admin, "news feed add", url=feed_server.url("/burst"))
    now = datetime.now(UTC)
    for n in range(BURST):
        feed_server.add_item("/burst", Item(title=f"Story {n}", link=f"https://burst.test/{n}", guid=f"s{n}",
                                            published=now - timedelta(minutes=BURST - n)))
    await answer(fake, guild, admin, "news check")
    posted = [r for r in fake.requests_to("POST", POSTS) if r.params["channel_id"] == str(news.id)]
    assert len(posted) == BURST

    # The crash: Discord stored the 55th alert, the bot died before recording it (its attempt is kept).
    interrupted = "https://burst.test/54"
    await runner.stop()
    conn = sqlite3.connect(runner.db_path)
    with conn:
        changed = conn.execute("UPDATE news_deliveries SET state = 'pending', message_id = NULL, sent_at = NULL "
                               "WHERE link = ? AND attempted_at IS NOT NULL", (interrupted,)).rowcount
    conn.close()
    assert changed == 1

    mark = fake.mark()
    bot = await runner.start()  # the news:poll job reconciles pending intents a few seconds after start-up

    async def reconciled() -> int:
        while True:
            row = await bot.db.fetch_one("SELECT state, message_id FROM news_deliveries WHERE link = ?",
                                         (interrupted,))
            if row is not None and row["state"] == "sent":
                return int(row["message_id"])
            await asyncio.sleep(0.1)

    message_id = await asyncio.wait_for(reconciled(), 20)
    original = next(r for r in posted if r.json["embeds"][0]["url"] == interrupted)
    assert message_id == int(original.response["id"])
    assert [r for r in fake.requests_to("POST", POSTS, since=mark) if r.params["channel_id"] == str(news.id)] == []
