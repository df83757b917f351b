"""Batched news writes under a kill: the real bot (`python -m bot run`) is SIGKILLed after several stories of a batch
were sent and before the batch's sent records were committed (the fake holds its answer to a later send of the same
batch, which it stored), while the rest of the batch is claimed but unsent. After the restart every story is in the
channel exactly once and recorded with its message: the sent ones found in the channel, the unsent ones posted."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.crash.botprocess import BotProcess, answered, figures, nth_post_to, wait_for
from tests.crash.test_kills_lose_and_double_nothing import MESSAGES
from tests.feeds.builders import Item
from tests.feeds.server import FeedServer

pytestmark = pytest.mark.crash

STORIES = 12
HELD = 6  # the send whose answer the kill lands in (Discord stored it)


async def test_a_kill_between_a_batchs_sends_and_its_commit_doubles_and_loses_nothing(fake, tmp_path, capsys):
    feeds = FeedServer()
    await feeds.start()
    try:
        feeds.serve_items("/batch.xml", [Item("Old batch story", "https://outlet.test/old/0")], title="Outlet")
        bot = BotProcess(fake, tmp_path)
        g = fake.default_guild
        news = g.channel("news")
        admin = g.member("admin")
        await bot.start()
        await answered(fake, g, admin, "config channel", kind="news", channel=news)
        await answered(fake, g, admin, "news feed add", url=feeds.url("/batch.xml"))
        stories = [f"Batch story {n}" for n in range(STORIES)]
        for n, title in enumerate(stories):
            feeds.add_item("/batch.xml", Item(title, f"https://outlet.test/batch/{n}"))
        hold = fake.hold("POST", MESSAGES, 5.0, predicate=nth_post_to(news, HELD))
        await fake.slash(g, admin, "news check")
        await hold.wait(60)
        await bot.kill()
        # What the kill left: the batch's attempts committed, nothing of it recorded as sent yet.
        left = bot.query("SELECT state, attempted_at IS NOT NULL FROM news_deliveries WHERE title LIKE 'Batch%'")
        assert sorted(left) == [("pending", 1)] * STORIES
        assert sum(1 for m in fake.messages_in(news) if m.get("embeds")) == HELD

        await bot.restart()

        def delivered() -> bool:
            rows = bot.query("SELECT state FROM news_deliveries WHERE title LIKE 'Batch%'")
            return len(rows) == STORIES and all(state == "sent" for (state,) in rows)

        await wait_for(delivered, 60, "every story to be recorded as sent")
        recorded = dict(bot.query("SELECT title, message_id FROM news_deliveries WHERE title LIKE 'Batch%'"))
        await bot.stop()
    finally:
        await feeds.close()

    messages = [m for m in fake.messages_in(news) if m.get("embeds")]
    titles = Counter(m["embeds"][0].get("title") for m in messages)
    duplicates = sum(n - 1 for n in titles.values() if n > 1)
    lost = [t for t in stories if titles[t] == 0]
    figures(capsys, f"\ncrash suite (news batch): kill after {HELD} sends of a batch; stories {STORIES}, "
                    f"posted {sum(titles[t] for t in stories)}, duplicates {duplicates}, lost {len(lost)}")
    fake.take_violations("unanswered")
    assert lost == [] and duplicates == 0, titles
    assert {m["embeds"][0]["title"]: int(m["id"]) for m in messages} == recorded
