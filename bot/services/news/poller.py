"""Polling: the schedule (interval, jitter, backoff), fetching each due URL once, failure notices, and ingesting
a fetch (new entries -> keyword match per subscribing server -> dedupe -> delivery intents, in one transaction).

Flow of one feed poll (each distinct URL is one `news_feeds` row, fetched once however many servers follow it):
fetch (conditional) -> parse off the event loop (a few at a time) -> entries not in `news_seen_entries` are new ->
per subscribing server: keyword match (the subscription's own includes replace the server-wide ones; exclusions
of both apply) ->
cross-feed dedupe per server (bot.services.news.dedupe) -> delivery intents written in the same transaction that
marks the entries seen -> intents posted oldest first (bot.services.news.delivery).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import Any

from bot.domain.feed_entries import parse_feed_bytes
from bot.domain.news_match import KeywordError, compile_keywords, normalize_text, parse_keyword
from bot.services.news.dedupe import DEDUPE_WINDOW, delivery_for, unseen_stories
from bot.services.news.models import (
    CHECK_COOLDOWN,
    JITTER_FRACTION,
    MAX_BACKOFF,
    SEEN_RETENTION,
    NewsError,
    PollSummary,
    _epoch,
)
from db.news import FeedRecord, NewDelivery, SubscriptionRecord

log = logging.getLogger(__name__)


NOTICE_URL_LIMIT = 200


def notice_url(url: str) -> str:
    """A feed URL as shown in an admin notice: cut, so a 2,048-character URL cannot push it past 2,000."""
    return url if len(url) <= NOTICE_URL_LIMIT else url[: NOTICE_URL_LIMIT - 1] + "…"


class PollingMixin:
    """The polling half of NewsService (state is set up in NewsService.__init__)."""

    # -- time and schedule ----------------------------------------------------------------------------------------
    def _now(self) -> int:
        return _epoch(self.clock())

    def _jittered(self, delay: timedelta) -> int:
        spread = delay.total_seconds() * JITTER_FRACTION
        return int(delay.total_seconds() + self._rng.uniform(-spread, spread))

    def next_poll_after_success(self, now: int) -> int:
        return now + self._jittered(self.interval)

    def next_poll_after_failure(self, now: int, failures: int) -> int:
        """Exponential backoff per feed: interval x 2^failures, at most MAX_BACKOFF."""
        delay = min(self.interval * (2 ** min(failures, 12)), MAX_BACKOFF)
        return now + self._jittered(delay)

    def _feed_lock(self, feed_id: int) -> asyncio.Lock:
        lock = self._feed_locks.get(feed_id)
        if lock is None:
            lock = asyncio.Lock()
            self._feed_locks[feed_id] = lock
        return lock

    # -- polling --------------------------------------------------------------------------------------------------
    async def tick(self) -> PollSummary:
        """The scheduler job's body: post what is pending (reconciling after a crash), poll due feeds, post."""
        summary = PollSummary()
        try:
            summary.posted += await self.deliver_pending()
            due = await self.repo.due_feeds(self._now())
            await self._poll_feeds([f.id for f in due], summary, only_if_due=True)
            summary.posted += await self.deliver_pending()
            await self.repo.prune_deliveries(self._now() - int(DEDUPE_WINDOW.total_seconds()) * 2)
        except Exception:
            log.exception("news poll tick failed")
        return summary

    async def check_guild(self, guild_id: int) -> PollSummary:
        """/news check: poll this server's feeds now, at most once per CHECK_COOLDOWN."""
        now = self.clock()
        last = self._last_check.get(guild_id)
        if last is not None and now - last < CHECK_COOLDOWN:
            wait = int((CHECK_COOLDOWN - (now - last)).total_seconds()) + 1
            raise NewsError("news.check.cooldown", seconds=wait)
        subscriptions = [s for s in await self.repo.subscriptions_of_guild(guild_id) if not s.subscription.paused]
        if not subscriptions:
            raise NewsError("news.check.no_feeds")
        self._last_check[guild_id] = now
        summary = PollSummary()
        await self._poll_feeds([s.feed.id for s in subscriptions], summary, only_if_due=False)
        summary.posted += await self.deliver_pending()
        return summary

    async def _poll_feeds(self, feed_ids: Sequence[int], summary: PollSummary, *, only_if_due: bool) -> None:
        await asyncio.gather(*(self._poll_feed(feed_id, summary, only_if_due=only_if_due) for feed_id in feed_ids))

    async def _poll_feed(self, feed_id: int, summary: PollSummary, *, only_if_due: bool) -> None:
        try:
            async with self._feed_lock(feed_id):
                feed = await self.repo.get_feed(feed_id)
                now = self._now()
                # Re-checked under the lock: a concurrent poll may have just fetched this feed.
                if feed is None or (only_if_due and feed.next_poll_at > now):
                    return
                summary.feeds += 1
                async with self._fetch_slots:
                    result = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
                    if result.status == "not_modified":
                        summary.not_modified += 1
                        await self.repo.record_not_modified(feed.id, now=now,
                                                            next_poll_at=self.next_poll_after_success(now))
                        await self._maybe_recovered(feed)
                        return
                    parsed, error = await self._parse(result)
                if error is not None:
                    summary.failed += 1
                    summary.errors.append(f"{feed.url}: {error}")
                    await self._record_failure(feed, now, error)
                    return
                new, queued = await self._ingest(feed, parsed, result, now)
                summary.new_entries += new
                summary.queued += queued
                await self._maybe_recovered(feed)
        except Exception:
            # One broken feed (or a bug its content triggers) never stops the others.
            log.exception("polling feed %s failed", feed_id)
            summary.failed += 1

    async def _parse(self, result: Any) -> tuple[Any, str | None]:
        """(parsed feed, None) or (None, error text) for a fetch result."""
        if result.status != "ok":
            detail = result.error_detail or ""
            return None, f"{result.error_code}{': ' + detail if detail else ''}"
        try:
            async with self._parse_slots:
                parse = functools.partial(parse_feed_bytes, result.body, result.content_type, result.final_url or "")
                parsed = await self._run_parse(parse)
        except Exception as exc:  # FeedParseError (not_a_feed, malformed, empty_body), or a parser bug
            code = getattr(exc, "code", "malformed")
            return None, f"{code}: {getattr(exc, 'detail', None) or exc}"[:300]
        problem = getattr(parsed, "error", None)
        if problem and not parsed.entries:
            return None, str(problem)[:300]
        return parsed, None

    async def _run_parse(self, parse: Callable[[], Any]) -> Any:
        """Run a parse in the process pool when there is one (off the GIL: no event-loop stalls, real parallelism),
        else in a worker thread. A broken pool (a worker died) is dropped for threads, with a log line."""
        if self._parse_executor is not None:
            try:
                # submit() raises RuntimeError at once for a pool that was shut down or is broken
                return await asyncio.get_running_loop().run_in_executor(self._parse_executor, parse)
            except BrokenProcessPool as exc:
                self._drop_parse_executor(exc)
            except RuntimeError as exc:
                if "after shutdown" not in str(exc) and "broken" not in str(exc).lower():
                    raise
                self._drop_parse_executor(exc)
        return await asyncio.to_thread(parse)

    def _drop_parse_executor(self, reason: Exception) -> None:
        log.warning("feed parsing process pool unusable (%s); parsing in threads from now on", reason)
        self._parse_executor = None

    async def _record_failure(self, feed: FeedRecord, now: int, error: str) -> None:
        failures = await self.repo.record_failure(
            feed.id, now=now, next_poll_at=self.next_poll_after_failure(now, feed.consecutive_failures + 1),
            error=error,
        )
        log.info("feed %s failed (%d in a row): %s", feed.url, failures, error)
        if failures < self.failure_notice_after:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id) if not s.failure_notice_sent]
        notified = [s.id for s in subscriptions
                    if await self._notify(s.guild_id, "news.notice.failing", url=notice_url(feed.url),
                                          failures=failures, error=error[:300])]
        # A notice that could not be posted (no log channel yet, Discord error) is tried again at the next failure.
        await self.repo.set_failure_notice(notified, True)

    async def _maybe_recovered(self, feed: FeedRecord) -> None:
        if feed.consecutive_failures == 0:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id, include_paused=True)
                         if s.failure_notice_sent]
        for subscription in subscriptions:
            await self._notify(subscription.guild_id, "news.notice.recovered", url=notice_url(feed.url))
        await self.repo.set_failure_notice([s.id for s in subscriptions], False)  # best effort: cleared anyway

    async def _notify(self, guild_id: int, key: str, **params: object) -> bool:
        """Tell the server's admins; True only when the notice was posted."""
        try:
            return bool(await self.poster.notify(guild_id, key, **params))
        except Exception:
            log.warning("could not notify guild %s (%s)", guild_id, key, exc_info=True)
            return False

    async def _ingest(self, feed: FeedRecord, parsed: Any, result: Any, now: int,
                      *, exclude_guild: int | None = None) -> tuple[int, int]:
        """Record a full fetch: mark entries seen and queue deliveries for new ones; (new entries, queued).

        A feed's first successful fetch is its baseline: everything in it is marked seen and nothing is posted.
        """
        async with self._ingest_lock:
            return await self._ingest_locked(feed, parsed, result, now, exclude_guild=exclude_guild)

    async def _ingest_locked(self, feed: FeedRecord, parsed: Any, result: Any, now: int,
                             *, exclude_guild: int | None) -> tuple[int, int]:
        entries = list({e.key: e for e in parsed.entries}.values())
        known = await self.repo.known_entry_keys(feed.id, [e.key for e in entries])
        baseline = feed.last_success_at is None
        new = [] if baseline else [e for e in entries if e.key not in known]
        deliveries: list[NewDelivery] = []
        if new:
            subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id) if s.guild_id != exclude_guild]
            # Normalized once here, matched against each server's keywords below.
            fields = [(normalize_text(e.title or ""), normalize_text(e.summary or "")) for e in new]
            for subscription in subscriptions:
                deliveries.extend(await self._deliveries_for(subscription, feed, parsed.title, new, fields, now))
        queued = await self.repo.record_fetched(
            feed.id, now=now, next_poll_at=self.next_poll_after_success(now), title=parsed.title,
            etag=result.etag, last_modified=result.last_modified, entry_keys=[e.key for e in entries],
            new_item=bool(new), deliveries=deliveries, prune_seen_before=now - int(SEEN_RETENTION.total_seconds()),
        )
        return len(new), queued

    async def _deliveries_for(self, subscription: SubscriptionRecord, feed: FeedRecord, feed_title: str | None,
                              entries: Sequence[Any], fields: Sequence[tuple[str, str]],
                              now: int) -> list[NewDelivery]:
        keywords = await self._keywords_for(subscription.guild_id, subscription.id)
        matching = [e for e, f in zip(entries, fields, strict=True) if keywords.match_normalized(f).matched]
        fresh = await unseen_stories(self.repo, subscription.guild_id, matching, now)
        return [delivery_for(subscription, feed, feed_title, entry) for entry in fresh]

    # -- keywords -------------------------------------------------------------------------------------------------
    async def _keywords_for(self, guild_id: int, subscription_id: int) -> Any:
        """Compiled keywords for a subscription (cached): its own includes if it has any, else the server-wide
        ones; exclusions of both levels always apply (exclusions win)."""
        cache_key = (guild_id, subscription_id)
        if cache_key not in self._matchers:
            parsed = []
            for record in await self.repo.keywords_of_guild(guild_id):
                if record.subscription_id not in (None, subscription_id):
                    continue
                try:
                    parsed.append((record.subscription_id is not None, parse_keyword(record.raw)))
                except KeywordError:
                    log.warning("stored keyword %r of guild %s no longer parses; ignored", record.raw, guild_id)
            feed_includes = any(own and not k.is_exclusion for own, k in parsed)
            chosen = [k for own, k in parsed if k.is_exclusion or own == feed_includes]
            self._matchers[cache_key] = compile_keywords(chosen)
        return self._matchers[cache_key]

    def _forget_keywords(self, guild_id: int) -> None:
        for key in [k for k in self._matchers if k[0] == guild_id]:
            del self._matchers[key]
