"""NewsService: the news parts wired together, and the one object the cog and the tests talk to.

Each part owns its state and gets its collaborators here: `Subscriptions` (the commands), `Poller` (the scheduler
job and `/news check`), `Deliverer` (crash-safe posting through the `NewsPoster` the cog implements), and what
they share: the `Ingester`, the `FeedParser`, the keyword cache, the poll schedule and the per-feed locks.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.domain.feed_entries import ParsedFeed
from bot.domain.news_match import Keyword
from bot.metrics import Metrics
from bot.services.feed_fetch import FeedFetcher, FetchResult
from bot.services.news.alert_threads import AlertThreads
from bot.services.news.corrections import Corrections
from bot.services.news.delivery import Deliverer
from bot.services.news.ingest import Ingester, KeywordMatchers
from bot.services.news.models import (
    DEFAULT_INTERVAL,
    FAILURE_NOTICE_AFTER,
    FEED_USER_AGENT,
    AddFeedResult,
    FeedTestReport,
    Fetcher,
    NewsPoster,
    PollSummary,
    PresetResult,
    SettingsLookup,
)
from bot.services.news.notices import Notifier
from bot.services.news.parsing import PARSE_PROCESSES, FeedParser, new_parse_pool, parse_slots
from bot.services.news.poller import Poller
from bot.services.news.schedule import FeedLocks, PollSchedule
from bot.services.news.subscriptions import Subscriptions
from bot.services.news.websub import WebSub
from bot.services.news.why import Explainer, WhyReport
from db.database import Database
from db.news import FeedRecord, KeywordRecord, NewsRepository, SubscriptionWithFeed
from db.news_features import SubscriptionOptions

log = logging.getLogger(__name__)

FETCH_CONNECT_TIMEOUT = 10.0
FETCH_TOTAL_TIMEOUT = 30.0  # seconds for a whole fetch, redirects included (module-level so tests can shorten it)


class NewsService:
    def __init__(
        self,
        repo: NewsRepository,
        fetcher: Fetcher,
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
        parse_executor: Executor | None = None,
        in_guild: Callable[[int], bool] | None = None,
        metrics: Metrics | None = None,
        session: aiohttp.ClientSession | None = None,
        public_url: str | None = None,
    ) -> None:
        self.repo = repo
        schedule = PollSchedule(clock, interval=interval, rng=rng)
        locks = FeedLocks()
        matchers = KeywordMatchers(repo)
        notifier = Notifier(poster)
        self.parser = FeedParser(parse_executor, concurrency=parse_concurrency)
        ingester = Ingester(repo, schedule, matchers)
        # The Deliverer posts through AlertThreads, which opens (and retries) each alert's discussion thread.
        self.alert_threads = AlertThreads(repo, poster, notifier, schedule)
        self.deliverer = Deliverer(repo, self.alert_threads, settings, notifier, schedule, in_guild=in_guild)
        self.corrections = Corrections(repo, poster)
        # WebSub needs the shared HTTP session and a public URL the hub can reach; without them it stays off.
        self.websub = WebSub(repo, session, schedule, locks, self.parser, ingester, self.corrections,
                             public_url=public_url, allow_private=allow_private)
        self.explainer = Explainer(repo, fetcher, self.parser, matchers, schedule)
        after_poll = _AfterPoll(self.websub, self.corrections)
        self.poller = Poller(repo, fetcher, self.parser, ingester, self.deliverer, notifier, schedule, locks,
                             concurrency=concurrency, failure_notice_after=failure_notice_after, metrics=metrics,
                             observer=after_poll)
        self.subscriptions = Subscriptions(repo, fetcher, self.parser, ingester, matchers, schedule, locks,
                                           allow_private=allow_private, observer=after_poll)

    def close(self) -> None:
        """Stop the parsing processes (the cog calls this when it unloads)."""
        self.parser.close()

    # -- the scheduler job, /news check and posting ---------------------------------------------------------------
    async def tick(self) -> PollSummary:
        summary = await self.poller.tick()
        await self._upkeep()
        return summary

    async def check_guild(self, guild_id: int) -> PollSummary:
        summary = await self.poller.check_guild(guild_id)
        await self._upkeep()
        return summary

    async def _upkeep(self) -> None:
        """After a poll: edit corrected stories, retry alert threads, renew / retry / end WebSub subscriptions."""
        for step in (self.corrections.edit_pending, self.alert_threads.retry_due, self.websub.maintain):
            try:
                await step()
            except Exception:
                log.exception("news upkeep step %s failed", step.__qualname__)

    async def after_push(self) -> None:
        """A WebSub push was ingested: post what it queued and edit what it corrected."""
        await self.deliverer.deliver_pending()
        await self.corrections.edit_pending()

    async def why(self, guild_id: int, query: str) -> WhyReport:
        return await self.explainer.explain(guild_id, query)

    async def edit_feed(self, guild_id: int, subscription_id: int, **changes: Any) -> SubscriptionWithFeed:
        return await self.subscriptions.edit_feed(guild_id, subscription_id, **changes)

    async def subscription_options(self, subscription_ids: Sequence[int]) -> dict[int, SubscriptionOptions]:
        return await self.repo.subscription_options(subscription_ids)

    async def deliver_pending(self) -> int:
        return await self.deliverer.deliver_pending()

    async def leave_guild(self, guild_id: int) -> None:
        await self.deliverer.leave_guild(guild_id)

    # -- the commands ---------------------------------------------------------------------------------------------
    async def add_feed(self, guild_id: int, raw_url: str, *, created_by: int, channel_id: int | None = None,
                       keywords: Sequence[str] = (), post_newest: bool = False, **options: Any) -> AddFeedResult:
        return await self.subscriptions.add_feed(guild_id, raw_url, created_by=created_by, channel_id=channel_id,
                                                 keywords=keywords, post_newest=post_newest, **options)

    async def add_preset(self, guild_id: int, show_key: str, *, created_by: int,
                         channel_id: int | None = None) -> PresetResult:
        return await self.subscriptions.add_preset(guild_id, show_key, created_by=created_by, channel_id=channel_id)

    async def remove_feed(self, guild_id: int, subscription_id: int) -> None:
        await self.subscriptions.remove_feed(guild_id, subscription_id)

    async def set_paused(self, guild_id: int, subscription_id: int, paused: bool) -> None:
        await self.subscriptions.set_paused(guild_id, subscription_id, paused)

    async def list_feeds(self, guild_id: int) -> list[SubscriptionWithFeed]:
        return await self.subscriptions.list_feeds(guild_id)

    async def test_feed(self, guild_id: int, raw_url: str, *, limit: int = 10) -> FeedTestReport:
        return await self.subscriptions.test_feed(guild_id, raw_url, limit=limit)

    async def add_keyword(self, guild_id: int, raw: str, subscription_id: int | None = None) -> Keyword:
        return await self.subscriptions.add_keyword(guild_id, raw, subscription_id)

    async def remove_keyword(self, guild_id: int, raw: str, subscription_id: int | None = None) -> None:
        await self.subscriptions.remove_keyword(guild_id, raw, subscription_id)

    async def list_keywords(self, guild_id: int, subscription_id: int | None = None) -> list[KeywordRecord]:
        return await self.subscriptions.list_keywords(guild_id, subscription_id)


class _AfterPoll:
    """The poller's observer: WebSub hub discovery and the safety-net interval, then corrections."""

    def __init__(self, websub: WebSub, corrections: Corrections) -> None:
        self.websub = websub
        self.corrections = corrections

    async def fetched(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int,
                      seen_before: frozenset[str] | None = None) -> None:
        await self.corrections.check(feed, parsed, seen_before)
        await self.websub.fetched(feed, parsed, result, now)

    async def unchanged(self, feeds: Sequence[FeedRecord], now: int) -> None:
        await self.websub.unchanged(feeds, now)


def build_news_service(db: Database, session: aiohttp.ClientSession, poster: NewsPoster, settings: SettingsLookup,
                       *, clock: Callable[[], datetime], allow_private: bool, user_agent: str = FEED_USER_AGENT,
                       interval: timedelta = DEFAULT_INTERVAL, parse_processes: int | None = None,
                       in_guild: Callable[[int], bool] | None = None, metrics: Metrics | None = None,
                       public_url: str | None = None) -> NewsService:
    """The service wired to its repository, a fetcher on the shared HTTP session and a parsing process pool
    (used by the cog; call `close()` when done)."""
    fetcher = FeedFetcher(session, user_agent=user_agent, allow_private=allow_private,
                          connect_timeout=FETCH_CONNECT_TIMEOUT, total_timeout=FETCH_TOTAL_TIMEOUT)
    workers = PARSE_PROCESSES if parse_processes is None else parse_processes
    return NewsService(NewsRepository(db), fetcher, poster, settings, clock=clock, interval=interval,
                       allow_private=allow_private, parse_executor=new_parse_pool(workers),
                       parse_concurrency=parse_slots(workers), in_guild=in_guild, metrics=metrics, session=session,
                       public_url=public_url)
