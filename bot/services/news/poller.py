"""Polling: fetching each due feed URL once, failure notices and recovery, then posting what was queued.

Flow of one feed poll (each distinct URL is one `news_feeds` row, fetched once however many servers follow it):
fetch (conditional) -> a 304, or a body whose SHA-256 equals the last ingested one (servers that ignore
conditional requests), is unchanged: not parsed -> otherwise parse off the event loop (bot.services.news.parsing)
-> ingest: entries not in `news_seen_entries` are new, matched and deduped per subscribing server, delivery
intents written in the transaction that marks them seen (bot.services.news.ingest) -> intents posted oldest first
(bot.services.news.delivery).

Speed (issue 12, `benchmarks/bench_news_poll.py`): a poll costs few database round trips per feed. The feed rows
come from the one query that found them due (read again only when the feed's lock was held since: FeedLocks), and
the unchanged feeds of a poll are recorded together in one transaction when the poll's fetches are done; only an
unchanged feed that was failing is recorded at once (its recovery notice follows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from bot.domain.feed_entries import ParsedFeed
from bot.metrics import Metrics
from bot.services.feed_fetch import FetchResult, body_hash
from bot.services.news.dedupe import DEDUPE_WINDOW
from bot.services.news.delivery import Deliverer
from bot.services.news.ingest import Ingester
from bot.services.news.models import FAILURE_NOTICE_AFTER, Fetcher, NewsError, PollObserver, PollSummary
from bot.services.news.notices import Notifier, notice_url
from bot.services.news.parsing import PROBLEM_LIMIT, FeedParser, FeedProblem
from bot.services.news.schedule import FeedLocks, PollSchedule
from db.news import FeedRecord, NewsRepository, UnchangedFeed

log = logging.getLogger(__name__)


class Poller:
    """The scheduler job's body (`tick`) and `/news check`; at most `concurrency` fetches at a time."""

    def __init__(self, repo: NewsRepository, fetcher: Fetcher, parser: FeedParser, ingester: Ingester,
                 deliverer: Deliverer, notifier: Notifier, schedule: PollSchedule, locks: FeedLocks, *,
                 concurrency: int = 8, failure_notice_after: int = FAILURE_NOTICE_AFTER,
                 metrics: Metrics | None = None, observer: PollObserver | None = None) -> None:
        self.repo = repo
        self.fetcher = fetcher
        self.parser = parser
        self.ingester = ingester
        self.deliverer = deliverer
        self.notifier = notifier
        self.schedule = schedule
        self.locks = locks
        self.failure_notice_after = failure_notice_after
        self._fetch_slots = asyncio.Semaphore(concurrency)
        # Unchanged feeds polled but not yet recorded (their poll's batch is still running), by feed id: their
        # rows still look due, so a poll running at the same time checks here too and does not fetch them again.
        self._unrecorded: dict[int, UnchangedFeed] = {}
        self.metrics = metrics or Metrics()
        self.observer = observer  # news features: WebSub hub discovery, corrections (see models.PollObserver)

    async def tick(self) -> PollSummary:
        """Post what is pending (reconciling after a crash), poll due feeds, post."""
        summary = PollSummary()
        started = time.perf_counter()
        try:
            summary.posted += await self.deliverer.deliver_pending()
            read_at = self.locks.sequence
            due = await self.repo.due_feeds(self.schedule.now())
            await self._poll_feeds(due, read_at, summary, only_if_due=True)
            summary.posted += await self.deliverer.deliver_pending()
            await self.repo.prune_deliveries(self.schedule.now() - int(DEDUPE_WINDOW.total_seconds()) * 2)
        except Exception:
            log.exception("news poll tick failed")
        else:
            self.metrics.poll_completed(time.perf_counter() - started, self.schedule.clock())
        self.metrics.stories_posted.inc(summary.posted)
        return summary

    async def check_guild(self, guild_id: int) -> PollSummary:
        """/news check: poll this server's active feeds now, due or not, and post what they bring."""
        read_at = self.locks.sequence
        subscriptions = [s for s in await self.repo.subscriptions_of_guild(guild_id) if not s.subscription.paused]
        if not subscriptions:
            raise NewsError("news.check.no_feeds")
        summary = PollSummary()
        await self._poll_feeds([s.feed for s in subscriptions], read_at, summary, only_if_due=False)
        posted = await self.deliverer.deliver_pending()
        summary.posted += posted
        self.metrics.stories_posted.inc(posted)
        return summary

    async def _poll_feeds(self, feeds: Sequence[FeedRecord], read_at: int, summary: PollSummary, *,
                          only_if_due: bool) -> None:
        """Poll `feeds` (rows read after `read_at` = FeedLocks.sequence); then record the unchanged ones."""
        unchanged: list[UnchangedFeed] = []
        # Unchanged feeds are shown to the observer (WebSub's safety-net interval) once their batch is written, so
        # its own change of a feed's next poll is not undone by (nor undoes) the batched write.
        observe_later: list[FeedRecord] = []
        try:
            await asyncio.gather(*(self._poll_feed(feed, read_at, summary, unchanged, observe_later,
                                                   only_if_due=only_if_due) for feed in feeds))
        finally:
            try:
                await self.repo.record_unchanged(unchanged, now=self.schedule.now())
            finally:
                for record in unchanged:
                    if self._unrecorded.get(record.feed_id) is record:
                        del self._unrecorded[record.feed_id]
        if observe_later and self.observer is not None:
            try:
                await self.observer.unchanged(observe_later, self.schedule.now())
            except Exception:
                log.exception("after-poll hook failed for %d unchanged feeds", len(observe_later))

    async def _poll_feed(self, feed: FeedRecord, read_at: int, summary: PollSummary, unchanged: list[UnchangedFeed],
                         observe_later: list[FeedRecord], *, only_if_due: bool) -> None:
        try:
            async with self.locks(feed.id):
                # Re-checked under the lock: a concurrent poll may have just fetched this feed. Looked up before the
                # row is read again: that poll may record it and forget it here while the read is under way.
                unrecorded = self._unrecorded.get(feed.id)
                if self.locks.released_since(feed.id, read_at):
                    # Someone (a resume, a feed add, a check) held the feed since it was read: read it again.
                    fresh = await self.repo.get_feed(feed.id)
                    if fresh is None:
                        return
                    feed = fresh
                now = self.schedule.now()
                next_poll_at = feed.next_poll_at if unrecorded is None else unrecorded.next_poll_at
                if only_if_due and next_poll_at > now:
                    return
                summary.feeds += 1
                async with self._fetch_slots:
                    result = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
                    digest = body_hash(result.body) if result.status == "ok" else None  # hashed once per fetch
                    if result.status == "not_modified" or self._same_body(feed, result.status, digest):
                        self.metrics.feed_fetched("not_modified" if result.status == "not_modified" else "unchanged")
                        summary.not_modified += 1
                        await self._record_unchanged(feed, result, now, unchanged)
                        observe_later.append(feed)
                        return
                    parsed: ParsedFeed | FeedProblem
                    try:
                        parsed = await self.parser.parse(result)
                    except FeedProblem as problem:
                        parsed = problem
                if isinstance(parsed, FeedProblem):
                    self.metrics.feed_fetched("failed")
                    summary.failed += 1
                    summary.errors.append(f"{feed.url}: {parsed.text}")
                    await self._record_failure(feed, now, parsed.text)
                    return
                self.metrics.feed_fetched("ok")
                ingested = await self.ingester.ingest(feed, parsed, result, now, digest=digest)
                summary.new_entries += ingested.new
                summary.queued += ingested.queued
                await self._maybe_recovered(feed)
                await self._observe(feed, parsed, result, now, ingested.seen_before)
        except Exception:
            # One broken feed (or a bug its content triggers) never stops the others.
            log.exception("polling feed %s failed", feed.id)
            summary.failed += 1

    async def _observe(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int,
                       seen_before: frozenset[str] | None = None) -> None:
        if self.observer is None:
            return
        try:
            await self.observer.fetched(feed, parsed, result, now, seen_before)
        except Exception:
            log.exception("after-poll hook failed for feed %s", feed.id)

    @staticmethod
    def _same_body(feed: FeedRecord, status: str, digest: str | None) -> bool:
        """A full answer whose bytes (`digest`: their body_hash) are those of the last ingested fetch (a server
        ignoring conditional requests): nothing in it can be new, so it is not parsed again."""
        return (status == "ok" and feed.body_hash is not None and feed.last_success_at is not None
                and digest == feed.body_hash)

    async def _record_unchanged(self, feed: FeedRecord, result: FetchResult, now: int,
                                unchanged: list[UnchangedFeed]) -> None:
        not_modified = result.status == "not_modified"
        record = UnchangedFeed(
            feed.id, expected_next_poll_at=feed.next_poll_at, next_poll_at=self.schedule.after_success(now),
            # A 304 keeps the validators it was asked with unless it brings new ones; a full answer brings its own.
            etag=(result.etag or feed.etag) if not_modified else result.etag,
            last_modified=(result.last_modified or feed.last_modified) if not_modified else result.last_modified,
        )
        if feed.consecutive_failures == 0:
            unchanged.append(record)  # recorded with the poll's other unchanged feeds
            self._unrecorded[feed.id] = record
            return
        await self.repo.record_unchanged([record], now=now)
        await self._maybe_recovered(feed)

    async def _record_failure(self, feed: FeedRecord, now: int, error: str) -> None:
        failures = await self.repo.record_failure(
            feed.id, now=now, next_poll_at=self.schedule.after_failure(now, feed.consecutive_failures + 1),
            error=error,
        )
        log.info("feed %s failed (%d in a row): %s", feed.url, failures, error)
        if failures < self.failure_notice_after:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id) if not s.failure_notice_sent]
        notified = [s.id for s in subscriptions
                    if await self.notifier.notify(s.guild_id, "news.notice.failing", url=notice_url(feed.url),
                                                  failures=failures, error=error[:PROBLEM_LIMIT])]
        # A notice that could not be posted (no log channel yet, Discord error) is tried again at the next failure.
        await self.repo.set_failure_notice(notified, True)

    async def _maybe_recovered(self, feed: FeedRecord) -> None:
        if feed.consecutive_failures == 0:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id, include_paused=True)
                         if s.failure_notice_sent]
        for subscription in subscriptions:
            await self.notifier.notify(subscription.guild_id, "news.notice.recovered", url=notice_url(feed.url))
        await self.repo.set_failure_notice([s.id for s in subscriptions], False)  # best effort: cleared anyway
