"""Batched delivery writes against a real SQLite file: a batch's attempt marks committed together (with the sent
records kept since the last batch), claims a pause, a removal, a channel change or leaving the server takes back
before their sends start, and claims released when their sends never started."""


from db.news import NewsRepository, SentRecord
from tests.db.test_news_repo import NOW, _delivery, _fetched

REPOSITORY = NewsRepository  # the `repo` fixture (tests/db/conftest.py)


async def queued(repo, guild_id=1, count=4, feed_url="https://feeds.test/a"):
    feed = await repo.ensure_feed(feed_url, now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(guild_id, feed.id, channel_id=None, created_by=9, now=NOW)
    await _fetched(repo, feed.id, [], [_delivery(guild_id, sub.id, feed.id, f"{feed_url}/{n}", published=NOW + n)
                                       for n in range(count)])
    return sub, [d for d in await repo.pending_deliveries() if d.subscription_id == sub.id]


async def test_a_batch_commits_every_attempt_before_any_send_and_records_the_sent_ones_with_the_next(repo):
    _, rows = await queued(repo)
    assert await repo.claim_attempts(rows[:2], NOW) == {rows[0].id, rows[1].id}
    for row in rows[:2]:  # committed, as mark_attempt would have: a crash now reconciles both
        stored = await repo.get_delivery(row.id)
        assert (stored.attempted_at, stored.attempts, stored.state) == (NOW, 1, "pending")
    assert repo.begin_send(rows[0].id) and repo.begin_send(rows[1].id)
    assert not repo.begin_send(rows[0].id)  # a claim starts one send only
    sent = [SentRecord(rows[0].id, 500, NOW + 1, 10), SentRecord(rows[1].id, 501, NOW + 2, 10)]
    assert await repo.claim_attempts(rows[2:], NOW + 3, sent) == {rows[2].id, rows[3].id}
    first = await repo.get_delivery(rows[0].id)
    assert (first.state, first.message_id) == ("sent", 500)
    assert (await repo.get_delivery(rows[2].id)).attempted_at == NOW + 3


async def test_claims_not_sent_are_released_and_sent_ones_recorded_in_one_go(repo):
    _, rows = await queued(repo)
    await repo.claim_attempts(rows, NOW)
    assert repo.begin_send(rows[0].id)
    await repo.finish_sends([SentRecord(rows[0].id, 700, NOW + 1, 10)], [r.id for r in rows[1:]])
    assert (await repo.get_delivery(rows[0].id)).state == "sent"
    for row in rows[1:]:  # never sent: as if no attempt had been marked
        stored = await repo.get_delivery(row.id)
        assert (stored.attempted_at, stored.attempts, stored.state) == (None, 0, "pending")
        assert not repo.begin_send(row.id)


async def test_a_claim_only_takes_pending_stories(repo):
    _, rows = await queued(repo, count=2)
    await repo.mark_failed(rows[1].id, "forbidden")
    assert await repo.claim_attempts(rows, NOW) == {rows[0].id}
    assert not repo.begin_send(rows[1].id)
    assert (await repo.get_delivery(rows[1].id)).attempts == 0


async def test_pausing_or_removing_a_feed_takes_back_its_claims_and_drops_those_stories(repo):
    paused_sub, paused = await queued(repo)
    removed_sub, removed = await queued(repo, feed_url="https://feeds.test/b")
    _, other = await queued(repo, guild_id=2, feed_url="https://feeds.test/c")
    await repo.claim_attempts([*paused, *removed, *other], NOW)
    assert repo.begin_send(paused[0].id)  # its send started before the pause: it stays, to be recorded
    assert await repo.set_paused(1, paused_sub.id, True)
    assert await repo.delete_subscription(1, removed_sub.id)
    assert not any(repo.begin_send(r.id) for r in [*paused[1:], *removed])
    assert [await repo.get_delivery(r.id) for r in [*paused[1:], *removed]] == [None] * 7
    assert (await repo.get_delivery(paused[0].id)).state == "pending"
    assert all(repo.begin_send(r.id) for r in other)  # another server's claims are untouched


async def test_leaving_the_server_takes_back_its_claims(repo):
    _, rows = await queued(repo)
    _, other = await queued(repo, guild_id=2, feed_url="https://feeds.test/c")
    await repo.claim_attempts([*rows, *other], NOW)
    await repo.pause_guild(1, "not_in_server")
    assert not any(repo.begin_send(r.id) for r in rows)
    assert {(await repo.get_delivery(r.id)).state for r in rows} == {"failed"}
    assert all(repo.begin_send(r.id) for r in other)


async def test_a_channel_change_releases_the_claims_so_the_stories_move(repo):
    sub, rows = await queued(repo, count=2)
    await repo.claim_attempts(rows, NOW)
    assert await repo.update_subscription(1, sub.id, channel_id=42)
    assert not any(repo.begin_send(r.id) for r in rows)
    for row in rows:
        stored = await repo.get_delivery(row.id)
        assert (stored.channel_id, stored.attempted_at, stored.attempts) == (42, None, 0)


async def test_claims_are_shared_by_every_repository_on_the_database(repo):
    sub, rows = await queued(repo, count=1)
    await repo.claim_attempts(rows, NOW)
    assert await NewsRepository(repo.db).set_paused(1, sub.id, True)  # e.g. the commands' own repository
    assert not repo.begin_send(rows[0].id)
