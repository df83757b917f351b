"""Commands' side of the news service: following feeds and presets, pausing, keywords, `/news test`."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.feed_entries import ParsedFeed, normalize_link
from bot.domain.feed_presets import news_presets
from bot.domain.news_match import Keyword, KeywordError, compile_keywords, match_entry, parse_keyword
from bot.services.feed_fetch import FeedUrlError, FetchResult, validate_feed_url
from bot.services.news.dedupe import delivery_for
from bot.services.news.ingest import Ingester, KeywordMatchers
from bot.services.news.models import (
    MAX_FEEDS_PER_GUILD,
    MAX_KEYWORDS_PER_SCOPE,
    AddFeedResult,
    FeedTestReport,
    Fetcher,
    NewsError,
    PollObserver,
    PresetResult,
    TestedEntry,
    _keyword_error,
    _keyword_kind,
    _keyword_text,
)
from bot.services.news.parsing import PROBLEM_LIMIT, FeedParser, FeedProblem
from bot.services.news.schedule import FeedLocks, PollSchedule
from db.news import KeywordRecord, NewsRepository, SubscriptionRecord, SubscriptionWithFeed
from db.news_features import UNCHANGED, Unchanged


class Subscriptions:
    """Feeds, presets and keywords of a server. Following or resuming a feed fetches it once, under the feed's
    lock, and ingests it as this server's baseline."""

    def __init__(self, repo: NewsRepository, fetcher: Fetcher, parser: FeedParser, ingester: Ingester,
                 matchers: KeywordMatchers, schedule: PollSchedule, locks: FeedLocks, *,
                 allow_private: bool = False, observer: PollObserver | None = None) -> None:
        self.repo = repo
        self.fetcher = fetcher
        self.parser = parser
        self.ingester = ingester
        self.matchers = matchers
        self.schedule = schedule
        self.locks = locks
        self.allow_private = allow_private
        self.observer = observer  # told of the fetch that follows a feed (WebSub hub discovery)

    async def _subscription_for(self, guild_id: int, subscription_id: int | None) -> SubscriptionRecord | None:
        if subscription_id is None:
            return None
        subscription = await self.repo.get_subscription(guild_id, subscription_id)
        if subscription is None:
            raise NewsError("news.feed.unknown")
        return subscription

    async def add_keyword(self, guild_id: int, raw: str, subscription_id: int | None = None) -> Keyword:
        try:
            keyword = parse_keyword(raw)
        except KeywordError as exc:
            raise _keyword_error(exc, raw) from None
        await self._subscription_for(guild_id, subscription_id)
        existing = [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id == subscription_id]
        if len(existing) >= MAX_KEYWORDS_PER_SCOPE:
            raise NewsError("news.keyword.too_many", limit=MAX_KEYWORDS_PER_SCOPE)
        stored = _keyword_text(keyword, raw)
        now = self.schedule.now()
        if not await self.repo.add_keyword(guild_id, subscription_id, stored, _keyword_kind(keyword), now):
            raise NewsError("news.keyword.exists", keyword=stored)
        self.matchers.forget(guild_id)
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
        self.matchers.forget(guild_id)

    async def list_keywords(self, guild_id: int, subscription_id: int | None = None) -> list[KeywordRecord]:
        await self._subscription_for(guild_id, subscription_id)
        return [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id == subscription_id]

    # -- subscriptions --------------------------------------------------------------------------------------------
    async def _fetch_once(self, url: str) -> tuple[ParsedFeed, FetchResult]:
        result = await self.fetcher.fetch(url)
        try:
            return await self.parser.parse(result), result
        except FeedProblem as problem:
            if problem.text.startswith("blocked_address"):
                raise NewsError("news.feed.blocked", url=url[:200]) from None
            raise NewsError("news.feed.unreachable", url=url[:200], reason=problem.text[:PROBLEM_LIMIT]) from None

    def feed_url(self, raw: str) -> str:
        """The normalized feed URL (one feed row per URL); NewsError when it is not an http(s) URL."""
        url = raw.strip()
        try:
            validate_feed_url(url, allow_private=self.allow_private)
        except FeedUrlError as exc:
            if exc.code == "blocked_address":
                raise NewsError("news.feed.blocked", url=url[:200]) from None
            raise NewsError("news.feed.bad_url", url=url[:200], reason=(exc.detail or "invalid")[:200]) from None
        return normalize_link(url)

    async def add_feed(self, guild_id: int, raw_url: str, *, created_by: int, channel_id: int | None = None,
                       keywords: Sequence[str] = (), post_newest: bool = False,
                       ping_role_id: int | Unchanged | None = UNCHANGED,
                       thread: bool | Unchanged | None = UNCHANGED) -> AddFeedResult:
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
        now = self.schedule.now()
        feed = await self.repo.ensure_feed(url, now=now, next_poll_at=self.schedule.after_success(now))
        async with self.locks(feed.id):
            feed = await self.repo.get_feed(feed.id) or feed
            # Entries other servers have not had yet are theirs; for this server they are backlog.
            ingested = await self.ingester.ingest(feed, parsed, result, now, exclude_guild=guild_id)
            subscription = await self.repo.create_subscription(guild_id, feed.id, channel_id=channel_id,
                                                               created_by=created_by, now=now)
            if subscription is None:
                raise NewsError("news.feed.already", url=url[:200])
            if self.observer is not None:
                await self.observer.fetched(feed, parsed, result, now, ingested.seen_before)
        for raw, keyword in parsed_keywords:
            await self.repo.add_keyword(guild_id, subscription.id, _keyword_text(keyword, raw),
                                        _keyword_kind(keyword), now)
        if not isinstance(ping_role_id, Unchanged) or not isinstance(thread, Unchanged):
            await self.repo.update_subscription(guild_id, subscription.id, ping_role_id=ping_role_id, thread=thread)
        self.matchers.forget(guild_id)
        queued = False
        if post_newest and parsed.entries:
            dated = [(e.published, e) for e in parsed.entries if e.published is not None]
            newest = max(dated, key=lambda pair: pair[0])[1] if dated else parsed.entries[-1]
            fresh = await self.repo.get_feed(feed.id) or feed
            queued = await self.repo.add_delivery(delivery_for(subscription, fresh, parsed.title, newest), now)
        return AddFeedResult(subscription, parsed.title, len(parsed.entries), queued)

    async def add_preset(self, guild_id: int, show_key: str, *, created_by: int,
                         channel_id: int | None = None) -> PresetResult:
        """Follow a show's preset feeds (Google News searches). Each is checked at its first poll, which is
        its baseline: nothing old is posted."""
        try:
            presets = news_presets(show_key)
        except KeyError:
            raise NewsError("news.preset.unknown", show=show_key[:60]) from None
        current = await self.repo.subscriptions_of_guild(guild_id)
        followed = {s.feed.url for s in current}
        added: list[str] = []
        already: list[str] = []
        now = self.schedule.now()
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
            for raw in preset.keywords:
                try:
                    keyword = parse_keyword(raw)
                except KeywordError:
                    continue
                await self.repo.add_keyword(guild_id, subscription.id, _keyword_text(keyword, raw),
                                            _keyword_kind(keyword), now)
            added.append(preset.label)
        self.matchers.forget(guild_id)
        return PresetResult(added, already)

    async def remove_feed(self, guild_id: int, subscription_id: int) -> None:
        if not await self.repo.delete_subscription(guild_id, subscription_id):
            raise NewsError("news.feed.unknown")
        self.matchers.forget(guild_id)

    async def set_paused(self, guild_id: int, subscription_id: int, paused: bool) -> None:
        """Pause or resume. Items that appear while a feed is paused are skipped (as the reply promises): a
        paused subscription gets no deliveries when others' polls find them, and resuming fetches the feed once
        and marks what it holds as seen for this server (like add), since nobody may have polled it meanwhile."""
        subscription = await self.repo.get_subscription(guild_id, subscription_id)
        if subscription is None:
            raise NewsError("news.feed.unknown")
        if not paused and subscription.paused:
            await self._rebaseline(subscription)
        elif not await self.repo.set_paused(guild_id, subscription_id, paused):
            raise NewsError("news.feed.unknown")

    async def _rebaseline(self, subscription: SubscriptionRecord) -> None:
        """Resume: a conditional fetch; entries it holds that nobody has seen are backlog for this server (other
        servers get their new items as from any poll). Unreachable feed: stays paused, the reason is told."""
        async with self.locks(subscription.feed_id):
            feed = await self.repo.get_feed(subscription.feed_id)
            if feed is not None and feed.last_success_at is not None:  # else its first poll is its baseline
                result = await self.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
                if result.status != "not_modified":
                    try:
                        parsed = await self.parser.parse(result)
                    except FeedProblem as problem:
                        raise NewsError("news.feed.resume_failed", url=feed.url[:200],
                                        reason=problem.text[:PROBLEM_LIMIT]) from None
                    await self.ingester.ingest(feed, parsed, result, self.schedule.now(),
                                               exclude_guild=subscription.guild_id)
            if not await self.repo.set_paused(subscription.guild_id, subscription.id, False):
                raise NewsError("news.feed.unknown")

    async def edit_feed(self, guild_id: int, subscription_id: int, *,
                        channel_id: int | Unchanged | None = UNCHANGED,
                        ping_role_id: int | Unchanged | None = UNCHANGED,
                        thread: bool | Unchanged | None = UNCHANGED,
                        keywords: Sequence[str] | None = None) -> SubscriptionWithFeed:
        """Change where and how a feed posts (`keywords`: replaces the feed's own keywords; [] clears them so the
        server-wide ones apply). Everything is checked before anything is written."""
        parsed_keywords = []
        for raw in keywords or ():
            try:
                parsed_keywords.append((raw, parse_keyword(raw)))
            except KeywordError as exc:
                raise _keyword_error(exc, raw) from None
        if len(parsed_keywords) > MAX_KEYWORDS_PER_SCOPE:
            raise NewsError("news.keyword.too_many", limit=MAX_KEYWORDS_PER_SCOPE)
        if not await self.repo.update_subscription(guild_id, subscription_id, channel_id=channel_id,
                                                   ping_role_id=ping_role_id, thread=thread):
            raise NewsError("news.feed.unknown")
        if keywords is not None:
            now = self.schedule.now()
            for record in await self.list_keywords(guild_id, subscription_id):
                await self.repo.remove_keyword(guild_id, subscription_id, record.raw)
            for raw, keyword in parsed_keywords:
                await self.repo.add_keyword(guild_id, subscription_id, _keyword_text(keyword, raw),
                                            _keyword_kind(keyword), now)
            self.matchers.forget(guild_id)
        found = [item for item in await self.repo.subscriptions_of_guild(guild_id)
                 if item.subscription.id == subscription_id]
        if not found:
            raise NewsError("news.feed.unknown")
        return found[0]

    async def list_feeds(self, guild_id: int) -> list[SubscriptionWithFeed]:
        return await self.repo.subscriptions_of_guild(guild_id)

    async def test_feed(self, guild_id: int, raw_url: str, *, limit: int = 10) -> FeedTestReport:
        """Fetch once and say what would be posted with the server-wide keywords; writes nothing."""
        parsed, _ = await self._fetch_once(self.feed_url(raw_url))
        records = [r for r in await self.repo.keywords_of_guild(guild_id) if r.subscription_id is None]
        keywords: list[Keyword] = []
        for record in records:
            try:
                keywords.append(parse_keyword(record.raw))
            except KeywordError:
                continue
        matching: list[TestedEntry] = []
        excluded = 0
        keyword_set = compile_keywords(keywords)
        for entry in parsed.entries:
            outcome = match_entry(keyword_set, entry.title, entry.summary or "")
            if outcome.matched:
                matching.append(TestedEntry(entry.title, entry.link, outcome.keyword))
            elif outcome.excluded_by:
                excluded += 1
        return FeedTestReport(parsed.title, len(parsed.entries), matching[-limit:][::-1], excluded, len(matching))
