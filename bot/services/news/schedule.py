"""When feeds are polled (interval with jitter, exponential backoff after failures), and one lock per feed.

A feed is fetched, ingested, re-baselined or followed under its lock, so two of those never interleave on one feed
(a poll and `/news feed resume`, or two servers adding the same URL at once). The locks also count releases, so a
poll that read many feed rows in one query knows, per feed, whether that row may have changed since (someone held
the feed's lock after the read): only then is the row read again.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.services.news.models import DEFAULT_INTERVAL, JITTER_FRACTION, MAX_BACKOFF, MIN_INTERVAL, _epoch


class PollSchedule:
    """The injected clock as epoch seconds, and the next poll time of a feed after a success or failure."""

    def __init__(self, clock: Callable[[], datetime], *, interval: timedelta = DEFAULT_INTERVAL,
                 rng: random.Random | None = None) -> None:
        self.clock = clock
        self.interval = max(interval, MIN_INTERVAL)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def now(self) -> int:
        return _epoch(self.clock())

    def _jittered(self, delay: timedelta) -> int:
        spread = delay.total_seconds() * JITTER_FRACTION
        return int(delay.total_seconds() + self._rng.uniform(-spread, spread))

    def after_success(self, now: int) -> int:
        return now + self._jittered(self.interval)

    def after_failure(self, now: int, failures: int) -> int:
        """Exponential backoff per feed: interval x 2^failures, at most MAX_BACKOFF."""
        delay = min(self.interval * (2 ** min(failures, 12)), MAX_BACKOFF)
        return now + self._jittered(delay)


class _FeedLock(asyncio.Lock):
    def __init__(self, owner: FeedLocks, feed_id: int) -> None:
        super().__init__()
        self._owner = owner
        self._feed_id = feed_id

    def release(self) -> None:
        self._owner._released(self._feed_id)
        super().release()


class FeedLocks:
    """One asyncio lock per feed id, dropped once nobody holds or waits for it; with a release counter."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._sequence = 0
        self._last_release: dict[int, int] = {}  # feed id -> sequence number of its lock's last release

    def __call__(self, feed_id: int) -> asyncio.Lock:
        lock = self._locks.get(feed_id)
        if lock is None:
            lock = _FeedLock(self, feed_id)
            self._locks[feed_id] = lock
        return lock

    @property
    def sequence(self) -> int:
        """Take this before reading feed rows; pass it to `released_since` once the feed's lock is held."""
        return self._sequence

    def released_since(self, feed_id: int, sequence: int) -> bool:
        """Whether the feed's lock was released after `sequence` was taken (it was held after the read, so
        whatever was read of the feed may be stale)."""
        return self._last_release.get(feed_id, -1) >= sequence

    def _released(self, feed_id: int) -> None:
        self._last_release[feed_id] = self._sequence
        self._sequence += 1
