"""Ingesting a fetch: new entries -> keyword match per subscribing server -> dedupe -> delivery intents, written
in the same transaction that marks the entries seen.

A feed's first successful fetch is its baseline: everything in it is marked seen and nothing is posted. Which
keywords apply to a subscription: its own includes if it has any, else the server-wide ones; exclusions of both
levels always apply (exclusions win).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.feed_entries import FeedEntry, ParsedFeed
from bot.domain.news_match import Keyword, KeywordError, KeywordSet, compile_keywords, normalize_text, parse_keyword
from bot.services.feed_fetch import FetchResult, body_hash
from bot.services.news.dedupe import delivery_for, unseen_stories
from bot.services.news.models import SEEN_RETENTION
from bot.services.news.schedule import PollSchedule
from db.news import FeedRecord, KeywordRecord, NewDelivery, NewsRepository, SubscriptionRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What ingesting a fetch did: entries new to the feed, deliveries queued, and the keys of the fetch's entries
    the feed had shown before (None for a baseline, where that was not read)."""

    new: int
    queued: int
    seen_before: frozenset[str] | None


class KeywordMatchers:
    """Compiled keywords per (server, subscription), cached until the server's keywords or feeds change; the
    server's stored keywords are read once for all its subscriptions."""

    def __init__(self, repo: NewsRepository) -> None:
        self.repo = repo
        self._cache: dict[tuple[int, int], KeywordSet] = {}
        self._records: dict[int, list[KeywordRecord]] = {}
        self._changes: dict[int, int] = {}  # forget() calls per server: what was read before one is not kept

    async def for_subscription(self, guild_id: int, subscription_id: int) -> KeywordSet:
        cache_key = (guild_id, subscription_id)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        changes = self._changes.get(guild_id, 0)
        records = self._records.get(guild_id)
        if records is None:
            records = await self.repo.keywords_of_guild(guild_id)
        parsed: list[tuple[bool, Keyword]] = []
        for record in records:
            if record.subscription_id not in (None, subscription_id):
                continue
            try:
                parsed.append((record.subscription_id is not None, parse_keyword(record.raw)))
            except KeywordError:
                log.warning("stored keyword %r of guild %s no longer parses; ignored", record.raw, guild_id)
        feed_includes = any(own and not k.is_exclusion for own, k in parsed)
        compiled = compile_keywords([k for own, k in parsed if k.is_exclusion or own == feed_includes])
        if self._changes.get(guild_id, 0) == changes:  # else the keywords changed while they were read
            self._records[guild_id] = records
            self._cache[cache_key] = compiled
        return compiled

    def forget(self, guild_id: int) -> None:
        """The server's keywords or subscriptions changed."""
        for key in [k for k in self._cache if k[0] == guild_id]:
            del self._cache[key]
        self._records.pop(guild_id, None)
        self._changes[guild_id] = self._changes.get(guild_id, 0) + 1


class Ingester:
    """Records full fetches. One feed at a time from the dedupe on: deciding deliveries reads the servers' recent
    stories and writes new ones, so two feeds carrying the same story could otherwise both miss each other. What
    only concerns the feed itself (which entries it showed before, its subscriptions, keyword matching) is done
    before, outside that lock, concurrently with other feeds' ingests: every caller holds the feed's own lock
    (FeedLocks), so nothing else changes the feed's seen entries meanwhile."""

    def __init__(self, repo: NewsRepository, schedule: PollSchedule, matchers: KeywordMatchers) -> None:
        self.repo = repo
        self.schedule = schedule
        self.matchers = matchers
        self._lock = asyncio.Lock()

    async def ingest(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int,
                     *, exclude_guild: int | None = None, digest: str | None = None) -> Ingested:
        """Mark the entries seen and queue deliveries for new ones. `exclude_guild`: a
        server for which this fetch is a baseline (it just followed or resumed the feed). `digest`: the body's
        body_hash when the caller has it already. The caller holds the feed's lock."""
        entries = list({e.key: e for e in parsed.entries}.values())
        keys = [e.key for e in entries]
        new: list[FeedEntry] = []
        matching: list[tuple[SubscriptionRecord, list[FeedEntry]]] = []
        seen_before: frozenset[str] | None = None
        if feed.last_success_at is not None:  # else this is the feed's baseline: nothing in it is new
            known, subscriptions = await self.repo.ingest_state(feed.id, keys)
            seen_before = frozenset(known)
            new = [e for e in entries if e.key not in known]
        if new:
            # Normalized once here, matched against each server's keywords.
            fields = [(normalize_text(e.title or ""), normalize_text(e.summary or "")) for e in new]
            for subscription in subscriptions:
                if subscription.guild_id != exclude_guild:
                    keywords = await self.matchers.for_subscription(subscription.guild_id, subscription.id)
                    matching.append((subscription, [e for e, f in zip(new, fields, strict=True)
                                                    if keywords.accepts(f)]))
        async with self._lock:
            queued = await self._ingest(feed, parsed, result, now, keys, new, matching,
                                        digest if digest is not None else body_hash(result.body))
        return Ingested(len(new), queued, seen_before)

    async def _ingest(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int, keys: list[str],
                      new: list[FeedEntry], matching: list[tuple[SubscriptionRecord, list[FeedEntry]]],
                      digest: str | None) -> int:
        """Under the ingest lock: dedupe per server against its recent stories, and write everything; returns the
        deliveries queued."""
        deliveries: list[NewDelivery] = []
        for subscription, entries in matching:
            deliveries.extend(await self._deliveries_for(subscription, feed, parsed.title, entries, now))
        queued = await self.repo.record_fetched(
            feed.id, now=now, next_poll_at=self.schedule.after_success(now), title=parsed.title,
            etag=result.etag, last_modified=result.last_modified, entry_keys=keys, new_item=bool(new),
            deliveries=deliveries, prune_seen_before=now - int(SEEN_RETENTION.total_seconds()),
            body_hash=digest,
        )
        return queued

    async def _deliveries_for(self, subscription: SubscriptionRecord, feed: FeedRecord, feed_title: str | None,
                              matching: Sequence[FeedEntry], now: int) -> list[NewDelivery]:
        fresh = await unseen_stories(self.repo, subscription.guild_id, matching, now)
        return [delivery_for(subscription, feed, feed_title, entry) for entry in fresh]
