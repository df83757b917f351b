"""NewsService: polling, dedupe, delivery and the commands' operations on one object, and its wiring."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from bot.services.feed_fetch import FeedFetcher
from bot.services.news.delivery import DeliveryMixin
from bot.services.news.models import (
    DEFAULT_INTERVAL,
    FAILURE_NOTICE_AFTER,
    FEED_USER_AGENT,
    MIN_INTERVAL,
    NewsPoster,
    SettingsLookup,
)
from bot.services.news.poller import PollingMixin
from bot.services.news.subscriptions import SubscriptionsMixin
from db.database import Database
from db.news import NewsRepository

# Feed parsing (feedparser, pure Python) runs in worker processes: in threads it competes with the event loop for
# the GIL (stalls of 60-130 ms under load, and no parallelism). "spawn": never fork a process that runs threads.
PARSE_PROCESSES = min(2, os.cpu_count() or 1)
FETCH_CONNECT_TIMEOUT = 10.0
FETCH_TOTAL_TIMEOUT = 30.0  # seconds for a whole fetch, redirects included (module-level so tests can shorten it)


class NewsService(PollingMixin, SubscriptionsMixin, DeliveryMixin):
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
        parse_executor: Executor | None = None,
        in_guild: Callable[[int], bool] | None = None,
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
        # None: worker threads (asyncio.to_thread). A process pool takes parsing off the GIL altogether.
        self._parse_executor = parse_executor
        # Whether the bot is still in a server (None: assume it is); stories for servers it left are not sent.
        self._in_guild = in_guild or (lambda _guild_id: True)
        self._feed_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._delivery_lock = asyncio.Lock()
        # Deciding deliveries reads the servers' recent stories and writes new ones: one feed at a time, or two
        # feeds carrying the same story could both miss each other (fetching and parsing stay concurrent).
        self._ingest_lock = asyncio.Lock()
        self._matchers: dict[tuple[int, int | None], Any] = {}
        self._last_check: dict[int, datetime] = {}
        # Deleted channels found while posting: their stories wait (no request) for a new news channel.
        self._gone_channels: set[int] = set()

    def close(self) -> None:
        """Stop the parsing processes (the cog calls this when it unloads)."""
        if self._parse_executor is not None:
            self._parse_executor.shutdown(wait=False, cancel_futures=True)
            self._parse_executor = None


def new_parse_pool(workers: int = PARSE_PROCESSES) -> ProcessPoolExecutor | None:
    """Worker processes for parsing feeds, started on first use; None (threads) when workers is 0."""
    if workers <= 0:
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def build_news_service(db: Database, session: Any, poster: NewsPoster, settings: SettingsLookup, *,
                       clock: Callable[[], datetime], allow_private: bool, user_agent: str = FEED_USER_AGENT,
                       interval: timedelta = DEFAULT_INTERVAL, parse_processes: int | None = None,
                       in_guild: Callable[[int], bool] | None = None) -> NewsService:
    """The service wired to its repository, a fetcher on the shared HTTP session and a parsing process pool
    (used by the cog; call `close()` when done)."""
    fetcher = FeedFetcher(session, user_agent=user_agent, allow_private=allow_private,
                          connect_timeout=FETCH_CONNECT_TIMEOUT, total_timeout=FETCH_TOTAL_TIMEOUT)
    workers = PARSE_PROCESSES if parse_processes is None else parse_processes
    return NewsService(NewsRepository(db), fetcher, poster, settings, clock=clock, interval=interval,
                       allow_private=allow_private, parse_executor=new_parse_pool(workers),
                       parse_concurrency=max(2, workers), in_guild=in_guild)
