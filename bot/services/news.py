"""News alerts: polling feeds, fanning new entries out to servers, dedupe, and crash-safe posting.

The service knows no Discord: the cog gives it a `NewsPoster` that renders and sends posts and notices.

Flow of one feed poll (each distinct URL is one `news_feeds` row, fetched once however many servers follow it):
fetch (conditional) -> parse off the event loop -> entries not in `news_seen_entries` are new -> per subscribing
server: keyword match (server-wide keywords, or the subscription's own, which replace them) -> cross-feed dedupe
per server (same normalized link, or a near-identical title within the window) -> delivery intents written in the
same transaction that marks the entries seen -> intents posted oldest first.

Crash safety: an intent row is written (with the whole story) before anything is sent, `attempted_at` is set just
before the send call, and the message id is recorded after it. A crash can therefore leave three situations:
- intent without `attempted_at`: never sent; it is simply posted on the next delivery run (nothing lost);
- intent with `attempted_at`: the send may or may not have reached Discord. Before resending we look for the story
  in the channel's recent messages (embed URL match since the attempt): found -> recorded as sent, absent -> sent.
  This costs one history read per such row, only after a crash, and avoids both a lost alert and a double post;
  the only remaining window is a message Discord accepted but that is not readable back (deleted meanwhile),
  which is then posted again: the unavoidable case;
- an HTTP error answer (5xx, 403...) means nothing was posted: `attempted_at` is cleared at once and the intent is
  retried (or given up after `MAX_ATTEMPTS`/a permanent error), so reconciliation is needed only after a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.domain.feed_entries import normalize_link, parse_feed_bytes, titles_near_identical
from bot.domain.feed_presets import news_presets
from bot.domain.news_match import KeywordError, compile_keywords, match_entry, parse_keyword
from bot.errors import UserFacingError
from bot.services.feed_fetch import FeedFetcher, validate_feed_url
from db.database import Database
from db.news import (
    DeliveryRecord,
    FeedRecord,
    KeywordRecord,
    NewDelivery,
    NewsRepository,
    SubscriptionRecord,
    SubscriptionWithFeed,
)

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=10)
MIN_INTERVAL = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=6)
JITTER_FRACTION = 0.1
FAILURE_NOTICE_AFTER = 3
DEDUPE_WINDOW = timedelta(hours=48)
FUZZY_TITLE_CANDIDATES = 100
SEEN_RETENTION = timedelta(days=30)
CHECK_COOLDOWN = timedelta(seconds=60)
MAX_ATTEMPTS = 5
MAX_FEEDS_PER_GUILD = 50
MAX_KEYWORDS_PER_SCOPE = 50
SUMMARY_LIMIT = 600
FEED_USER_AGENT = "CodeBlue/0.1 news alerts (Discord fan bot; +https://github.com/codeblue-bot/codeblue)"


KEYWORD_ERROR_CODES = frozenset({"empty", "too_long", "bad_regex", "regex_too_complex"})


class NewsError(UserFacingError):
    """Bad input or a refused news action; the key is a catalog message under `news.`."""


def _keyword_error(exc: KeywordError, raw: str) -> NewsError:
    code = getattr(exc, "code", "")
    key = f"news.keyword.error.{code}" if code in KEYWORD_ERROR_CODES else "news.keyword.error.other"
    return NewsError(key, keyword=raw[:100], detail=str(getattr(exc, "detail", "") or exc)[:200])


class PostError(Exception):
    """The poster could not post. `permanent`: retrying cannot help (no access, channel gone)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class NewsPost:
    """One story for one server, as the poster renders it."""

    delivery_id: int
    guild_id: int
    channel_id: int
    role_id: int | None
    title: str
    link: str | None
    summary: str
    source: str | None
    published: datetime | None
    thumbnail: str | None


class NewsPoster(Protocol):
    async def post(self, post: NewsPost) -> int:
        """Send the post; return the message id; raise PostError."""

    async def find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        """The id of a message posted since `since` that carries this story, if any (crash reconciliation)."""

    async def notify(self, guild_id: int, key: str, **params: object) -> None:
        """Tell the server's admins (log channel) the catalog message `key`."""


class SettingsLookup(Protocol):
    async def get(self, guild_id: int) -> Any: ...


@dataclass(slots=True)
class PollSummary:
    feeds: int = 0
    not_modified: int = 0
    failed: int = 0
    new_entries: int = 0
    queued: int = 0
    posted: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AddFeedResult:
    subscription: SubscriptionRecord
    title: str | None
    entries: int
    queued_newest: bool


@dataclass(frozen=True, slots=True)
class TestedEntry:
    title: str
    link: str | None
    keyword: str | None


@dataclass(frozen=True, slots=True)
class FeedTestReport:
    title: str | None
    entries: int
    matching: list[TestedEntry]
    excluded: int


@dataclass(frozen=True, slots=True)
class PresetResult:
    added: list[str]
    already: list[str]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _entry_payload(entry: Any, feed_title: str | None) -> str:
    published = getattr(entry, "published", None)
    return json.dumps(
        {
            "title": entry.title,
            "link": entry.link,
            "summary": entry.summary or "",
            "source": getattr(entry, "source", None) or feed_title,
            "published": published.isoformat() if published else None,
            "thumbnail": getattr(entry, "thumbnail", None),
        },
        ensure_ascii=False,
    )


class NewsService:
    def __init__(
        self,
        repo: NewsRepository,
        fetcher: Any,
        poster: NewsPoster,
        settings: SettingsLookup,
        *,
        clock: Callable[[], datetime],
        interval: timedelta = DEFAULT_INTERVAL,
        concurrency: int = 8,
        allow_private: bool = False,
        parse_concurrency: int = 2,
        failure_notice_after: int = FAILURE_NOTICE_AFTER,
        rng: random.Random | None = None,
    ) -> None:
        self.repo = repo
        self.fetcher = fetcher
        self.poster = poster
        self.settings = settings
        self.clock = clock
        self.interval = max(interval, MIN_INTERVAL)
        self.failure_notice_after = failure_notice_after
        self.allow_private = allow_private
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._fetch_slots = asyncio.Semaphore(concurrency)
        # Parsing is CPU-bound Python in worker threads: few at a time, so the event loop still gets the GIL often.
        self._parse_slots = asyncio.Semaphore(parse_concurrency)
        self._feed_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._delivery_lock = asyncio.Lock()
        # Deciding deliveries reads the servers' recent stories and writes new ones: one feed at a time, or two
        # feeds carrying the same story could both miss each other (fetching and parsing stay concurrent).
        self._ingest_lock = asyncio.Lock()
        self._matchers: dict[tuple[int, int | None], Any] = {}
        self._last_check: dict[int, datetime] = {}

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
                parsed = await asyncio.to_thread(parse_feed_bytes, result.body, result.content_type,
                                                 result.final_url or "")
        except Exception as exc:  # FeedParseError (not_a_feed, malformed, empty_body), or a parser bug
            code = getattr(exc, "code", "malformed")
            return None, f"{code}: {getattr(exc, 'detail', None) or exc}"[:300]
        problem = getattr(parsed, "error", None)
        if problem and not parsed.entries:
            return None, str(problem)[:300]
        return parsed, None

    async def _record_failure(self, feed: FeedRecord, now: int, error: str) -> None:
        failures = await self.repo.record_failure(
            feed.id, now=now, next_poll_at=self.next_poll_after_failure(now, feed.consecutive_failures + 1),
            error=error,
        )
        log.info("feed %s failed (%d in a row): %s", feed.url, failures, error)
        if failures < self.failure_notice_after:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id) if not s.failure_notice_sent]
        for subscription in subscriptions:
            await self._notify(subscription.guild_id, "news.notice.failing", url=feed.url, failures=failures,
                               error=error[:300])
        await self.repo.set_failure_notice([s.id for s in subscriptions], True)

    async def _maybe_recovered(self, feed: FeedRecord) -> None:
        if feed.consecutive_failures == 0:
            return
        subscriptions = [s for s in await self.repo.subscriptions_of_feed(feed.id, include_paused=True)
                         if s.failure_notice_sent]
        for subscription in subscriptions:
            await self._notify(subscription.guild_id, "news.notice.recovered", url=feed.url)
        await self.repo.set_failure_notice([s.id for s in subscriptions], False)

    async def _notify(self, guild_id: int, key: str, **params: object) -> None:
        try:
            await self.poster.notify(guild_id, key, **params)
        except Exception:
            log.warning("could not notify guild %s (%s)", guild_id, key, exc_info=True)

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
            for subscription in await self.repo.subscriptions_of_feed(feed.id):
                if subscription.guild_id != exclude_guild:
                    deliveries.extend(await self._deliveries_for(subscription, feed, parsed.title, new, now))
        queued = await self.repo.record_fetched(
            feed.id, now=now, next_poll_at=self.next_poll_after_success(now), title=parsed.title,
            etag=result.etag, last_modified=result.last_modified, entry_keys=[e.key for e in entries],
            new_item=bool(new), deliveries=deliveries, prune_seen_before=now - int(SEEN_RETENTION.total_seconds()),
        )
        return len(new), queued

    async def _deliveries_for(self, subscription: SubscriptionRecord, feed: FeedRecord, feed_title: str | None,
                              entries: Sequence[Any], now: int) -> list[NewDelivery]:
        keywords = await self._keywords_for(subscription.guild_id, subscription.id)
        recent = await self.repo.recent_delivery_titles(subscription.guild_id,
                                                        now - int(DEDUPE_WINDOW.total_seconds()))
        # Cross-feed dedupe: an equal title fingerprint anywhere in the window (a set lookup), or a near-identical
        # title among the latest FUZZY_TITLE_CANDIDATES stories (pairwise comparison, so bounded: a flood of
        # thousands of stories must not turn this into seconds of event-loop CPU).
        fingerprints = {fp for _, fp in recent if fp}
        titles = [title for title, _ in recent[:FUZZY_TITLE_CANDIDATES]]
        found = []
        for entry in entries:
            if not match_entry(keywords, entry.title, entry.summary or "").matched:
                continue
            fingerprint = getattr(entry, "title_fingerprint", "") or ""
            if (fingerprint and fingerprint in fingerprints) or any(
                titles_near_identical(entry.title, title) for title in titles
            ):
                continue
            fingerprints.add(fingerprint)
            titles.insert(0, entry.title)
            del titles[FUZZY_TITLE_CANDIDATES:]
            found.append(self._delivery(subscription, feed, feed_title, entry))
        return found

    @staticmethod
    def _delivery(subscription: SubscriptionRecord, feed: FeedRecord, feed_title: str | None,
                  entry: Any) -> NewDelivery:
        link = entry.link or None
        published = getattr(entry, "published", None)
        return NewDelivery(
            guild_id=subscription.guild_id,
            subscription_id=subscription.id,
            feed_id=feed.id,
            channel_id=subscription.channel_id,
            entry_key=entry.key,
            dedupe_key=f"link:{normalize_link(link)}" if link else f"entry:{feed.id}:{entry.key}",
            link=link,
            title=entry.title,
            title_fingerprint=getattr(entry, "title_fingerprint", "") or "",
            payload=_entry_payload(entry, feed_title or feed.title),
            published_at=_epoch(published) if published else None,
        )

    # -- keywords -------------------------------------------------------------------------------------------------
    async def _keywords_for(self, guild_id: int, subscription_id: int) -> Any:
        """Compiled keywords for a subscription: its own if it has any, else the server-wide ones (cached)."""
        cache_key = (guild_id, subscription_id)
        if cache_key not in self._matchers:
            records = await self.repo.keywords_of_guild(guild_id)
            own = [r for r in records if r.subscription_id == subscription_id]
            chosen = own or [r for r in records if r.subscription_id is None]
            compiled = []
            for record in chosen:
                try:
                    compiled.append(parse_keyword(record.raw))
                except KeywordError:
                    log.warning("stored keyword %r of guild %s no longer parses; ignored", record.raw, guild_id)
            self._matchers[cache_key] = compile_keywords(compiled)
        return self._matchers[cache_key]

    def _forget_keywords(self, guild_id: int) -> None:
        for key in [k for k in self._matchers if k[0] == guild_id]:
            del self._matchers[key]

    async def _subscription_for(self, guild_id: int, subscription_id: int | None) -> SubscriptionRecord | None:
        if subscription_id is None:
            return None
        subscription = await self.repo.get_subscription(guild_id, subscription_id)
        if subscription is None:
            raise NewsError("news.feed.unknown")
        return subscription

    async def add_keyword(self, guild_id: int, raw: str, subscription_id: int | None = None) -> Any:
        try:
            keyword = parse_keyword(raw)
        except KeywordError as exc:
            raise _keyword_error(exc, raw) from None
        await self._subscription_for(guild_id, subscription_id)
        existing = [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id == subscription_id]
        if len(existing) >= MAX_KEYWORDS_PER_SCOPE:
            raise NewsError("news.keyword.too_many", limit=MAX_KEYWORDS_PER_SCOPE)
        stored = _keyword_text(keyword, raw)
        if not await self.repo.add_keyword(guild_id, subscription_id, stored, _keyword_kind(keyword), self._now()):
            raise NewsError("news.keyword.exists", keyword=stored)
        self._forget_keywords(guild_id)
        return keyword

    async def remove_keyword(self, guild_id: int, raw: str, subscription_id: int | None = None) -> None:
        await self._subscription_for(guild_id, subscription_id)
        candidates = {raw.strip()}
        try:
            candidates.add(_keyword_text(parse_keyword(raw), raw))
        except KeywordError:
            pass
        removed = False
        for text in candidates:
            removed = await self.repo.remove_keyword(guild_id, subscription_id, text) or removed
        if not removed:
            raise NewsError("news.keyword.not_found", keyword=raw[:100])
        self._forget_keywords(guild_id)

    async def list_keywords(self, guild_id: int, subscription_id: int | None = None) -> list[KeywordRecord]:
        await self._subscription_for(guild_id, subscription_id)
        return [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id == subscription_id]

    # -- subscriptions --------------------------------------------------------------------------------------------
    async def _fetch_once(self, url: str) -> tuple[Any, Any]:
        result = await self.fetcher.fetch(url)
        parsed, error = await self._parse(result)
        if error is not None:
            if error.startswith("blocked_address"):
                raise NewsError("news.feed.blocked", url=url[:200])
            raise NewsError("news.feed.unreachable", url=url[:200], reason=error[:300])
        return parsed, result

    def feed_url(self, raw: str) -> str:
        """The normalized feed URL (one feed row per URL); NewsError when it is not an http(s) URL."""
        url = raw.strip()
        problem: object = None
        try:
            checked = validate_feed_url(url, allow_private=self.allow_private)
        except ValueError as exc:
            if getattr(exc, "code", None) == "blocked_address":
                raise NewsError("news.feed.blocked", url=url[:200]) from None
            problem = getattr(exc, "detail", None) or str(exc) or "invalid"
        else:
            # Accept the validator returning None/True (fine), a URL (fine), False or a problem text.
            if checked is False or (isinstance(checked, str) and not checked.startswith(("http://", "https://"))):
                problem = checked or "invalid"
        if problem:
            raise NewsError("news.feed.bad_url", url=url[:200], reason=str(problem)[:200])
        return normalize_link(url)

    async def add_feed(self, guild_id: int, raw_url: str, *, created_by: int, channel_id: int | None = None,
                       keywords: Sequence[str] = (), post_newest: bool = False) -> AddFeedResult:
        """Follow a feed: fetched once to check it is a feed; its current entries are marked seen."""
        url = self.feed_url(raw_url)
        parsed_keywords = []
        for raw in keywords:
            try:
                parsed_keywords.append((raw, parse_keyword(raw)))
            except KeywordError as exc:
                raise _keyword_error(exc, raw) from None
        current = await self.repo.subscriptions_of_guild(guild_id)
        if any(s.feed.url == url for s in current):
            raise NewsError("news.feed.already", url=url[:200])
        if len(current) >= MAX_FEEDS_PER_GUILD:
            raise NewsError("news.feed.too_many", limit=MAX_FEEDS_PER_GUILD)
        parsed, result = await self._fetch_once(url)
        now = self._now()
        feed = await self.repo.ensure_feed(url, now=now, next_poll_at=self.next_poll_after_success(now))
        async with self._feed_lock(feed.id):
            feed = await self.repo.get_feed(feed.id) or feed
            # Entries other servers have not had yet are theirs; for this server they are backlog.
            await self._ingest(feed, parsed, result, now, exclude_guild=guild_id)
            subscription = await self.repo.create_subscription(guild_id, feed.id, channel_id=channel_id,
                                                               created_by=created_by, now=now)
            if subscription is None:
                raise NewsError("news.feed.already", url=url[:200])
        for raw, keyword in parsed_keywords:
            await self.repo.add_keyword(guild_id, subscription.id, _keyword_text(keyword, raw),
                                        _keyword_kind(keyword), now)
        self._forget_keywords(guild_id)
        queued = False
        if post_newest and parsed.entries:
            dated = [e for e in parsed.entries if e.published is not None]
            newest = max(dated, key=lambda e: e.published) if dated else parsed.entries[-1]
            fresh = await self.repo.get_feed(feed.id) or feed
            queued = await self.repo.add_delivery(self._delivery(subscription, fresh, parsed.title, newest), now)
        return AddFeedResult(subscription, parsed.title, len(parsed.entries), queued)

    async def add_preset(self, guild_id: int, show_key: str, *, created_by: int,
                         channel_id: int | None = None) -> PresetResult:
        """Follow a show's preset feeds (Google News searches). Each is checked at its first poll, which is
        its baseline: nothing old is posted."""
        try:
            presets = news_presets(show_key)
        except KeyError:
            presets = []
        if not presets:
            raise NewsError("news.preset.unknown", show=show_key[:60])
        current = await self.repo.subscriptions_of_guild(guild_id)
        followed = {s.feed.url for s in current}
        added, already = [], []
        now = self._now()
        for preset in presets:
            url = normalize_link(preset.url)
            if url in followed:
                already.append(preset.label)
                continue
            if len(current) + len(added) >= MAX_FEEDS_PER_GUILD:
                raise NewsError("news.feed.too_many", limit=MAX_FEEDS_PER_GUILD)
            feed = await self.repo.ensure_feed(url, now=now, next_poll_at=now)
            subscription = await self.repo.create_subscription(guild_id, feed.id, channel_id=channel_id,
                                                               created_by=created_by, now=now)
            if subscription is None:
                already.append(preset.label)
                continue
            for raw in getattr(preset, "keywords", ()) or ():
                try:
                    keyword = parse_keyword(raw)
                except KeywordError:
                    continue
                await self.repo.add_keyword(guild_id, subscription.id, _keyword_text(keyword, raw),
                                            _keyword_kind(keyword), now)
            added.append(preset.label)
        self._forget_keywords(guild_id)
        return PresetResult(added, already)

    async def remove_feed(self, guild_id: int, subscription_id: int) -> None:
        if not await self.repo.delete_subscription(guild_id, subscription_id):
            raise NewsError("news.feed.unknown")
        self._forget_keywords(guild_id)

    async def set_paused(self, guild_id: int, subscription_id: int, paused: bool) -> None:
        if not await self.repo.set_paused(guild_id, subscription_id, paused):
            raise NewsError("news.feed.unknown")

    async def list_feeds(self, guild_id: int) -> list[SubscriptionWithFeed]:
        return await self.repo.subscriptions_of_guild(guild_id)

    async def test_feed(self, guild_id: int, raw_url: str, *, limit: int = 10) -> FeedTestReport:
        """Fetch once and say what would be posted with the server-wide keywords; writes nothing."""
        parsed, _ = await self._fetch_once(self.feed_url(raw_url))
        records = [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id is None]
        keywords = []
        for record in records:
            try:
                keywords.append(parse_keyword(record.raw))
            except KeywordError:
                continue
        matching, excluded = [], 0
        keyword_set = compile_keywords(keywords)
        for entry in parsed.entries:
            outcome = match_entry(keyword_set, entry.title, entry.summary or "")
            if outcome.matched:
                matching.append(TestedEntry(entry.title, entry.link, outcome.keyword))
            elif outcome.excluded_by:
                excluded += 1
        return FeedTestReport(parsed.title, len(parsed.entries), matching[-limit:][::-1], excluded)

    # -- delivery -------------------------------------------------------------------------------------------------
    async def deliver_pending(self) -> int:
        """Post every pending intent, oldest story first, one channel at a time each; returns posts made.

        A channel whose send fails for a reason that may pass (5xx, network) is left for the next run, its
        remaining stories kept in order.
        """
        async with self._delivery_lock:
            posted = 0
            resting: set[int | None] = set()
            settings_cache: dict[int, Any] = {}
            while True:
                by_channel: dict[int | None, list[tuple[DeliveryRecord, Any]]] = defaultdict(list)
                for delivery in await self.repo.pending_deliveries():
                    if delivery.guild_id not in settings_cache:
                        settings_cache[delivery.guild_id] = await self.settings.get(delivery.guild_id)
                    settings = settings_cache[delivery.guild_id]
                    channel_id = delivery.channel_id or settings.news_channel_id
                    if channel_id not in resting:
                        by_channel[channel_id].append((delivery, settings))
                if not by_channel:
                    return posted
                problems: dict[tuple[int, str], str] = {}
                results = await asyncio.gather(*(self._deliver_channel(channel_id, items, problems)
                                                 for channel_id, items in by_channel.items()))
                for channel_id, (count, rest) in zip(by_channel, results, strict=True):
                    posted += count
                    if rest:
                        resting.add(channel_id)
                for (guild_id, reason), channel in problems.items():
                    await self._notify(guild_id, "news.notice.post_failed", channel=channel, reason=reason)

    async def _deliver_channel(self, channel_id: int | None, items: list[tuple[DeliveryRecord, Any]],
                               problems: dict[tuple[int, str], str]) -> tuple[int, bool]:
        """Sequential sends to one channel (discord.py waits out 429s); returns (posted, channel must rest)."""
        posted = 0
        for delivery, settings in items:
            if channel_id is None:
                await self.repo.mark_failed(delivery.id, "no_channel")
                problems[(delivery.guild_id, "no_channel")] = "-"
                continue
            outcome = await self._deliver_one(delivery, channel_id, settings.news_ping_role_id)
            if outcome == "sent":
                posted += 1
            elif outcome.startswith("failed:"):
                problems[(delivery.guild_id, outcome.removeprefix("failed:"))] = f"<#{channel_id}>"
            elif outcome == "retry":
                return posted, True
        return posted, False

    async def _deliver_one(self, delivery: DeliveryRecord, channel_id: int, role_id: int | None) -> str:
        now = self._now()
        if delivery.attempted_at is not None:
            # A previous process began this send and died before recording the result (see the module docstring).
            try:
                found = await self.poster.find_posted(channel_id, delivery.link, delivery.title,
                                                      _from_epoch(delivery.attempted_at - 60))  # type: ignore[arg-type]
            except Exception:
                log.warning("could not check channel %s for delivery %s", channel_id, delivery.id, exc_info=True)
                found = None
            if found is not None:
                await self.repo.mark_sent(delivery.id, found, now)
                return "reconciled"
        if delivery.attempts >= MAX_ATTEMPTS:
            await self.repo.mark_failed(delivery.id, "too_many_attempts")
            return "failed"
        post = self._post(delivery, channel_id, role_id)
        await self.repo.mark_attempt(delivery.id, now)
        try:
            message_id = await self.poster.post(post)
        except PostError as exc:
            if exc.permanent:
                await self.repo.mark_failed(delivery.id, exc.reason)
                return f"failed:{exc.reason}"
            await self.repo.mark_not_sent(delivery.id, exc.reason)
            return "retry"
        await self.repo.mark_sent(delivery.id, message_id, self._now())
        return "sent"

    @staticmethod
    def _post(delivery: DeliveryRecord, channel_id: int, role_id: int | None) -> NewsPost:
        data = json.loads(delivery.payload)
        published = datetime.fromisoformat(data["published"]) if data.get("published") else None
        return NewsPost(
            delivery_id=delivery.id,
            guild_id=delivery.guild_id,
            channel_id=channel_id,
            role_id=role_id,
            title=data.get("title") or delivery.title,
            link=data.get("link"),
            summary=data.get("summary") or "",
            source=data.get("source"),
            published=published,
            thumbnail=data.get("thumbnail"),
        )


def _keyword_kind(keyword: Any) -> str:
    kind = getattr(keyword, "kind", "include")
    return str(getattr(kind, "value", kind))


def _keyword_text(keyword: Any, raw: str) -> str:
    """The canonical stored form of a keyword (so `remove` finds what `add` stored)."""
    return str(getattr(keyword, "raw", None) or raw).strip()


def build_news_service(db: Database, session: Any, poster: NewsPoster, settings: SettingsLookup, *,
                       clock: Callable[[], datetime], allow_private: bool, user_agent: str = FEED_USER_AGENT,
                       interval: timedelta = DEFAULT_INTERVAL) -> NewsService:
    """The service wired to its repository and a fetcher on the shared HTTP session (used by the cog)."""
    fetcher = FeedFetcher(session, user_agent=user_agent, allow_private=allow_private)
    return NewsService(NewsRepository(db), fetcher, poster, settings, clock=clock, interval=interval,
                       allow_private=allow_private)
