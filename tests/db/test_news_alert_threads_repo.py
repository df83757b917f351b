"""The alert-thread records of migration 0020 against a real SQLite file: recorded failures count their attempts,
only pending ones whose time has come are due, a refusal is told once per channel until cleared, and a record goes
with its delivery."""


from db.news import NewDelivery, NewsRepository
from db.news_features import AlertThreadRecord

NOW = 1_750_000_000


REPOSITORY = NewsRepository  # the `repo` fixture (tests/db/conftest.py)


async def delivery(repo, key: str) -> int:
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    sub_id = sub.id if sub is not None else (await repo.subscriptions_of_feed(feed.id))[0].id
    await repo.add_delivery(NewDelivery(guild_id=1, subscription_id=sub_id, feed_id=feed.id, channel_id=None,
                                        entry_key=key, dedupe_key=f"link:https://x.test/{key}",
                                        link=f"https://x.test/{key}", title=f"Story {key}", title_fingerprint=key,
                                        payload="{}", published_at=None), NOW)
    row = await repo.db.fetch_one("SELECT id FROM news_deliveries WHERE entry_key = ?", (key,))
    return int(row[0])


def record(delivery_id: int, state: str, next_attempt_at: int | None, attempts: int = 1) -> AlertThreadRecord:
    return AlertThreadRecord(delivery_id, 1, 77, 500 + delivery_id, "Story", 10080, state, attempts, next_attempt_at,
                             "unavailable: 503")


async def test_failures_count_attempts_and_only_pending_ones_are_due_oldest_first(repo):
    a, b, c = [await delivery(repo, key) for key in ("a", "b", "c")]
    await repo.record_alert_thread(record(a, "pending", NOW + 60), NOW)
    await repo.record_alert_thread(record(b, "pending", NOW + 30), NOW)
    await repo.record_alert_thread(record(c, "refused", None), NOW)
    assert await repo.due_alert_threads(NOW + 29, 10) == []
    assert [r.delivery_id for r in await repo.due_alert_threads(NOW + 60, 10)] == [b, a]
    await repo.record_alert_thread(record(b, "given_up", None), NOW + 60)
    again = await repo.alert_thread(b)
    assert again is not None and (again.state, again.attempts, again.next_attempt_at) == ("given_up", 2, None)
    assert [r.delivery_id for r in await repo.due_alert_threads(NOW + 999, 10)] == [a]
    await repo.alert_thread_opened(a)
    assert await repo.alert_thread(a) is None


async def test_a_refusal_is_claimed_once_per_channel_until_cleared(repo):
    assert await repo.claim_thread_refusal_notice(1, 77, NOW)
    assert not await repo.claim_thread_refusal_notice(1, 77, NOW + 5)
    assert await repo.claim_thread_refusal_notice(1, 78, NOW)
    await repo.clear_thread_refusal(1, 77)
    assert await repo.claim_thread_refusal_notice(1, 77, NOW + 10)


async def test_a_record_is_deleted_with_its_delivery(repo):
    a = await delivery(repo, "a")
    await repo.record_alert_thread(record(a, "pending", NOW), NOW)
    await repo.db.execute("DELETE FROM news_deliveries WHERE id = ?", (a,))
    assert await repo.alert_thread(a) is None
