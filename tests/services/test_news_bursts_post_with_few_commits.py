"""Posting a burst with batched database writes: the attempts of a channel's next CLAIM_BATCH stories are committed in
one transaction before the first of them is sent, the message ids of the stories sent are recorded with the next
one, the stories a failure stopped are released (not left to reconcile), a channel change or a pause in the middle
of a batch is honoured (tests/services/news_world.py has the stand-ins)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from bot.services.news.delivery import CLAIM_BATCH
from bot.services.news.models import PollSummary
from tests.services import news_world
from tests.services.news_world import FEED, G1, OUTAGE, CheckingPoster, RecordingPoster, item, tick_when_retry_due

world = news_world.world
BURST = CLAIM_BATCH * 2 + 20


def count_write_transactions(world, monkeypatch) -> list[int]:
    """Counts every transaction (either kind) and single-statement write on the database (a spy: they still
    run)."""
    counts = [0]
    transaction, execute, write = world.repo.db.transaction, world.repo.db.execute, world.repo.db.write

    @asynccontextmanager
    async def counted_transaction():
        counts[0] += 1
        async with transaction() as tx:
            yield tx

    async def counted_execute(sql, params=()):
        counts[0] += 1
        return await execute(sql, params)

    async def counted_write(work):
        counts[0] += 1
        return await write(work)

    monkeypatch.setattr(world.repo.db, "transaction", counted_transaction)
    monkeypatch.setattr(world.repo.db, "write", counted_write)
    monkeypatch.setattr(world.repo.db, "execute", counted_execute)
    return counts


async def test_a_burst_is_posted_in_order_with_a_few_commits_and_every_message_id_recorded(world, monkeypatch):
    await world.service.add_feed(G1, FEED, created_by=7)
    for n in range(BURST):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))
    world.clock.advance(minutes=12)
    poller = world.service.poller  # polled (stories queued) without delivering, to count delivery's writes alone
    await poller._poll_feeds(await world.repo.due_feeds(poller.schedule.now()), poller.locks.sequence,
                             PollSummary(), only_if_due=True)
    writes = count_write_transactions(world, monkeypatch)
    assert await world.service.deliverer.deliver_pending() == BURST
    assert world.titles(G1) == [f"Story {n}" for n in range(BURST)]
    # One commit per CLAIM_BATCH stories (attempts of the next ones + sent records of the last ones), one at the end.
    assert writes[0] == -(-BURST // CLAIM_BATCH) + 1
    rows = await world.repo.db.fetch_all("SELECT state, message_id, attempts FROM news_deliveries ORDER BY id")
    assert [(r["state"], r["attempts"]) for r in rows] == [("sent", 1)] * BURST
    assert sorted(r["message_id"] for r in rows) == list(range(5001, 5001 + BURST))


async def test_stories_a_failure_stopped_are_released_and_not_looked_for_later(world):
    await world.service.add_feed(G1, FEED, created_by=7)
    for n in range(5):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))

    class FailsThird(CheckingPoster):
        failed = False

        async def post(self, post):
            if len(self.posts) == 2 and not self.failed:
                self.failed = True
                self.accepted.append(OUTAGE)  # Discord stored it and answered 503
            return await super().post(post)

    poster = world.posting_with(FailsThird())
    await world.next_cycle()
    rows = await world.repo.db.fetch_all("SELECT title, state, attempted_at IS NOT NULL AS attempted, attempts"
                                         " FROM news_deliveries ORDER BY published_at")
    assert [(r["title"], r["state"], r["attempted"], r["attempts"]) for r in rows] == [
        ("Story 0", "sent", 1, 1), ("Story 1", "sent", 1, 1),
        ("Story 2", "pending", 1, 1),  # in doubt: looked for before it is sent again
        ("Story 3", "pending", 0, 0), ("Story 4", "pending", 0, 0),  # claimed, never sent: released
    ]
    await tick_when_retry_due(world)
    assert [p.title for p in poster.posts] == [f"Story {n}" for n in range(5)]
    assert poster.checks == 1  # only the story in doubt


async def test_a_channel_change_during_a_batch_sends_the_rest_to_the_new_channel(world):
    added = await world.service.add_feed(G1, FEED, created_by=7)
    for n in range(3):
        world.fetcher.add(FEED, item(f"Story {n}", 10 + n, n))

    class ChangedDuringFirstSend(RecordingPoster):
        async def post(self, post):
            if not self.posts:
                await world.repo.update_subscription(G1, added.subscription.id, channel_id=4242)
            return await super().post(post)

    poster = world.posting_with(ChangedDuringFirstSend())
    await world.next_cycle()
    await world.service.tick()  # the moved stories are read again for their new channel
    assert [(p.title, p.channel_id) for p in poster.posts] == [
        ("Story 0", G1 * 10), ("Story 1", 4242), ("Story 2", 4242)]
    assert await world.repo.pending_deliveries() == []
