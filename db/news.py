"""News alerts: feeds, subscriptions, keywords, seen entries and deliveries (all SQL for them lives here).

Times are integer Unix epoch seconds (UTC), as in migration 0005; 0006 adds `title_normalized`, 0011 the
deliveries' `retries` and `next_attempt_at`, 0018 the feeds' `body_hash`.

The poll and ingest queries are shaped for few round trips (each statement is several hops to the database
thread, which cost more than the SQL): what one ingest reads comes back from one statement (`ingest_state`,
`dedupe_state`), what it writes is one transaction, and the feeds a poll found unchanged are recorded together
(`record_unchanged`).

Posting is batched the same way (`claim_attempts`, `finish_sends`): the attempt marks of a channel's next stories
are committed in one transaction before any of them is sent, and the message ids of the stories sent are recorded
in the next such transaction. A story claimed but whose send has not started is only known to this process (it
looks attempted in the table), so the claims are kept per database in memory: pausing or removing a feed, or
leaving a server, revokes its claims at once (`begin_send` then refuses them) and deletes or drops those rows as
if no send had been started for them (none was).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from db.database import IN_CHUNK, Database, SyncTransaction, Transaction
from db.news_features import DELIVERY_COLUMNS, UNCHANGED, NewsFeaturesMixin, Unchanged, delivery_record
from db.news_features import DeliveryRecord as DeliveryRecord  # re-exported: delivery reads it from here


@dataclass(frozen=True, slots=True)
class FeedRecord:
    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    last_checked_at: int | None
    last_success_at: int | None
    last_new_item_at: int | None
    last_error: str | None
    consecutive_failures: int
    next_poll_at: int
    created_at: int
    body_hash: str | None = None  # SHA-256 of the last fully ingested body (0018)


@dataclass(frozen=True, slots=True)
class UnchangedFeed:
    """A feed whose fetch brought nothing new (a 304, or the same body bytes as last time), to record in a batch.
    The row is only updated if it still has `expected_next_poll_at`, i.e. nothing else recorded a poll of the feed
    since it was read (a `/news check` or a resume that ran meanwhile wins)."""

    feed_id: int
    expected_next_poll_at: int
    next_poll_at: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: int
    guild_id: int
    feed_id: int
    channel_id: int | None
    paused: bool
    created_by: int
    created_at: int
    failure_notice_sent: bool


@dataclass(frozen=True, slots=True)
class SubscriptionWithFeed:
    subscription: SubscriptionRecord
    feed: FeedRecord


@dataclass(frozen=True, slots=True)
class KeywordRecord:
    id: int
    guild_id: int
    subscription_id: int | None
    raw: str
    kind: str


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A story to post to one server, written as an intent before anything is sent."""

    guild_id: int
    subscription_id: int
    feed_id: int
    channel_id: int | None
    entry_key: str
    dedupe_key: str
    link: str | None
    title: str
    title_fingerprint: str
    payload: str
    published_at: int | None
    title_normalized: str = ""  # bot.domain.feed_entries.dedupe_title of the title; '' = compute when read


@dataclass(frozen=True, slots=True)
class RecentStory:
    """A story of the dedupe window, as the cross-feed dedupe compares it."""

    title: str
    title_normalized: str  # '' for rows written before migration 0006


_FEED_COLUMNS = ("id, url, title, etag, last_modified, last_checked_at, last_success_at, last_new_item_at, "
                 "last_error, consecutive_failures, next_poll_at, created_at, body_hash")
_FEED_COLUMN_COUNT = 13
_SUB_COLUMNS = "id, guild_id, feed_id, channel_id, paused, created_by, created_at, failure_notice_sent"


@dataclass(frozen=True, slots=True)
class SentRecord:
    """A story the poster sent (its message id), to be recorded as sent with others (`finish_sends`)."""

    delivery_id: int
    message_id: int
    sent_at: int
    channel_id: int | None  # the channel it was posted in (0019)


# Stories whose attempt mark a batch committed but whose send has not started, per database (every repository on
# one database shares them): delivery id -> (server id, subscription id).
_Claims = dict[int, tuple[int, int | None]]
_CLAIMS: weakref.WeakKeyDictionary[Database, _Claims] = weakref.WeakKeyDictionary()


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def _feed(row: sqlite3.Row, offset: int = 0) -> FeedRecord:
    return FeedRecord(*(row[offset + i] for i in range(_FEED_COLUMN_COUNT)))


def _subscription(row: sqlite3.Row, offset: int = 0) -> SubscriptionRecord:
    values = [row[offset + i] for i in range(8)]
    values[4] = bool(values[4])
    values[7] = bool(values[7])
    return SubscriptionRecord(*values)


_INSERT_DELIVERY = (
    "INSERT INTO news_deliveries (guild_id, subscription_id, feed_id, channel_id, entry_key, dedupe_key, link, title,"
    " title_fingerprint, title_normalized, payload, published_at, state, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (guild_id, dedupe_key) DO NOTHING"
)


# Several intents per INSERT statement (one round trip each, 13 parameters a row).
_DELIVERY_ROWS = 100
_DELIVERY_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)"
_INSERT_DELIVERIES = (
    "INSERT INTO news_deliveries (guild_id, subscription_id, feed_id, channel_id, entry_key, dedupe_key, link, title,"
    " title_fingerprint, title_normalized, payload, published_at, state, created_at)"
    " VALUES {values} ON CONFLICT (guild_id, dedupe_key) DO NOTHING"
)


def _delivery_params(d: NewDelivery, now: int) -> tuple[object, ...]:
    return (d.guild_id, d.subscription_id, d.feed_id, d.channel_id, d.entry_key, d.dedupe_key, d.link, d.title,
            d.title_fingerprint, d.title_normalized, d.payload, d.published_at, now)


class NewsRepository(NewsFeaturesMixin):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._claims: _Claims = _CLAIMS.setdefault(db, {})

    def _revoke(self, claimed_for: Callable[[int, int | None], bool]) -> list[int]:
        """Take back the claims (server id, subscription id) -> True selects; their sends will not start."""
        revoked = [d for d, (guild_id, subscription_id) in self._claims.items()
                   if claimed_for(guild_id, subscription_id)]
        for delivery_id in revoked:
            del self._claims[delivery_id]
        return revoked

    # -- feeds ----------------------------------------------------------------------------------------------------
    async def get_feed(self, feed_id: int) -> FeedRecord | None:
        row = await self.db.fetch_one(f"SELECT {_FEED_COLUMNS} FROM news_feeds WHERE id = ?", (feed_id,))  # noqa: S608
        return None if row is None else _feed(row)

    async def get_feed_by_url(self, url: str) -> FeedRecord | None:
        row = await self.db.fetch_one(f"SELECT {_FEED_COLUMNS} FROM news_feeds WHERE url = ?", (url,))  # noqa: S608
        return None if row is None else _feed(row)

    async def ensure_feed(self, url: str, *, now: int, next_poll_at: int) -> FeedRecord:
        await self.db.execute(
            "INSERT INTO news_feeds (url, next_poll_at, created_at) VALUES (?, ?, ?) ON CONFLICT (url) DO NOTHING",
            (url, next_poll_at, now),
        )
        feed = await self.get_feed_by_url(url)
        assert feed is not None  # noqa: S101 - inserted just above
        return feed

    async def due_feeds(self, now: int, limit: int = 1000) -> list[FeedRecord]:
        """Feeds due for a poll that at least one server follows and has not paused, most overdue first."""
        rows = await self.db.fetch_all(
            f"SELECT {_prefixed(_FEED_COLUMNS, 'f')} FROM news_feeds f WHERE f.next_poll_at <= ? AND EXISTS ("  # noqa: S608
            " SELECT 1 FROM news_subscriptions s WHERE s.feed_id = f.id AND s.paused = 0)"
            " ORDER BY f.next_poll_at LIMIT ?",
            (now, limit),
        )
        return [_feed(r) for r in rows]

    async def record_fetched(
        self,
        feed_id: int,
        *,
        now: int,
        next_poll_at: int,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
        entry_keys: Sequence[str],
        new_item: bool,
        deliveries: Sequence[NewDelivery],
        prune_seen_before: int,
        body_hash: str | None = None,
    ) -> int:
        """One successful full fetch, in one transaction: feed state, seen entries, delivery intents.

        Returns how many delivery intents were written (duplicates by (guild, dedupe key) are skipped); 0, and
        nothing written, when the feed was deleted meanwhile (its last subscription removed).
        """
        def write(tx: SyncTransaction) -> int:  # one trip to the database thread: this runs once per polled feed
            updated = tx.execute(
                "UPDATE news_feeds SET title = COALESCE(?, title), etag = ?, last_modified = ?, last_checked_at = ?,"
                " last_success_at = ?, last_new_item_at = CASE WHEN ? THEN ? ELSE last_new_item_at END,"
                " last_error = NULL, consecutive_failures = 0, next_poll_at = ?, body_hash = ? WHERE id = ?",
                (title, etag, last_modified, now, now, int(new_item), now, next_poll_at, body_hash, feed_id),
            )
            if updated.rowcount == 0:
                return 0
            if entry_keys:
                tx.executemany(
                    "INSERT INTO news_seen_entries (feed_id, entry_key, first_seen_at, last_seen_at)"
                    " VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (feed_id, entry_key) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                    [(feed_id, key, now, now) for key in entry_keys],
                )
            tx.execute("DELETE FROM news_seen_entries WHERE feed_id = ? AND last_seen_at < ?",
                       (feed_id, prune_seen_before))
            written = 0
            for start in range(0, len(deliveries), _DELIVERY_ROWS):
                chunk = deliveries[start:start + _DELIVERY_ROWS]
                written += tx.execute(
                    _INSERT_DELIVERIES.format(values=", ".join([_DELIVERY_VALUES] * len(chunk))),
                    [value for d in chunk for value in _delivery_params(d, now)],
                ).rowcount
            return written

        return await self.db.write(write)

    async def record_unchanged(self, feeds: Sequence[UnchangedFeed], *, now: int) -> None:
        """Fetches that brought nothing new (304s, unchanged bodies), in one transaction (a feed polled again or
        deleted since it was read is left alone)."""
        if not feeds:
            return
        async with self.db.transaction() as tx:
            await tx.executemany(
                "UPDATE news_feeds SET etag = ?, last_modified = ?, last_checked_at = ?, last_success_at = ?,"
                " last_error = NULL, consecutive_failures = 0, next_poll_at = ? WHERE id = ? AND next_poll_at = ?",
                [(f.etag, f.last_modified, now, now, f.next_poll_at, f.feed_id, f.expected_next_poll_at)
                 for f in feeds],
            )

    async def record_not_modified(self, feed_id: int, *, now: int, next_poll_at: int) -> None:
        await self.db.execute(
            "UPDATE news_feeds SET last_checked_at = ?, last_success_at = ?, last_error = NULL,"
            " consecutive_failures = 0, next_poll_at = ? WHERE id = ?",
            (now, now, next_poll_at, feed_id),
        )

    async def record_failure(self, feed_id: int, *, now: int, next_poll_at: int, error: str) -> int:
        """Count one more consecutive failure; returns the new count."""
        await self.db.execute(
            "UPDATE news_feeds SET last_checked_at = ?, last_error = ?,"
            " consecutive_failures = consecutive_failures + 1, next_poll_at = ? WHERE id = ?",
            (now, error[:500], next_poll_at, feed_id),
        )
        row = await self.db.fetch_one("SELECT consecutive_failures FROM news_feeds WHERE id = ?", (feed_id,))
        return 0 if row is None else int(row[0])

    # -- seen entries ---------------------------------------------------------------------------------------------
    async def ingest_state(self, feed_id: int, keys: Sequence[str]) -> tuple[set[str], list[SubscriptionRecord]]:
        """What ingesting a fetch reads, in one statement: which of `keys` the feed has shown before, and the
        feed's active subscriptions (by id)."""
        unique = list(dict.fromkeys(keys))
        first, rest = unique[:IN_CHUNK], unique[IN_CHUNK:]
        rows = await self.db.fetch_all(
            f"SELECT 1, {_SUB_COLUMNS} FROM news_subscriptions WHERE feed_id = ? AND paused = 0"  # noqa: S608
            " UNION ALL SELECT 0, entry_key, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM news_seen_entries"
            f" WHERE feed_id = ? AND entry_key IN ({', '.join('?' * len(first))})",
            (feed_id, feed_id, *first),
        )
        known = {r[1] for r in rows if r[0] == 0}
        subscriptions = sorted((_subscription(r, 1) for r in rows if r[0] == 1), key=lambda s: s.id)
        if rest:
            known |= await self.known_entry_keys(feed_id, rest)
        return known, subscriptions

    async def known_entry_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        rows = await self.db.fetch_all_in(
            "SELECT entry_key FROM news_seen_entries WHERE feed_id = ? AND entry_key IN ({marks})", keys, (feed_id,))
        return {r[0] for r in rows}

    # -- subscriptions --------------------------------------------------------------------------------------------
    async def create_subscription(self, guild_id: int, feed_id: int, *, channel_id: int | None, created_by: int,
                                  now: int) -> SubscriptionRecord | None:
        """The new subscription, or None when this server already follows the feed."""
        result = await self.db.execute(
            "INSERT INTO news_subscriptions (guild_id, feed_id, channel_id, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, feed_id) DO NOTHING",
            (guild_id, feed_id, channel_id, created_by, now),
        )
        if result.rowcount == 0:
            return None
        return await self.get_subscription(guild_id, int(result.lastrowid or 0))

    async def get_subscription(self, guild_id: int, subscription_id: int) -> SubscriptionRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {_SUB_COLUMNS} FROM news_subscriptions WHERE guild_id = ? AND id = ?",  # noqa: S608
            (guild_id, subscription_id),
        )
        return None if row is None else _subscription(row)

    async def subscriptions_of_feed(self, feed_id: int, *, include_paused: bool = False) -> list[SubscriptionRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_SUB_COLUMNS} FROM news_subscriptions WHERE feed_id = ? AND (? OR paused = 0)"  # noqa: S608
            " ORDER BY id",
            (feed_id, int(include_paused)),
        )
        return [_subscription(r) for r in rows]

    async def subscriptions_of_guild(self, guild_id: int) -> list[SubscriptionWithFeed]:
        rows = await self.db.fetch_all(
            f"SELECT {_prefixed(_SUB_COLUMNS, 's')}, {_prefixed(_FEED_COLUMNS, 'f')} FROM news_subscriptions s"  # noqa: S608
            " JOIN news_feeds f ON f.id = s.feed_id WHERE s.guild_id = ? ORDER BY s.id",
            (guild_id,),
        )
        return [SubscriptionWithFeed(_subscription(r), _feed(r, 8)) for r in rows]

    async def set_paused(self, guild_id: int, subscription_id: int, paused: bool) -> bool:
        """Pause (its queued stories are dropped in the same transaction) or resume; False when unknown here."""
        async with self.db.transaction() as tx:
            result = await tx.execute(
                "UPDATE news_subscriptions SET paused = ? WHERE guild_id = ? AND id = ?",
                (int(paused), guild_id, subscription_id),
            )
            if result.rowcount == 1 and paused:
                await self._cancel_pending(tx, subscription_id)
        return result.rowcount == 1

    async def pause_guild(self, guild_id: int, reason: str) -> tuple[int, int]:
        """The bot left the server: pause all its subscriptions (kept, for when it is added back) and drop its
        queued stories (marked failed with `reason`, so the dedupe still knows them); (paused, dropped)."""
        async with self.db.transaction() as tx:
            self._revoke(lambda claimed_guild, _subscription: claimed_guild == guild_id)  # all dropped just below
            paused = await tx.execute("UPDATE news_subscriptions SET paused = 1 WHERE guild_id = ? AND paused = 0",
                                      (guild_id,))
            dropped = await tx.execute("UPDATE news_deliveries SET state = 'failed', error = ?"
                                       " WHERE guild_id = ? AND state = 'pending'", (reason[:500], guild_id))
        return paused.rowcount, dropped.rowcount

    async def set_failure_notice(self, subscription_ids: Sequence[int], sent: bool) -> None:
        if not subscription_ids:
            return
        await self.db.execute(
            f"UPDATE news_subscriptions SET failure_notice_sent = ? WHERE id IN "  # noqa: S608
            f"({', '.join('?' * len(subscription_ids))})",
            (int(sent), *subscription_ids),
        )

    async def delete_subscription(self, guild_id: int, subscription_id: int) -> bool:
        """Remove the subscription (its keywords and queued stories go with it) and the feed when nobody follows
        it any more."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT feed_id FROM news_subscriptions WHERE guild_id = ? AND id = ?",
                                     (guild_id, subscription_id))
            if row is None:
                return False
            await self._cancel_pending(tx, subscription_id)
            await tx.execute("DELETE FROM news_subscriptions WHERE id = ?", (subscription_id,))
            await tx.execute(
                "DELETE FROM news_feeds WHERE id = ?"
                " AND NOT EXISTS (SELECT 1 FROM news_subscriptions WHERE feed_id = ?)",
                (row["feed_id"], row["feed_id"]),
            )
        return True

    async def update_subscription(self, guild_id: int, subscription_id: int, *,
                                  channel_id: int | Unchanged | None = UNCHANGED,
                                  ping_role_id: int | Unchanged | None = UNCHANGED,
                                  thread: bool | Unchanged | None = UNCHANGED) -> bool:
        """As NewsFeaturesMixin.update_subscription; a channel change first takes back the feed's stories a batch
        claimed but has not started sending (their attempt undone), so they move with the unsent ones."""
        if not isinstance(channel_id, Unchanged):
            revoked = self._revoke(lambda _guild, claimed_subscription: claimed_subscription == subscription_id)
            await self.finish_sends((), revoked)
        return await super().update_subscription(guild_id, subscription_id, channel_id=channel_id,
                                                 ping_role_id=ping_role_id, thread=thread)

    # -- keywords -------------------------------------------------------------------------------------------------
    async def add_keyword(self, guild_id: int, subscription_id: int | None, raw: str, kind: str, now: int) -> bool:
        """False when the same keyword is already set at that level."""
        result = await self.db.execute(
            "INSERT INTO news_keywords (guild_id, subscription_id, raw, kind, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (guild_id, subscription_id, raw, kind, now),
        )
        return result.rowcount == 1

    async def remove_keyword(self, guild_id: int, subscription_id: int | None, raw: str) -> bool:
        result = await self.db.execute(
            "DELETE FROM news_keywords WHERE guild_id = ? AND COALESCE(subscription_id, 0) = ? AND raw = ?",
            (guild_id, subscription_id or 0, raw),
        )
        return result.rowcount > 0

    async def keywords_of_guild(self, guild_id: int) -> list[KeywordRecord]:
        rows = await self.db.fetch_all(
            "SELECT id, guild_id, subscription_id, raw, kind FROM news_keywords WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        return [KeywordRecord(*r) for r in rows]

    # -- deliveries -----------------------------------------------------------------------------------------------
    async def recent_stories(self, guild_id: int, since: int, limit: int) -> list[RecentStory]:
        """The server's latest `limit` stories since `since`, newest first (for the fuzzy title comparison)."""
        rows = await self.db.fetch_all(
            "SELECT title, title_normalized FROM news_deliveries WHERE guild_id = ? AND created_at >= ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (guild_id, since, limit),
        )
        return [RecentStory(r[0], r[1]) for r in rows]

    async def dedupe_state(self, guild_id: int, since: int, fingerprints: Iterable[str],
                           limit: int) -> tuple[set[str], list[RecentStory]]:
        """What the cross-feed dedupe reads, in one statement: `known_fingerprints` and `recent_stories`."""
        wanted = sorted({f for f in fingerprints if f})
        first, rest = wanted[:IN_CHUNK], wanted[IN_CHUNK:]
        rows = await self.db.fetch_all(
            "SELECT 0, title_fingerprint, NULL, NULL, NULL FROM news_deliveries WHERE guild_id = ? AND created_at >= ?"  # noqa: S608
            f" AND title_fingerprint IN ({', '.join('?' * len(first))})"
            " UNION ALL SELECT * FROM (SELECT 1, title, title_normalized, created_at, id FROM news_deliveries"
            " WHERE guild_id = ? AND created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?)",
            (guild_id, since, *first, guild_id, since, limit),
        )
        known = {r[1] for r in rows if r[0] == 0}
        recent = sorted((r for r in rows if r[0] == 1), key=lambda r: (r[3], r[4]), reverse=True)
        if rest:
            known |= await self.known_fingerprints(guild_id, since, rest)
        return known, [RecentStory(r[1], r[2]) for r in recent]

    async def known_fingerprints(self, guild_id: int, since: int, fingerprints: Iterable[str]) -> set[str]:
        """Which of `fingerprints` a story of the server since `since` has (indexed; the whole window)."""
        rows = await self.db.fetch_all_in(
            "SELECT DISTINCT title_fingerprint FROM news_deliveries WHERE guild_id = ? AND created_at >= ?"
            " AND title_fingerprint IN ({marks})", sorted({f for f in fingerprints if f}), (guild_id, since))
        return {r[0] for r in rows}

    async def add_delivery(self, delivery: NewDelivery, now: int) -> bool:
        """One intent outside a fetch (the "post the newest" option of feed add)."""
        result = await self.db.execute(_INSERT_DELIVERY, _delivery_params(delivery, now))
        return result.rowcount == 1

    async def pending_deliveries(self, limit: int = 500,
                                 after: tuple[int, int] | None = None) -> list[DeliveryRecord]:
        """Intents not yet known to be posted, oldest story first; `after` = (order key, id) of the last row of
        the previous page (DeliveryRecord.order_key), to page past channels that must wait."""
        key, last_id = after if after is not None else (-(2**62), -1)
        # Written so the index news_deliveries_pending_order (0016) both orders and seeks: `order key >= ?` is the
        # range it starts from (no sort, no walk over earlier pages); the OR then skips the rows of that key already
        # had.
        rows = await self.db.fetch_all(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE state = 'pending'"  # noqa: S608
            " AND COALESCE(published_at, created_at) >= ? AND (COALESCE(published_at, created_at) > ? OR id > ?)"
            " ORDER BY COALESCE(published_at, created_at), id LIMIT ?",
            (key, key, last_id, limit),
        )
        return [delivery_record(r) for r in rows]

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE id = ?", (delivery_id,)  # noqa: S608
        )
        return None if row is None else delivery_record(row)

    async def mark_attempt(self, delivery_id: int, now: int) -> bool:
        """Record that a send starts; False when the intent is no longer pending (its feed was paused or removed,
        or the bot left the server, since it was read): then nothing may be sent."""
        result = await self.db.execute(
            "UPDATE news_deliveries SET attempted_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
            (now, delivery_id),
        )
        return result.rowcount == 1

    async def claim_attempts(self, deliveries: Sequence[DeliveryRecord], now: int,
                             sent: Sequence[SentRecord] = ()) -> set[int]:
        """Record, in one transaction, that the sends of `deliveries` start (as `mark_attempt` does for each) and
        that the `sent` stories were sent; returns the ids claimed (those still pending). Each claimed story must
        then go through `begin_send` right before its send, and end in `finish_sends` (sent or released) or in its
        own outcome (`mark_failed`, `mark_retry`...)."""

        def write(tx: SyncTransaction) -> set[int]:  # one trip to the database thread
            self._record_sent(tx, sent)
            claimed: set[int] = set()
            for start in range(0, len(deliveries), IN_CHUNK):
                chunk = deliveries[start:start + IN_CHUNK]
                rows = tx.fetch_all(
                    "UPDATE news_deliveries SET attempted_at = ?, attempts = attempts + 1"  # noqa: S608
                    f" WHERE state = 'pending' AND id IN ({', '.join('?' * len(chunk))}) RETURNING id",
                    (now, *(d.id for d in chunk)),
                )
                claimed.update(int(r[0]) for r in rows)
            return claimed

        claimed = await self.db.write(write)
        # Registered before anything else can run on the event loop (no await since the commit).
        self._claims.update({d.id: (d.guild_id, d.subscription_id) for d in deliveries if d.id in claimed})
        return claimed

    def begin_send(self, delivery_id: int) -> bool:
        """A claimed story's send starts now; False when its claim was revoked (its feed paused or removed, or the
        bot left the server, since the claim): then nothing may be sent."""
        return self._claims.pop(delivery_id, None) is not None

    async def finish_sends(self, sent: Sequence[SentRecord], unsent: Sequence[int]) -> None:
        """Record the `sent` stories, and release the claims of the `unsent` ones (claimed, never sent: their
        attempt is undone, as if it had not been marked), in one transaction."""
        for delivery_id in unsent:
            self._claims.pop(delivery_id, None)
        if not sent and not unsent:
            return

        def write(tx: SyncTransaction) -> None:  # one trip to the database thread
            self._record_sent(tx, sent)
            for start in range(0, len(unsent), IN_CHUNK):
                chunk = unsent[start:start + IN_CHUNK]
                tx.execute(
                    "UPDATE news_deliveries SET attempted_at = NULL, attempts = attempts - 1"  # noqa: S608
                    f" WHERE state = 'pending' AND attempted_at IS NOT NULL AND id IN ({', '.join('?' * len(chunk))})",
                    tuple(chunk),
                )

        await self.db.write(write)

    @staticmethod
    def _record_sent(tx: SyncTransaction, sent: Sequence[SentRecord]) -> None:
        if sent:
            tx.executemany(
                "UPDATE news_deliveries SET state = 'sent', message_id = ?, sent_at = ?, error = NULL,"
                " posted_channel_id = COALESCE(?, posted_channel_id) WHERE id = ?",
                [(s.message_id, s.sent_at, s.channel_id, s.delivery_id) for s in sent],
            )

    async def mark_sent(self, delivery_id: int, message_id: int, now: int, *, channel_id: int | None = None) -> None:
        """`channel_id`: the channel it was posted in (kept for corrections and /news why links; 0019)."""
        await self.db.execute(
            "UPDATE news_deliveries SET state = 'sent', message_id = ?, sent_at = ?, error = NULL,"
            " posted_channel_id = COALESCE(?, posted_channel_id) WHERE id = ?",
            (message_id, now, channel_id, delivery_id),
        )

    async def mark_retry(self, delivery_id: int, error: str, *, next_attempt_at: int, maybe_posted: bool) -> None:
        """A send failed for a reason that may pass: retry at `next_attempt_at`. When Discord may have accepted it
        (timeout, 5xx) `attempted_at` is kept, so the next try looks for it in the channel first; after a definite
        refusal (429, 408) it is cleared: nothing was posted."""
        await self.db.execute(
            "UPDATE news_deliveries SET retries = retries + 1, next_attempt_at = ?, error = ?,"
            " attempted_at = CASE WHEN ? THEN attempted_at ELSE NULL END WHERE id = ?",
            (next_attempt_at, error[:500], int(maybe_posted), delivery_id),
        )

    async def postpone(self, delivery_id: int, error: str, *, next_attempt_at: int) -> None:
        """Try again later without counting a send (the channel could not be checked for an earlier one)."""
        await self.db.execute("UPDATE news_deliveries SET next_attempt_at = ?, error = ? WHERE id = ?",
                              (next_attempt_at, error[:500], delivery_id))

    async def move_to_news_channel(self, guild_id: int, channel_id: int) -> int:
        """A feed's own channel was deleted: the subscriptions that used it and their queued stories use the
        server's news channel (channel_id NULL) from now on; returns how many stories moved."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE news_subscriptions SET channel_id = NULL WHERE guild_id = ? AND channel_id = ?",
                             (guild_id, channel_id))
            moved = await tx.execute("UPDATE news_deliveries SET channel_id = NULL WHERE guild_id = ?"
                                     " AND channel_id = ? AND state = 'pending'", (guild_id, channel_id))
        return moved.rowcount

    async def _cancel_pending(self, tx: Transaction, subscription_id: int) -> None:
        """Forget the subscription's queued stories no send was started for (deleted, so the same story can
        still come through another feed): those never attempted and those only claimed by a batch (revoked here).
        Attempted ones stay: they may be in the channel, and reconcile."""
        revoked = self._revoke(lambda _guild, claimed_subscription: claimed_subscription == subscription_id)
        await tx.execute("DELETE FROM news_deliveries WHERE subscription_id = ? AND state = 'pending'"
                         " AND attempted_at IS NULL", (subscription_id,))
        for start in range(0, len(revoked), IN_CHUNK):
            chunk = revoked[start:start + IN_CHUNK]
            await tx.execute(f"DELETE FROM news_deliveries WHERE state = 'pending' AND id IN "  # noqa: S608
                             f"({', '.join('?' * len(chunk))})", tuple(chunk))

    async def mark_failed(self, delivery_id: int, error: str) -> None:
        await self.db.execute(
            "UPDATE news_deliveries SET state = 'failed', error = ? WHERE id = ?", (error[:500], delivery_id)
        )

    async def count_deliveries(self, guild_id: int, state: str | None = None) -> int:
        row = await self.db.fetch_one(
            "SELECT COUNT(*) FROM news_deliveries WHERE guild_id = ? AND (? IS NULL OR state = ?)",
            (guild_id, state, state),
        )
        return 0 if row is None else int(row[0])

    async def prune_deliveries(self, before: int) -> int:
        """Forget finished deliveries older than the dedupe window (pending ones are kept)."""
        result = await self.db.execute(
            "DELETE FROM news_deliveries WHERE state != 'pending' AND created_at < ?", (before,)
        )
        return result.rowcount
