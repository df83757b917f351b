"""Fetch + parse throughput of FeedFetcher and FeedParser (in threads) against the local feed server (no database,
no Discord).

    python -m benchmarks.bench_feeds_fetch [--feeds 500] [--items 50] [--concurrency 20]

Three rounds: first poll (everything new), all changed (one new item each), all unchanged (304). Prints wall
time, CPU time, entries per second, the longest event-loop stall and the process's peak RSS
(the feed server runs in the same process, so its CPU time is included). Figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

import aiohttp

from bot.services.feed_fetch import FeedFetcher
from bot.services.news.parsing import FeedParser, FeedProblem
from tests.feeds.builders import Item
from tests.feeds.server import FeedServer


async def _watch_stalls(stop: asyncio.Event, longest: list[float]) -> None:
    interval = 0.005
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(interval)
        longest[0] = max(longest[0], time.perf_counter() - before - interval)


async def _round(name: str, fetcher: FeedFetcher, urls: list[str], state: dict, concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    parser = FeedParser(concurrency=concurrency)
    entries = 0
    statuses: dict[str, int] = {}

    async def poll(url: str) -> None:
        nonlocal entries
        async with semaphore:
            etag, last_modified = state.get(url, (None, None))
            result = await fetcher.fetch(url, etag=etag, last_modified=last_modified)
            status = result.status
            if status == "ok":
                try:
                    feed = await parser.parse(result)
                except FeedProblem:
                    status = "error"
                else:
                    state[url] = (result.etag, result.last_modified)
                    entries += len(feed.entries)
        statuses[status] = statuses.get(status, 0) + 1

    stop, longest = asyncio.Event(), [0.0]
    watcher = asyncio.create_task(_watch_stalls(stop, longest))
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(poll(url) for url in urls))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stop.set()
    await watcher
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rate = entries / wall if wall else 0.0
    print(
        f"{name:<14} wall {wall:6.2f} s  cpu {cpu:6.2f} s  entries {entries:6d}  {rate:8.0f} entries/s  "
        f"max stall {longest[0] * 1000:6.1f} ms  peak RSS {peak:6.1f} MB  {statuses}"
    )


async def main(feeds: int, items: int, concurrency: int) -> None:
    server = FeedServer()
    await server.start()
    paths = [f"/feed/{n}.xml" for n in range(feeds)]
    for n, path in enumerate(paths):
        server.serve_items(
            path,
            [Item(f"Feed {n} story {i}", f"https://example.com/{n}/{i}", guid=f"{n}-{i}") for i in range(items)],
            title=f"Feed {n}",
        )
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            fetcher = FeedFetcher(session, user_agent="CodeBlueBench/1.0", allow_private=True)
            urls = [server.url(path) for path in paths]
            state: dict = {}
            print(f"{feeds} feeds x {items} items, concurrency {concurrency}")
            await _round("first poll", fetcher, urls, state, concurrency)
            for n, path in enumerate(paths):
                server.add_item(path, Item(f"Feed {n} new story", f"https://example.com/{n}/new", guid=f"{n}-new"))
            await _round("all changed", fetcher, urls, state, concurrency)
            await _round("all unchanged", fetcher, urls, state, concurrency)
    finally:
        await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.feeds, args.items, args.concurrency))
