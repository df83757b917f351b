"""Parsing fetched feeds off the event loop: in worker processes when there is a pool, else in threads.

Feed parsing (feedparser, pure Python) in threads competes with the event loop for the GIL (stalls of 60-130 ms
under load, and no parallelism), so the bot parses in a small process pool ("spawn": never fork a process that
runs threads). A pool that breaks (a worker died) is dropped for threads, with a log line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.domain.feed_entries import FeedParseError, ParsedFeed, parse_feed_bytes
from bot.services.feed_fetch import FetchResult

log = logging.getLogger(__name__)

PARSE_PROCESSES = min(2, os.cpu_count() or 1)
PROBLEM_LIMIT = 300  # characters of a fetch or parse problem kept (stored on the feed, shown to admins)


class FeedProblem(Exception):
    """A fetch that gave no usable feed; the text says why ("http_5xx: 503", "not_a_feed: ...")."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


WORKER_NICENESS = 10  # parsing yields the CPU to the bot's event loop (interactions, posting) when both want it


def _lower_priority() -> None:
    """Worker initializer: parsing is batch work; on a busy machine the event loop must not wait behind it."""
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # not on this platform, or not allowed: parse at normal priority
        pass


def new_parse_pool(workers: int = PARSE_PROCESSES) -> ProcessPoolExecutor | None:
    """Worker processes for parsing feeds (at a lower CPU priority), started on first use; None (threads) when
    workers is 0."""
    if workers <= 0:
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority)


def parse_slots(workers: int) -> int:
    """How many parses may be in flight at once: with worker processes two per worker, so each worker finds its
    next feed already queued in the pool when it finishes one (no idle gap while the event loop is busy elsewhere);
    with threads (0 workers) two, so the event loop still gets the GIL often."""
    return max(2, workers * 2)


class FeedParser:
    """Turns a fetch result into a ParsedFeed, a few at a time (`concurrency`), or raises FeedProblem."""

    def __init__(self, executor: Executor | None = None, *, concurrency: int = 2) -> None:
        # None: worker threads (asyncio.to_thread). A process pool takes parsing off the GIL altogether.
        self._executor = executor
        # Parsing is CPU-bound: few at a time, so the event loop still gets the GIL often.
        self._slots = asyncio.Semaphore(concurrency)
        self.parses = 0  # bodies handed to the parser so far (read by tests: unchanged bodies are not parsed)

    async def parse(self, result: FetchResult) -> ParsedFeed:
        """The feed of an "ok" fetch; FeedProblem for a failed fetch, a body that is no feed, or a feed the parser
        had to give up on (a problem and no entries)."""
        if result.status != "ok":
            detail = result.error_detail or ""
            raise FeedProblem(f"{result.error_code}{': ' + detail if detail else ''}")
        self.parses += 1
        try:
            async with self._slots:
                parse = functools.partial(parse_feed_bytes, result.body or b"", result.content_type,
                                          result.final_url or "")
                parsed = await self._run(parse)
        except FeedParseError as exc:  # not_a_feed, malformed, empty_body
            raise FeedProblem(f"{exc.code}: {exc.detail}"[:PROBLEM_LIMIT]) from None
        except Exception as exc:  # a parser bug: this feed fails, the others go on
            raise FeedProblem(f"malformed: {exc}"[:PROBLEM_LIMIT]) from None
        if parsed.problem and not parsed.entries:
            raise FeedProblem(parsed.problem[:PROBLEM_LIMIT])
        return parsed

    async def _run(self, parse: Callable[[], ParsedFeed]) -> ParsedFeed:
        if self._executor is not None:
            try:
                # submit() raises RuntimeError at once for a pool that was shut down or is broken
                return await asyncio.get_running_loop().run_in_executor(self._executor, parse)
            except BrokenProcessPool as exc:
                self._drop_executor(exc)
            except RuntimeError as exc:
                if "after shutdown" not in str(exc) and "broken" not in str(exc).lower():
                    raise
                self._drop_executor(exc)
        return await asyncio.to_thread(parse)

    def _drop_executor(self, reason: Exception) -> None:
        log.warning("feed parsing process pool unusable (%s); parsing in threads from now on", reason)
        self._executor = None

    def close(self) -> None:
        """Stop the parsing processes."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
