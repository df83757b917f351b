"""NewsRepository against a real SQLite file: feeds shared by URL, subscriptions, keywords, seen entries, deliveries."""

import pytest

from db.news import NewDelivery, NewsRepository

REPOSITORY = NewsRepository  # what `repo` is (tests/db/conftest.py)

NOW = 1_750_000_000


def _delivery(guild_id, sub_id, feed_id, key, *, dedupe=None, title=None, published=None):
    return NewDelivery(guild_id=guild_id, subscription_id=sub_id, feed_id=feed_id, channel_id=None, entry_key=key,
                       dedupe_key=dedupe or f"link:https://x.test/{key}", link=f"https://x.test/{key}",
                       title=title or f"Story {key}", title_fingerprint=key, payload="{}", published_at=published)


async def _fetched(repo, feed_id, keys, deliveries=(), now=NOW):
    return await repo.record_fetched(feed_id, now=now, next_poll_at=now + 600, title="T", etag='"e1"',
                                     last_modified=None, entry_keys=keys, new_item=bool(deliveries),
                                     deliveries=list(deliveries), prune_seen_before=now - 86400 * 30)


async def test_one_feed_row_per_url_and_due_only_with_active_subscribers(repo):
    a = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    again = await repo.ensure_feed("https://feeds.test/a", now=NOW + 5, next_poll_at=NOW + 999)
    assert again.id == a.id and again.next_poll_at == NOW
    assert await repo.due_feeds(NOW) == []  # nobody follows it
    s1 = await repo.create_subscription(1, a.id, channel_id=None, created_by=9, now=NOW)
    s2 = await repo.create_subscription(2, a.id, channel_id=77, created_by=9, now=NOW)
    assert await repo.create_subscription(1, a.id, channel_id=None, created_by=9, now=NOW) is None
    assert [f.id for f in await repo.due_feeds(NOW)] == [a.id]
    assert await repo.due_feeds(NOW - 1) == []
    await repo.set_paused(1, s1.id, True)
    await repo.set_paused(2, s2.id, True)
    assert await repo.due_feeds(NOW) == []
    assert not await repo.set_paused(3, s1.id, False)  # another server's subscription
    await repo.set_paused(1, s1.id, False)
    assert [s.guild_id for s in await repo.subscriptions_of_feed(a.id)] == [1]
    assert len(await repo.subscriptions_of_feed(a.id, include_paused=True)) == 2


async def test_fetch_records_seen_entries_and_deliveries_in_one_go(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    assert await _fetched(repo, feed.id, ["k1", "k2"]) == 0
    assert await repo.known_entry_keys(feed.id, ["k1", "k2", "k3"]) == {"k1", "k2"}
    written = await _fetched(repo, feed.id, ["k1", "k2", "k3"],
                             [_delivery(1, sub.id, feed.id, "k3", published=NOW - 10)], now=NOW + 600)
    assert written == 1
    state = await repo.get_feed(feed.id)
    assert state.etag == '"e1"' and state.last_new_item_at == NOW + 600 and state.consecutive_failures == 0
    pending = await repo.pending_deliveries()
    assert [d.entry_key for d in pending] == ["k3"]
    # The same story again (same guild, same dedupe key) is not queued twice.
    assert await _fetched(repo, feed.id, ["k3"], [_delivery(1, sub.id, feed.id, "k3")], now=NOW + 1200) == 0


async def test_seen_entries_are_pruned_only_after_leaving_the_feed(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    await _fetched(repo, feed.id, ["old", "kept"], now=NOW)
    later = NOW + 86400 * 31
    await _fetched(repo, feed.id, ["kept"], now=later)
    assert await repo.known_entry_keys(feed.id, ["old", "kept"]) == {"kept"}


async def test_failures_count_up_and_success_resets(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    assert await repo.record_failure(feed.id, now=NOW, next_poll_at=NOW + 1200, error="timeout") == 1
    assert await repo.record_failure(feed.id, now=NOW, next_poll_at=NOW + 2400, error="http_500") == 2
    state = await repo.get_feed(feed.id)
    assert (state.last_error, state.consecutive_failures, state.next_poll_at) == ("http_500", 2, NOW + 2400)
    await repo.record_not_modified(feed.id, now=NOW + 3000, next_poll_at=NOW + 3600)
    state = await repo.get_feed(feed.id)
    assert (state.last_error, state.consecutive_failures, state.last_success_at) == (None, 0, NOW + 3000)


async def test_keywords_server_wide_and_per_subscription(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    assert await repo.add_keyword(1, None, "season 2", "include", NOW)
    assert not await repo.add_keyword(1, None, "season 2", "include", NOW)  # duplicate at the same level
    assert await repo.add_keyword(1, sub.id, "season 2", "include", NOW)  # same text, per-feed level
    assert await repo.add_keyword(1, sub.id, "-spoiler", "exclude", NOW)
    records = await repo.keywords_of_guild(1)
    assert [(r.subscription_id, r.raw) for r in records] == [(None, "season 2"), (sub.id, "season 2"),
                                                              (sub.id, "-spoiler")]
    assert await repo.remove_keyword(1, sub.id, "season 2")
    assert not await repo.remove_keyword(1, sub.id, "season 2")
    assert [r.raw for r in await repo.keywords_of_guild(1)] == ["season 2", "-spoiler"]


async def test_removing_the_last_subscription_removes_the_feed_and_its_keywords(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    s1 = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    s2 = await repo.create_subscription(2, feed.id, channel_id=None, created_by=9, now=NOW)
    await repo.add_keyword(1, s1.id, "x", "include", NOW)
    assert not await repo.delete_subscription(2, s1.id)  # not that server's
    assert await repo.delete_subscription(1, s1.id)
    assert await repo.get_feed(feed.id) is not None
    assert await repo.keywords_of_guild(1) == []
    assert await repo.delete_subscription(2, s2.id)
    assert await repo.get_feed(feed.id) is None


async def test_delivery_lifecycle_and_order(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    await _fetched(repo, feed.id, ["a", "b", "c"], [
        _delivery(1, sub.id, feed.id, "new", published=NOW - 10),
        _delivery(1, sub.id, feed.id, "old", published=NOW - 500),
        _delivery(1, sub.id, feed.id, "undated"),
    ])
    pending = await repo.pending_deliveries()
    assert [d.entry_key for d in pending] == ["old", "new", "undated"]  # oldest story first
    first = pending[0]
    await repo.mark_attempt(first.id, NOW)
    assert (await repo.get_delivery(first.id)).attempted_at == NOW
    await repo.mark_retry(first.id, "unavailable: 503", next_attempt_at=NOW + 30, maybe_posted=True)
    again = await repo.get_delivery(first.id)  # Discord may have posted it: the attempt stays to be checked
    assert (again.attempted_at, again.attempts, again.retries, again.next_attempt_at, again.state) == (
        NOW, 1, 1, NOW + 30, "pending")
    assert again.unresolved_attempts == 0
    await repo.mark_retry(first.id, "unavailable: 429", next_attempt_at=NOW + 60, maybe_posted=False)
    again = await repo.get_delivery(first.id)  # a definite refusal: nothing was posted
    assert (again.attempted_at, again.retries, again.next_attempt_at) == (None, 2, NOW + 60)
    await repo.mark_sent(first.id, 555, NOW)
    await repo.mark_failed(pending[1].id, "forbidden")
    assert [d.entry_key for d in await repo.pending_deliveries()] == ["undated"]
    assert await repo.count_deliveries(1, "sent") == 1
    assert [s.title for s in await repo.recent_stories(1, NOW - 1, limit=2)] == ["Story undated", "Story old"]
    assert await repo.known_fingerprints(1, NOW - 1, ["old", "nope", ""]) == {"old"}
    assert await repo.known_fingerprints(1, NOW + 1, ["old"]) == set()  # outside the window
    assert await repo.known_fingerprints(2, NOW - 1, ["old"]) == set()  # another server's story
    assert await repo.prune_deliveries(NOW + 10_000) == 2  # sent + failed; the pending one stays
    assert await repo.count_deliveries(1) == 1


async def test_pending_deliveries_page_after_a_cursor_in_story_order(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    await _fetched(repo, feed.id, [], [_delivery(1, sub.id, feed.id, f"k{i}", published=NOW - 100 + i % 3)
                                       for i in range(7)])
    everything = await repo.pending_deliveries()
    pages, after = [], None
    while page := await repo.pending_deliveries(3, after=after):
        pages.append([d.id for d in page])
        after = (page[-1].order_key, page[-1].id)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == [d.id for d in everything]  # same order, nothing twice or skipped


async def test_marking_an_attempt_only_succeeds_while_the_story_is_pending(repo):
    feed = await repo.ensure_feed("https://feeds.test/a", now=NOW, next_poll_at=NOW)
    sub = await repo.create_subscription(1, feed.id, channel_id=None, created_by=9, now=NOW)
    await _fetched(repo, feed.id, [], [_delivery(1, sub.id, feed.id, "a"), _delivery(1, sub.id, feed.id, "b")])
    first, second = await repo.pending_deliveries()
    assert await repo.mark_attempt(first.id, NOW)
    await repo.pause_guild(1, "not_in_server")  # failed meanwhile
    assert not await repo.mark_attempt(second.id, NOW)
    assert (await repo.get_delivery(second.id)).attempts == 0
    await repo.db.execute("DELETE FROM news_deliveries WHERE id = ?", (second.id,))
    assert not await repo.mark_attempt(second.id, NOW)


@pytest.mark.parametrize("after", [None, (NOW, 5)])
async def test_pending_deliveries_pages_through_an_index_without_sorting(repo, after):
    """Paging past resting channels reads one page per call: the index gives the order and the starting point
    (a sort would read every pending row on every page)."""
    seen: list[tuple[str, tuple]] = []
    fetch_all = repo.db.fetch_all

    async def recording(sql, params=()):
        seen.append((sql, params))
        return await fetch_all(sql, params)

    repo.db.fetch_all = recording
    await repo.pending_deliveries(500, after=after)
    [(sql, params)] = seen
    plan = " / ".join(r[3] for r in await fetch_all(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "news_deliveries_pending_order" in plan and "<expr>>" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
