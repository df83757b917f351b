"""Posting news crash-safely: temporary failures back off and never count toward giving up, a send in doubt is
looked for before it is sent again, stories of stopped feeds or left servers are not sent, deleted channels
(tests/services/news_world.py has the stand-ins).
"""

from __future__ import annotations

import asyncio

import pytest

from bot.services.news import NewsService, PostError
from tests.services import news_world
from tests.services.news_world import (
    FEED,
    G1,
    G2,
    OUTAGE,
    CheckingPoster,
    DeletedChannelPoster,
    RecordingPoster,
    item,
    tick_when_retry_due,
)

world = news_world.world


async def test_transient_post_failure_is_retried_in_order_and_permanent_one_is_reported(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [PostError("unavailable: 503", permanent=False)]
    await world.next_cycle()
    assert world.titles() == []  # the channel rests after a transient failure; nothing is lost
    await world.service.tick()
    assert world.titles() == []  # A backs off, and B waits behind it
    world.clock.advance(seconds=31)
    await world.service.tick()
    assert world.titles() == ["A", "B"]
    world.fetcher.add(FEED, item("C", 5, 3))
    world.poster.failures = [PostError("forbidden", permanent=True)]
    await world.next_cycle()
    assert world.titles() == ["A", "B"]
    assert (G1, "news.notice.post_failed") in [(g, k) for g, k, _ in world.poster.notices]
    assert await world.repo.count_deliveries(G1, "failed") == 1


async def test_a_send_interrupted_by_a_crash_is_reconciled_not_reposted(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Reached Discord before the crash", 3, 1))
    world.fetcher.add(FEED, item("Queued when the process died", 4, 2))

    class DiesAfterSending(RecordingPoster):
        async def post(self, post):
            self.posts.append(post)  # Discord accepted it ...
            raise asyncio.CancelledError  # ... and the process was killed before the result was recorded

    world.posting_with(DiesAfterSending())
    with pytest.raises(asyncio.CancelledError):
        await world.next_cycle()
    delivered = world.poster.posts
    assert [p.title for p in delivered] == ["Reached Discord before the crash"]

    class AfterRestart(RecordingPoster):
        async def find_posted(self, channel_id, link, title, since):
            return 4242 if any(p.link == link and p.channel_id == channel_id for p in delivered) else None

    poster = AfterRestart()
    restarted = NewsService(world.repo, world.fetcher, poster, world.settings, clock=world.clock)
    assert (await restarted.tick()).posted == 1
    assert [p.title for p in poster.posts] == ["Queued when the process died"]
    assert await world.repo.pending_deliveries() == []
    assert await world.repo.count_deliveries(G1, "sent") == 2


async def test_a_discord_outage_delays_stories_with_capped_backoff_and_loses_none(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [OUTAGE] * 10  # every retry fails for a while (an outage of about an hour)
    await world.next_cycle()
    delays = []
    while world.poster.failures:
        before = int(world.clock.now.timestamp())
        [first, _] = await world.repo.pending_deliveries()
        delays.append(first.next_attempt_at - before)
        await tick_when_retry_due(world)
    await tick_when_retry_due(world)
    assert delays == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert world.titles() == ["A", "B"]
    assert world.poster.notices == []
    assert await world.repo.count_deliveries(G1, "failed") == 0


async def test_a_send_answered_with_5xx_or_a_timeout_is_looked_for_before_it_is_sent_again(world):
    poster = world.posting_with(CheckingPoster())
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Stored although the answer was an error", 3, 1))
    world.fetcher.add(FEED, item("Next story", 4, 2))
    poster.accepted = [PostError("unavailable: timeout", permanent=False, maybe_posted=True)]
    await world.next_cycle()
    [pending, _] = await world.repo.pending_deliveries()
    assert pending.attempted_at is not None  # kept: the next try checks the channel first
    await tick_when_retry_due(world)
    assert [p.title for p in poster.posts] == ["Stored although the answer was an error", "Next story"]
    assert poster.checks == 1 and await world.repo.count_deliveries(G1, "sent") == 2


async def test_a_429_or_408_answer_is_retried_without_a_channel_check(world):
    poster = world.posting_with(CheckingPoster())
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    poster.failures = [PostError("unavailable: 429", permanent=False), PostError("unavailable: 408", permanent=False)]
    await world.next_cycle()
    [pending] = await world.repo.pending_deliveries()
    assert (pending.attempted_at, pending.retries) == (None, 1)  # Discord refused it: nothing was posted
    await tick_when_retry_due(world)
    await tick_when_retry_due(world)
    assert [p.title for p in poster.posts] == ["A"] and poster.checks == 0


async def test_a_story_failing_for_a_day_is_given_up_and_admins_are_told_once(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("A", 3, 1))
    world.fetcher.add(FEED, item("B", 4, 2))
    world.poster.failures = [OUTAGE] * 3
    await world.next_cycle()
    world.clock.advance(hours=25)
    await world.service.tick()  # A and B fail again, a day after they were queued: both given up
    await world.service.tick()
    assert world.titles() == []
    assert [(g, key, params["count"]) for g, key, params in world.poster.notices] == [
        (G1, "news.notice.gave_up", 2)]
    assert world.poster.notices[0][2]["reason"] == "unavailable: 503"
    assert await world.repo.count_deliveries(G1, "failed") == 2
    world.fetcher.add(FEED, item("C", 5, 3))
    await world.next_cycle()
    assert world.titles() == ["C"]


async def test_a_story_whose_send_never_finishes_is_given_up_after_max_attempts_with_a_notice(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.fetcher.add(FEED, item("Kills the process", 3, 1))
    world.posting_with(RecordingPoster(failures=[asyncio.CancelledError()] * 5))
    with pytest.raises(asyncio.CancelledError):
        await world.next_cycle()
    for _ in range(4):
        with pytest.raises(asyncio.CancelledError):
            await world.service.tick()
    assert world.poster.failures == []
    await world.service.tick()
    assert [key for _, key, _ in world.poster.notices] == ["news.notice.gave_up"]
    assert await world.repo.count_deliveries(G1, "failed") == 1


async def test_a_backlog_in_a_waiting_channel_does_not_hide_other_channels(world, monkeypatch):
    from bot.services.news import delivery

    monkeypatch.setattr(delivery, "DELIVERY_BATCH", 2)  # a page smaller than the waiting channel's backlog
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.poster.failures = [OUTAGE]
    for n in range(5):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))
    await world.next_cycle()  # G1's channel failed on its first story and waits; G2 got all five
    g2_before = len(world.titles(G2))
    assert world.titles(G1) == [] and g2_before == 5
    await world.repo.db.execute("UPDATE news_deliveries SET next_attempt_at = ? WHERE guild_id = ? AND state = "
                                "'pending'", (int(world.clock.now.timestamp()) + 3600, G1))
    world.fetcher.add(FEED, item("Newest", 20, 30))
    await world.next_cycle()
    assert world.titles(G1) == [] and world.titles(G2)[g2_before:] == ["Newest"]


async def test_the_delivery_lock_is_held_until_every_channel_task_finished(world, caplog):
    await world.service.add_feed(G1, FEED, created_by=7)
    await world.service.add_feed(G2, FEED, created_by=8)
    world.fetcher.add(FEED, item("Story", 3))
    release, broken, sending = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class OneBrokenOneSlow(RecordingPoster):
        async def post(self, post):
            if post.guild_id == G1:
                broken.set()
                raise RuntimeError("bug in rendering")
            sending.set()
            await release.wait()
            return await super().post(post)

    poster = world.posting_with(OneBrokenOneSlow())
    world.clock.advance(minutes=12)
    running = asyncio.create_task(world.service.tick())
    await asyncio.wait_for(asyncio.gather(broken.wait(), sending.wait()), 5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not running.done() and world.service.deliverer.lock.locked()  # G2's send is still under way
    second = asyncio.create_task(world.service.deliver_pending())  # must wait for the first run
    for _ in range(20):
        await asyncio.sleep(0)
    assert not second.done()
    release.set()
    await running
    assert await second == 0
    assert [(p.guild_id, p.title) for p in poster.posts] == [(G2, "Story")]
    assert "delivering news to channel" in caplog.text


@pytest.mark.parametrize("action", ["pause", "remove"])
async def test_pausing_or_removing_a_feed_drops_its_queued_stories_but_not_one_being_sent(world, action):
    added = await world.service.add_feed(G1, FEED, created_by=7)
    for n in range(3):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))
    poster = world.posting_with(CheckingPoster())
    poster.accepted = [OUTAGE]  # the first send may have reached Discord: it must be reconciled, not dropped
    await world.next_cycle()
    [in_doubt, _, _] = await world.repo.pending_deliveries()
    assert in_doubt.attempted_at is not None
    if action == "pause":
        await world.service.set_paused(G1, added.subscription.id, True)
    else:
        await world.service.remove_feed(G1, added.subscription.id)
    assert [d.id for d in await world.repo.pending_deliveries()] == [in_doubt.id]
    await tick_when_retry_due(world)
    assert [p.title for p in poster.posts if p.guild_id == G1] == ["Story 0"]  # reconciled, not posted again
    assert poster.checks == 1 and await world.repo.pending_deliveries() == []


async def test_stories_for_a_server_the_bot_left_while_offline_are_not_sent_and_its_feeds_pause(world):
    present = {G1, G2}
    service = NewsService(world.repo, world.fetcher, world.poster, world.settings, clock=world.clock,
                          in_guild=present.__contains__)
    await service.add_feed(G1, FEED, created_by=7)
    await service.add_feed(G2, FEED, created_by=8)
    present.discard(G2)  # removed while the bot was offline: no GUILD_DELETE ever came
    world.fetcher.add(FEED, item("Season 2 news", 3))
    world.clock.advance(minutes=12)
    await service.tick()
    assert [p.guild_id for p in world.poster.posts] == [G1]
    assert await world.repo.count_deliveries(G2, "pending") == 0
    assert [s.subscription.paused for s in await world.repo.subscriptions_of_guild(G2)] == [True]
    assert [s.subscription.paused for s in await world.repo.subscriptions_of_guild(G1)] == [False]


async def test_stories_for_a_deleted_channel_wait_with_one_notice_and_are_given_up_after_a_day(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    world.poster.failures.append(PostError("channel_missing", permanent=True))
    world.fetcher.add(FEED, item("Season 2 news", 3))
    await world.next_cycle()
    world.fetcher.add(FEED, item("Season 2 more news", 4))
    await world.next_cycle()
    assert [key for _, key, _ in world.poster.notices] == ["news.notice.channel_gone"]
    assert await world.repo.count_deliveries(G1, "pending") == 2 and world.poster.posts == []
    world.clock.advance(hours=25)
    await world.service.tick()
    assert await world.repo.count_deliveries(G1, "failed") == 2 and world.poster.posts == []
    assert [key for _, key, _ in world.poster.notices][1:] == ["news.notice.gave_up"]


@pytest.mark.parametrize("action", ["pause", "remove", "leave"])
async def test_stories_already_read_for_sending_are_not_posted_after_their_feed_stops(world, action):
    """The delivery run reads a batch, then an admin pauses/removes the feed (or the bot leaves) while the first
    story is being sent: the rest of the batch must not go out."""
    added = await world.service.add_feed(G1, FEED, created_by=7)
    for n, title in enumerate(["Season 2 casting", "Filming starts in Seoul", "Ratings record"]):
        world.fetcher.add(FEED, item(title, 10 + n, n))
    stops = {
        "pause": lambda: world.service.set_paused(G1, added.subscription.id, True),
        "remove": lambda: world.service.remove_feed(G1, added.subscription.id),
        "leave": lambda: world.service.leave_guild(G1),
    }

    class StoppedDuringFirstSend(RecordingPoster):
        async def post(self, post):
            if not self.posts:
                await stops[action]()
            return await super().post(post)

    poster = world.posting_with(StoppedDuringFirstSend())
    await world.next_cycle()
    # The other two were queued, then dropped: deleted (pause, remove) or failed (the bot left).
    assert await world.repo.count_deliveries(G1, "failed") == (2 if action == "leave" else 0)
    assert await world.repo.count_deliveries(G1) == (3 if action == "leave" else 1)
    assert [p.title for p in poster.posts] == ["Season 2 casting"]
    assert await world.repo.pending_deliveries() == []
    world.clock.advance(hours=1)
    await world.service.tick()
    assert [p.title for p in poster.posts] == ["Season 2 casting"]


async def test_a_deleted_feed_channel_falls_back_to_the_news_channel_with_its_waiting_stories(world):
    feed_channel = 777
    added = await world.service.add_feed(G1, FEED, created_by=7, channel_id=feed_channel)
    poster = world.posting_with(DeletedChannelPoster({feed_channel}))
    world.fetcher.add(FEED, item("Season 2 casting", 3, 1))
    world.fetcher.add(FEED, item("Filming starts in Seoul", 4, 2))
    await world.next_cycle()
    assert [(p.title, p.channel_id) for p in poster.posts] == [
        ("Season 2 casting", G1 * 10), ("Filming starts in Seoul", G1 * 10)]  # same run, in order
    assert poster.refused == 1
    assert [(key, params) for _, key, params in poster.notices] == [
        ("news.notice.feed_channel_gone", {"channel_id": feed_channel, "news_channel_id": G1 * 10})]
    assert (await world.repo.get_subscription(G1, added.subscription.id)).channel_id is None
    world.fetcher.add(FEED, item("Ratings record", 5, 3))
    await world.next_cycle()  # later stories go straight to the news channel
    assert [(p.title, p.channel_id) for p in poster.posts][2:] == [("Ratings record", G1 * 10)]
    assert poster.refused == 1 and len(poster.notices) == 1


async def test_a_deleted_feed_channel_without_a_news_channel_waits_until_one_is_set(world):
    feed_channel = 777
    await world.settings.update(G1, news_channel_id=None)
    await world.service.add_feed(G1, FEED, created_by=7, channel_id=feed_channel)
    poster = world.posting_with(DeletedChannelPoster({feed_channel}))
    world.fetcher.add(FEED, item("Season 2 casting", 3, 1))
    await world.next_cycle()
    await world.next_cycle()
    assert poster.posts == [] and poster.refused == 1
    assert [key for _, key, _ in poster.notices] == ["news.notice.channel_gone"]
    assert await world.repo.count_deliveries(G1, "pending") == 1
    await world.settings.update(G1, news_channel_id=G1 * 10)  # /config channel
    await world.next_cycle()
    assert [(p.title, p.channel_id) for p in poster.posts] == [("Season 2 casting", G1 * 10)]
    assert [key for _, key, _ in poster.notices][1:] == ["news.notice.feed_channel_gone"]
