"""The poll and ingest queries of NewsRepository (issue 12, speed) against a real SQLite file: the body hash of the
last ingested fetch, unchanged feeds recorded in a batch that never overwrites a newer poll, a fetch of a feed
deleted meanwhile writing nothing, and the one-statement reads of an ingest and of the cross-feed dedupe."""

from db.news import NewDelivery, NewsRepository, UnchangedFeed

REPOSITORY = NewsRepository  # what `repo` is (tests/db/conftest.py)

NOW = 1_750_000_000


def _delivery(guild_id, sub_id, feed_id, key, *, fingerprint=None, title=None):
    return NewDelivery(guild_id=guild_id, subscription_id=sub_id, feed_id=feed_id, channel_id=None, entry_key=key,
                       dedupe_key=f"link:https://x.test/{key}", link=f"https://x.test/{key}",
                       title=title or f"Story {key}", title_fingerprint=fingerprint or key, payload="{}",
                       published_at=None, title_normalized=(title or f"Story {key}").lower())


async def _fetched(repo, feed_id, keys, deliveries=(), now=NOW, body_hash="h1"):
    return await repo.record_fetched(feed_id, now=now, next_poll_at=now + 600, title="T", etag='"e1"',
                                     last_modified=None, entry_keys=keys, new_item=bool(deliveries),
                                     deliveries=list(deliveries), prune_seen_before=now - 86400 * 30,
                                     body_hash=body_hash)


async def _followed_feed(repo, url="https://feeds.test/a"):
    feed = await repo.ensure_feed(url, now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    return feed, sub


async def test_a_full_fetch_stores_the_body_hash_read_back_with_the_feed_everywhere(repo):
    feed, _ = await _followed_feed(repo)
    assert feed.body_hash is None
    await _fetched(repo, feed.id, ["k1"], body_hash="abc")
    assert (await repo.get_feed(feed.id)).body_hash == "abc"
    assert (await repo.get_feed_by_url(feed.url)).body_hash == "abc"
    [listed] = await repo.subscriptions_of_guild(1)
    assert listed.feed.body_hash == "abc" and listed.feed.url == feed.url
    [due] = await repo.due_feeds(NOW + 600)
    assert due.body_hash == "abc"


async def test_unchanged_feeds_are_recorded_together_unless_polled_again_since_they_were_read(repo):
    a, _ = await _followed_feed(repo, "https://feeds.test/a")
    b, _ = await _followed_feed(repo, "https://feeds.test/b")
    gone, _ = await _followed_feed(repo, "https://feeds.test/gone")
    await repo.record_failure(a.id, now=NOW, next_poll_at=NOW + 5, error="timeout")
    a = await repo.get_feed(a.id)
    # b is polled by someone else (a /news check) after this poll read it: that newer state wins.
    await _fetched(repo, b.id, ["k"], now=NOW + 1)
    await repo.delete_subscription(1, (await repo.subscriptions_of_feed(gone.id))[0].id)
    await repo.record_unchanged([
        UnchangedFeed(a.id, expected_next_poll_at=a.next_poll_at, next_poll_at=NOW + 700, etag='"n"',
                      last_modified="Mon, 02 Jun 2025 00:00:00 GMT"),
        UnchangedFeed(b.id, expected_next_poll_at=b.next_poll_at, next_poll_at=NOW + 700, etag=None,
                      last_modified=None),
        UnchangedFeed(gone.id, expected_next_poll_at=gone.next_poll_at, next_poll_at=NOW + 700, etag=None,
                      last_modified=None),
    ], now=NOW + 10)
    a, b = await repo.get_feed(a.id), await repo.get_feed(b.id)
    assert (a.next_poll_at, a.etag, a.last_modified) == (NOW + 700, '"n"', "Mon, 02 Jun 2025 00:00:00 GMT")
    assert (a.consecutive_failures, a.last_error, a.last_checked_at, a.last_success_at) == (0, None, NOW + 10,
                                                                                              NOW + 10)
    assert (b.next_poll_at, b.etag, b.last_checked_at) == (NOW + 601, '"e1"', NOW + 1)
    assert await repo.get_feed(gone.id) is None
    await repo.record_unchanged([], now=NOW)  # nothing to record: no transaction


async def test_a_fetch_of_a_feed_deleted_meanwhile_writes_nothing(repo):
    feed, sub = await _followed_feed(repo)
    await repo.delete_subscription(1, sub.id)
    assert await _fetched(repo, feed.id, ["k1"], [_delivery(1, sub.id, feed.id, "k1")]) == 0
    assert await repo.known_entry_keys(feed.id, ["k1"]) == set()
    assert await repo.count_deliveries(1) == 0


async def test_many_intents_are_written_in_multi_row_inserts_duplicates_skipped(repo):
    feed, sub = await _followed_feed(repo)
    deliveries = [_delivery(1, sub.id, feed.id, f"k{n}") for n in range(250)]
    deliveries.append(_delivery(1, sub.id, feed.id, "k7"))  # the same story twice in one fetch
    assert await _fetched(repo, feed.id, [f"k{n}" for n in range(250)], deliveries) == 250
    assert await repo.count_deliveries(1, "pending") == 250


async def test_ingest_state_reads_known_keys_and_active_subscriptions_in_one_statement(repo):
    feed, sub = await _followed_feed(repo)
    other = await repo.create_subscription(2, feed.id, channel_id=5, created_by=9, now=NOW)
    paused = await repo.create_subscription(3, feed.id, channel_id=None, created_by=9, now=NOW)
    await repo.set_paused(3, paused.id, True)
    keys = [f"k{n}" for n in range(700)]  # more than one IN (...) chunk
    await _fetched(repo, feed.id, keys[::2])
    known, subscriptions = await repo.ingest_state(feed.id, [*keys, "k0"])
    assert known == set(keys[::2])
    assert subscriptions == [sub, other]
    assert await repo.ingest_state(feed.id, []) == (set(), [sub, other])


async def test_dedupe_state_is_known_fingerprints_and_recent_stories_newest_first(repo):
    feed, sub = await _followed_feed(repo)
    await _fetched(repo, feed.id, ["a"], [_delivery(1, sub.id, feed.id, "a", fingerprint="fa", title="Old")],
                   now=NOW)
    await _fetched(repo, feed.id, ["b"], [_delivery(1, sub.id, feed.id, "b", fingerprint="fb", title="New")],
                   now=NOW + 10)
    await _fetched(repo, feed.id, ["c"], [_delivery(2, None, feed.id, "c", fingerprint="fc", title="Other")],
                   now=NOW + 20)
    known, recent = await repo.dedupe_state(1, NOW - 1, ["fa", "fc", "nope", ""], limit=10)
    assert known == {"fa"}  # fc is another server's story
    assert [(s.title, s.title_normalized) for s in recent] == [("New", "new"), ("Old", "old")]
    known, recent = await repo.dedupe_state(1, NOW + 5, [f"f{n}" for n in range(600)] + ["fb"], limit=1)
    assert known == {"fb"} and [s.title for s in recent] == ["New"]
    known, recent = await repo.dedupe_state(1, NOW - 1, [], limit=10)  # no fingerprints: the recent stories only
    assert known == set() and [s.title for s in recent] == ["New", "Old"]
