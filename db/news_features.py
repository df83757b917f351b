"""The record of a stored story (`DeliveryRecord`, one row of `news_deliveries`: delivery, corrections and
`/news why` all read it) and the SQL of the news features of migrations 0019 and 0020: per-feed ping and threads,
alert threads to retry, corrections, `/news why` look-ups and WebSub subscriptions. Mixed into
`db.news.NewsRepository` (kept apart so the poll and ingest queries there stay small); times are integer Unix epoch
seconds (UTC).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from db.database import Database


class Unchanged:
    """Marker for "leave this column as it is" in `update_subscription`."""


UNCHANGED = Unchanged()


@dataclass(frozen=True, slots=True)
class SubscriptionOptions:
    """How a feed posts: ping_role_id None = the server's news role, 0 = quietly; thread None = server setting."""

    ping_role_id: int | None
    thread: bool | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A story of a server (a row of `news_deliveries`): what delivery posts, and what `/news why` and corrections
    read. Re-exported by `db.news`."""

    id: int
    guild_id: int
    subscription_id: int | None
    feed_id: int | None
    channel_id: int | None
    entry_key: str
    dedupe_key: str
    link: str | None
    title: str
    payload: str
    published_at: int | None
    state: str
    attempts: int
    attempted_at: int | None
    message_id: int | None
    created_at: int
    retries: int = 0
    next_attempt_at: int | None = None
    posted_channel_id: int | None = None  # the channel it was posted in (0019)
    error: str | None = None
    revision: int = 0  # corrections stored (0019)
    edit_pending: bool = False  # a stored correction whose message is not edited yet (0019)

    @property
    def order_key(self) -> int:
        """Stories go out oldest first: by publication time, else by when the intent was written (then id)."""
        return self.published_at if self.published_at is not None else self.created_at

    @property
    def unresolved_attempts(self) -> int:
        """Sends whose outcome was never recorded (the process died mid-send): these count toward giving up."""
        return self.attempts - self.retries


# The columns of a DeliveryRecord, in its field order (one list for every read of a story), and its row mapper.
DELIVERY_COLUMNS = ("id, guild_id, subscription_id, feed_id, channel_id, entry_key, dedupe_key, link, title, payload, "
                     "published_at, state, attempts, attempted_at, message_id, created_at, retries, next_attempt_at, "
                     "posted_channel_id, error, revision, edit_pending")


def delivery_record(row: sqlite3.Row) -> DeliveryRecord:
    """The DeliveryRecord of a row read with DELIVERY_COLUMNS."""
    values = [row[i] for i in range(22)]
    values[21] = bool(values[21])  # edit_pending
    return DeliveryRecord(*values)


@dataclass(frozen=True, slots=True)
class WebSubRecord:
    feed_id: int
    topic: str
    hub: str
    callback_token: str
    secret: str
    state: str  # subscribing | active | unsubscribing
    lease_expires_at: int | None
    requested_at: int
    last_push_at: int | None


_WEBSUB_COLUMNS = ("feed_id, topic, hub, callback_token, secret, state, lease_expires_at, requested_at,"
                   " last_push_at")


def _websub(row: sqlite3.Row) -> WebSubRecord:
    return WebSubRecord(*(row[i] for i in range(9)))


@dataclass(frozen=True, slots=True)
class AlertThreadRecord:
    """An alert whose discussion thread could not be opened yet (0020 `news_alert_threads`)."""

    delivery_id: int
    guild_id: int
    channel_id: int
    message_id: int
    title: str
    archive_minutes: int
    state: str  # pending | refused | failed | given_up
    attempts: int
    next_attempt_at: int | None
    error: str | None


_ALERT_THREAD_COLUMNS = ("delivery_id, guild_id, channel_id, message_id, title, archive_minutes, state, attempts,"
                         " next_attempt_at, error")


def _alert_thread(row: sqlite3.Row) -> AlertThreadRecord:
    return AlertThreadRecord(*(row[i] for i in range(10)))


class NewsFeaturesMixin:
    db: Database

    # -- per-feed options ---------------------------------------------------------------------------------------
    async def subscription_options(self, subscription_ids: Sequence[int]) -> dict[int, SubscriptionOptions]:
        rows = await self.db.fetch_all_in(
            "SELECT id, ping_role_id, thread FROM news_subscriptions WHERE id IN ({marks})", subscription_ids)
        return {int(row[0]): SubscriptionOptions(row[1], None if row[2] is None else bool(row[2])) for row in rows}

    async def update_subscription(self, guild_id: int, subscription_id: int, *,
                                  channel_id: int | Unchanged | None = UNCHANGED,
                                  ping_role_id: int | Unchanged | None = UNCHANGED,
                                  thread: bool | Unchanged | None = UNCHANGED) -> bool:
        """Change where and how a feed posts; its stories not yet sent move with a channel change. False when the
        subscription is unknown here."""
        assignments: list[str] = []
        params: list[object] = []
        if not isinstance(channel_id, Unchanged):
            assignments.append("channel_id = ?")
            params.append(channel_id)
        if not isinstance(ping_role_id, Unchanged):
            assignments.append("ping_role_id = ?")
            params.append(ping_role_id)
        if not isinstance(thread, Unchanged):
            assignments.append("thread = ?")
            params.append(None if thread is None else int(thread))
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT id FROM news_subscriptions WHERE guild_id = ? AND id = ?",
                                     (guild_id, subscription_id))
            if row is None:
                return False
            if assignments:
                await tx.execute(f"UPDATE news_subscriptions SET {', '.join(assignments)} WHERE id = ?",  # noqa: S608
                                 (*params, subscription_id))
            if not isinstance(channel_id, Unchanged):
                await tx.execute("UPDATE news_deliveries SET channel_id = ? WHERE subscription_id = ?"
                                 " AND state = 'pending' AND attempted_at IS NULL", (channel_id, subscription_id))
        return True

    # -- alert threads (0020) -----------------------------------------------------------------------------------
    async def record_alert_thread(self, record: AlertThreadRecord, now: int) -> None:
        """Record a thread that could not be opened (first failure: attempts 1; later ones count up)."""
        await self.db.execute(
            f"INSERT INTO news_alert_threads ({_ALERT_THREAD_COLUMNS}, created_at)"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (delivery_id) DO UPDATE SET state = excluded.state, attempts = attempts + 1,"
            " next_attempt_at = excluded.next_attempt_at, error = excluded.error",
            (record.delivery_id, record.guild_id, record.channel_id, record.message_id, record.title,
             record.archive_minutes, record.state, record.next_attempt_at, (record.error or "")[:500] or None, now),
        )

    async def alert_thread(self, delivery_id: int) -> AlertThreadRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {_ALERT_THREAD_COLUMNS} FROM news_alert_threads WHERE delivery_id = ?",  # noqa: S608
            (delivery_id,))
        return None if row is None else _alert_thread(row)

    async def due_alert_threads(self, now: int, limit: int) -> list[AlertThreadRecord]:
        """Threads to try again now, the longest waiting first."""
        rows = await self.db.fetch_all(
            f"SELECT {_ALERT_THREAD_COLUMNS} FROM news_alert_threads"  # noqa: S608
            " WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, delivery_id LIMIT ?",
            (now, limit),
        )
        return [_alert_thread(r) for r in rows]

    async def alert_thread_opened(self, delivery_id: int) -> None:
        await self.db.execute("DELETE FROM news_alert_threads WHERE delivery_id = ?", (delivery_id,))

    async def claim_thread_refusal_notice(self, guild_id: int, channel_id: int, now: int) -> bool:
        """True for the first refusal in this channel since threads last opened there (the admins are told)."""
        result = await self.db.execute(
            "INSERT INTO news_thread_refusals (guild_id, channel_id, notified_at) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id, channel_id) DO NOTHING",
            (guild_id, channel_id, now),
        )
        return result.rowcount == 1

    async def clear_thread_refusal(self, guild_id: int, channel_id: int) -> None:
        await self.db.execute("DELETE FROM news_thread_refusals WHERE guild_id = ? AND channel_id = ?",
                              (guild_id, channel_id))

    # -- corrections --------------------------------------------------------------------------------------------
    async def sent_stories_of_entries(self, feed_id: int, entry_keys: Sequence[str]) -> list[DeliveryRecord]:
        """Posted stories (every server) of these entries of the feed."""
        rows = await self.db.fetch_all_in(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE feed_id = ? AND state = 'sent'"  # noqa: S608
            " AND message_id IS NOT NULL AND entry_key IN ({marks})",
            sorted(set(entry_keys)), (feed_id,),
        )
        return [delivery_record(r) for r in rows]

    async def store_correction(self, delivery_id: int, title: str, payload: str, *, revision: int) -> bool:
        """Store a changed story to edit its message; False when another correction got there first."""
        result = await self.db.execute(
            "UPDATE news_deliveries SET title = ?, payload = ?, revision = revision + 1, edit_pending = 1"
            " WHERE id = ? AND revision = ?",
            (title, payload, delivery_id, revision),
        )
        return result.rowcount == 1

    async def pending_edits(self, limit: int = 100) -> list[DeliveryRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE edit_pending = 1 AND state = 'sent'"  # noqa: S608
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [delivery_record(r) for r in rows]

    async def finish_edit(self, delivery_id: int, revision: int) -> None:
        await self.db.execute("UPDATE news_deliveries SET edit_pending = 0 WHERE id = ? AND revision = ?",
                              (delivery_id, revision))

    # -- /news why ----------------------------------------------------------------------------------------------
    async def find_stories(self, guild_id: int, dedupe_key: str | None, title: str,
                           limit: int = 5) -> list[DeliveryRecord]:
        """The server's stories with this dedupe key (normalized link), else whose title contains `title`
        (case-insensitive for ASCII), newest first."""
        if dedupe_key:
            rows = await self.db.fetch_all(
                f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE guild_id = ? AND (dedupe_key = ? OR link = ?)"  # noqa: S608
                " ORDER BY id DESC LIMIT ?",
                (guild_id, dedupe_key, dedupe_key.removeprefix("link:"), limit),
            )
            if rows:
                return [delivery_record(r) for r in rows]
        if not title.strip():
            return []
        rows = await self.db.fetch_all(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE guild_id = ? AND instr(lower(title), lower(?)) > 0"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (guild_id, title.strip(), limit),
        )
        return [delivery_record(r) for r in rows]

    async def stories_with_fingerprint(self, guild_id: int, fingerprint: str, limit: int = 5) -> list[DeliveryRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE guild_id = ? AND title_fingerprint = ?"  # noqa: S608
            " ORDER BY id LIMIT ?",
            (guild_id, fingerprint, limit),
        )
        return [delivery_record(r) for r in rows]

    async def recent_story_titles(self, guild_id: int, since: int, limit: int) -> list[DeliveryRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {DELIVERY_COLUMNS} FROM news_deliveries WHERE guild_id = ? AND created_at >= ?"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (guild_id, since, limit),
        )
        return [delivery_record(r) for r in rows]

    # -- WebSub -------------------------------------------------------------------------------------------------
    async def get_websub(self, feed_id: int) -> WebSubRecord | None:
        row = await self.db.fetch_one(f"SELECT {_WEBSUB_COLUMNS} FROM news_websub WHERE feed_id = ?",  # noqa: S608
                                      (feed_id,))
        return None if row is None else _websub(row)

    async def websub_by_token(self, token: str) -> WebSubRecord | None:
        row = await self.db.fetch_one(f"SELECT {_WEBSUB_COLUMNS} FROM news_websub WHERE callback_token = ?",  # noqa: S608
                                      (token,))
        return None if row is None else _websub(row)

    async def all_websubs(self) -> list[WebSubRecord]:
        rows = await self.db.fetch_all(f"SELECT {_WEBSUB_COLUMNS} FROM news_websub ORDER BY feed_id")  # noqa: S608
        return [_websub(r) for r in rows]

    async def save_websub(self, record: WebSubRecord) -> None:
        await self.db.execute(
            f"INSERT INTO news_websub ({_WEBSUB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (feed_id) DO UPDATE SET topic = excluded.topic, hub = excluded.hub,"
            " callback_token = excluded.callback_token, secret = excluded.secret, state = excluded.state,"
            " lease_expires_at = excluded.lease_expires_at, requested_at = excluded.requested_at",
            (record.feed_id, record.topic, record.hub, record.callback_token, record.secret, record.state,
             record.lease_expires_at, record.requested_at, record.last_push_at),
        )

    async def websub_verified(self, feed_id: int, lease_expires_at: int) -> None:
        await self.db.execute("UPDATE news_websub SET state = 'active', lease_expires_at = ? WHERE feed_id = ?",
                              (lease_expires_at, feed_id))

    async def websub_pushed(self, feed_id: int, now: int) -> None:
        await self.db.execute("UPDATE news_websub SET last_push_at = ? WHERE feed_id = ?", (now, feed_id))

    async def set_websub_state(self, feed_id: int, state: str, now: int) -> None:
        await self.db.execute("UPDATE news_websub SET state = ?, requested_at = ? WHERE feed_id = ?",
                              (state, now, feed_id))

    async def delete_websub(self, feed_id: int) -> None:
        await self.db.execute("DELETE FROM news_websub WHERE feed_id = ?", (feed_id,))

    async def feed_is_followed(self, feed_id: int) -> bool:
        """Whether an active (not paused) subscription follows the feed."""
        row = await self.db.fetch_one(
            "SELECT 1 FROM news_subscriptions WHERE feed_id = ? AND paused = 0 LIMIT 1", (feed_id,))
        return row is not None

    async def active_websub_feeds(self, feed_ids: Sequence[int]) -> set[int]:
        """Which of these feeds have an active WebSub subscription (one read for a poll's unchanged feeds)."""
        rows = await self.db.fetch_all_in(
            "SELECT feed_id FROM news_websub WHERE state = 'active' AND feed_id IN ({marks})", feed_ids)
        return {int(r[0]) for r in rows}

    async def postpone_polls(self, feed_ids: Sequence[int], next_poll_at: int) -> None:
        """`postpone_poll` for many feeds, in one statement."""
        if feed_ids:
            await self.db.write(lambda tx: tx.executemany(
                "UPDATE news_feeds SET next_poll_at = MAX(next_poll_at, ?) WHERE id = ?",
                [(next_poll_at, feed_id) for feed_id in feed_ids]))

    async def postpone_poll(self, feed_id: int, next_poll_at: int) -> None:
        """A pushed feed is polled at the slower safety-net interval."""
        await self.db.execute("UPDATE news_feeds SET next_poll_at = MAX(next_poll_at, ?) WHERE id = ?",
                              (next_poll_at, feed_id))
