"""Benchmark: the real news service polling 500 feeds of 50 items from a local server, next to the floor.

Phases:
1. first poll (every feed's baseline: parsed, all entries marked seen, nothing posted),
2. all changed (every feed has 50 new items; about 10 % match the keywords and are "posted" to a recorder),
3. all unchanged (conditional requests: every feed answers 304, nothing parsed).
Phases 2 and 3 are repeated `--rounds` times (the feeds change again before each round); medians are printed, the
ratio as the median of the rounds' own ratios (each round's floor is measured just before it).

The floor, measured in the same run just before each phase against the same server state: the same feeds fetched
with a plain aiohttp session (same fetch concurrency) and, for full bodies, `feedparser.parse(body)` (the library's
default call, returning only the entry count) run in the same worker processes the service parses in; nothing else
(no database, no matching, no dedupe). For the all-unchanged phase the floor is the conditional GETs alone.

Prints wall time, the floor and their ratio, CPU time of this process (all its threads: event loop, database,
process-pool I/O) and of the event loop's thread alone ("loop cpu"), entries per second, the longest event-loop
stall (a ticker task measuring how late it wakes up; also during the floor, which shows what the machine's other
load alone does to the loop), peak memory and the trips to the database threads ("db trips"); then the medians, the
CPU time of this process and of the parse processes next to the floor's (on 2 cores a full poll is CPU-bound, so
the wall time follows their sum; the CPU figures also move less with the machine's other load than wall times do),
and the all-unchanged cycle as a share of a full poll. The feed server runs in a separate process so its work is not
counted. `--profile` prints where this process spent its time in each phase (cProfile of the event loop's thread).
Run: `python benchmarks/bench_news_poll.py [--feeds 500] [--items 50] [--rounds 3]`. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import os
import pstats
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import feedparser
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.services.news import NewsPost, NewsService
from bot.services.news.parsing import PARSE_PROCESSES, new_parse_pool, parse_slots
from bot.services.settings import SettingsService
from db.database import Database
from db.migrate import migrate
from db.news import NewsRepository

START = datetime(2025, 6, 1, tzinfo=UTC)


WORDS = ("casting", "filming", "premiere", "ratings", "interview", "award", "teaser", "script", "director",
         "hospital", "surgeon", "trailer", "poster", "festival", "review", "ending", "sequel", "Netflix", "Seoul",
         "schedule", "photos", "behind", "scenes", "actor", "actress", "record", "global", "chart", "fans", "event")


def feed_xml(feed: int, generation: int, items: int) -> bytes:
    rng = random.Random(feed * 1000 + generation)
    parts = []
    for n in range(items):
        words = " ".join(rng.sample(WORDS, 6))
        topic = f"Trauma Code season 2 {words}" if n % 10 == 0 else f"Drama news {words}"
        when = format_datetime(START + timedelta(hours=generation, minutes=n))
        link = f"https://outlet{feed}.test/{generation}/{n}"
        parts.append(f"<item><title>{topic} ({feed}/{generation}/{n})</title><link>{link}</link><guid>{link}</guid>"
                     f"<description>&lt;p&gt;Summary of item {n} with &lt;b&gt;markup&lt;/b&gt;.&lt;/p&gt;"
                     f"</description><pubDate>{when}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Outlet {feed}</title>'
            f"<link>https://outlet{feed}.test/</link><description>d</description>{''.join(parts)}</channel></rss>"
            ).encode()


def serve(port_queue: multiprocessing.Queue, command_queue: multiprocessing.Queue, feeds: int, items: int) -> None:
    """The feed server process: `/feed/<n>` with ETags; a message on command_queue bumps every feed's content."""
    generation = {"value": 0}
    bodies: dict[int, bytes] = {}

    def build() -> None:
        for n in range(feeds):
            bodies[n] = feed_xml(n, generation["value"], items)

    async def handle(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        etag = f'"g{generation["value"]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=bodies[n], content_type="application/rss+xml", charset="utf-8",
                            headers={"ETag": etag})

    async def main() -> None:
        build()
        app = web.Application()
        app.router.add_get("/feed/{n}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, command_queue.get)
            if command == "stop":
                break
            generation["value"] += 1
            build()
            port_queue.put("bumped")
        await runner.cleanup()

    asyncio.run(main())


class RecordingPoster:
    """Stands in for Discord: records the post and answers a message id at once (no HTTP round trip). With
    `send_ms`, each post waits that long first, like a round trip to Discord (`--send-ms`)."""

    def __init__(self, send_ms: float = 0.0) -> None:
        self.posts = 0
        self._ids = 10**17
        self.send_delay = send_ms / 1000

    async def post(self, post: NewsPost) -> int:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        self.posts += 1
        self._ids += 1
        return self._ids

    async def find_posted(self, channel_id, link, title, since):
        return None

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        return True


class StallMeter:
    """A task that sleeps `period` and records how late it wakes: the event loop's longest stall."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, loop.time() - before - self.period)

    def __enter__(self) -> StallMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class Trips:
    """Counts the trips to the database threads (each function handed to the writing or the reading connection's
    thread: what `db/database.py` keeps few, about 60 µs of CPU each)."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        for conn in (db.connection, db._reader):
            if conn is None:
                continue
            original = conn._execute

            async def counted(fn, *args, _original=original, **kwargs):
                self.count += 1
                return await _original(fn, *args, **kwargs)

            conn._execute = counted

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


class Breakdown:
    """Wall time the tick spent in its serialized parts: ingesting (one feed at a time, under the ingest lock:
    dedupe and the ingest transaction) and delivering (after the polls: reading intents, attempt marks,
    sends, sent records), and within delivering, in the poster's sends (Discord's part; 0 with the recorder)."""

    def __init__(self, service: NewsService, poster: RecordingPoster) -> None:
        self.ingest = self.deliver = self.sends = 0.0
        self._wrap(service.poller.ingester, "_ingest", "ingest")
        self._wrap(service.deliverer, "deliver_pending", "deliver")
        self._wrap(poster, "post", "sends")

    def _wrap(self, owner: object, name: str, total: str) -> None:
        original = getattr(owner, name)

        async def timed(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                setattr(self, total, getattr(self, total) + time.perf_counter() - started)

        setattr(owner, name, timed)

    def take(self) -> tuple[float, float, float]:
        figures = (self.ingest, self.deliver, self.sends)
        self.ingest = self.deliver = self.sends = 0.0
        return figures


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def processes_cpu(executor: object) -> float:
    """CPU seconds (user + system) the parse processes have used so far (Linux /proc; nan elsewhere, or with
    parsing in threads, where it is this process's own)."""
    total = 0.0
    for pid in list(getattr(executor, "_processes", None) or {}):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total if executor is not None else float("nan")


def floor_parse(body: bytes) -> int:
    """The floor's parse, in a worker process: feedparser's default call, nothing else."""
    return len(feedparser.parse(body).entries)


class Floor:
    """Fetches every feed with a plain aiohttp session (same concurrency as the service) and parses full bodies
    with `floor_parse` in the service's worker processes (threads when there are none)."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str], executor, concurrency: int) -> None:
        self.session = session
        self.urls = urls
        self.executor = executor
        self.concurrency = concurrency
        self.etags: dict[str, str] = {}

    async def run(self, *, conditional: bool) -> tuple[float, int, int]:
        """(wall seconds, entries parsed, 304 answers)."""
        slots = asyncio.Semaphore(self.concurrency)
        loop = asyncio.get_running_loop()
        counts = {"entries": 0, "304": 0}

        async def one(url: str) -> None:
            headers = {"If-None-Match": self.etags[url]} if conditional and url in self.etags else {}
            async with slots, self.session.get(url, headers=headers) as response:
                body = await response.read()
                if response.status == 304:
                    counts["304"] += 1
                    return
                self.etags[url] = response.headers.get("ETag", "")
            counts["entries"] += await loop.run_in_executor(self.executor, floor_parse, body)

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in self.urls))
        return time.perf_counter() - started, counts["entries"], counts["304"]


def profile_report(profile: cProfile.Profile, lines: int = 18) -> str:
    """The functions with the most own time, then the project's own functions by cumulative time (time spent
    waiting inside them included: the database thread, the parse processes, other tasks)."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(r"/(bot|db)/", lines)
    text = out.getvalue()
    return "\n".join(line for line in text.splitlines()
                     if line.startswith(("   ncalls", " ")) and line.strip())


async def run(feeds: int, items: int, concurrency: int, trace_memory: bool, parse_processes: int = 0,
              rounds: int = 3, profile: bool = False, send_ms: float = 0.0,
              parse_concurrency: int = 0, websub: bool = False) -> None:
    from bot.services.feed_fetch import FeedFetcher

    port_queue: multiprocessing.Queue = multiprocessing.Queue()
    command_queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(port_queue, command_queue, feeds, items), daemon=True)
    server.start()
    port = port_queue.get(timeout=60)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db")
        await db.connect()
        await migrate(db)
        settings = SettingsService(db)
        await settings.update(1, news_channel_id=10, news_ping_role_id=20)
        repo = NewsRepository(db)
        clock = Clock()
        connector = aiohttp.TCPConnector(limit=concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            fetcher = FeedFetcher(session, user_agent="CodeBlue-bench", allow_private=True)
            poster = RecordingPoster(send_ms)
            executor = new_parse_pool(parse_processes)
            service = NewsService(repo, fetcher, poster, settings, clock=clock, concurrency=concurrency,
                                  rng=random.Random(1), parse_executor=executor,
                                  parse_concurrency=parse_concurrency or parse_slots(parse_processes),
                                  # --websub: as the bot runs with CODEBLUE_PUBLIC_URL set (no feed here has a hub)
                                  session=session if websub else None,
                                  public_url="https://codeblue.example" if websub else None)
            breakdown = Breakdown(service, poster)
            trips = Trips(db)
            now = int(clock.now.timestamp())
            for n in range(feeds):
                feed = await repo.ensure_feed(f"http://127.0.0.1:{port}/feed/{n}", now=now, next_poll_at=now)
                await repo.create_subscription(1, feed.id, channel_id=None, created_by=1, now=now)
            await repo.add_keyword(1, None, "season 2", "include", now)

            parsing = f"{parse_processes} parse processes" if parse_processes else "parse in threads"
            print(f"news poll benchmark: {feeds} feeds x {items} items, fetch concurrency {concurrency}, {parsing}, "
                  f"{rounds} round(s) of phases 2-3"
                  + (f", {send_ms:g} ms per Discord send" if send_ms else "")
                  + (", WebSub on" if websub else ""))
            print(f"{'phase':<16}{'wall s':>8}{'floor s':>9}{'ratio':>7}{'cpu s':>8}{'loop cpu':>9}{'entries/s':>11}"
                  f"{'max stall ms':>14}{'(floor)':>8}{'posted':>8}{'304s':>6}{'failed':>8}{'RSS MB':>8}"
                  f"{'traced MB':>10}{'ingest s':>9}{'deliver s':>10}{'sends s':>8}{'db trips':>9}")
            urls = [f"http://127.0.0.1:{port}/feed/{n}" for n in range(feeds)]
            floor_connector = aiohttp.TCPConnector(limit=concurrency * 2)
            floor_session = aiohttp.ClientSession(connector=floor_connector)
            floor = Floor(floor_session, urls, executor, concurrency)
            # Start the worker processes (spawned on first use) before anything is timed, for both sides.
            warm_body = feed_xml(0, 0, items)
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(executor, floor_parse, warm_body)
                                   for _ in range(max(2, parse_processes) * 2)))
            results: dict[str, list[tuple[float, ...]]] = {}
            profiles: list[tuple[str, cProfile.Profile]] = []
            phases = ["first poll"] + ["all changed", "all unchanged"] * rounds
            for phase in phases:
                if phase == "all changed":
                    command_queue.put("bump")
                    port_queue.get(timeout=60)
                floor_cpu, floor_workers = time.process_time(), processes_cpu(executor)
                with StallMeter() as floor_meter:
                    floor_wall, _, _ = await floor.run(conditional=phase == "all unchanged")
                floor_cpu, floor_workers = time.process_time() - floor_cpu, processes_cpu(executor) - floor_workers
                clock.now += timedelta(hours=1)
                posted_before = poster.posts
                if trace_memory:
                    tracemalloc.start()
                profiler = cProfile.Profile() if profile else None
                trips.take()  # counted from here: this phase's poll only
                wall, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
                workers = processes_cpu(executor)
                with StallMeter() as meter:
                    if profiler is not None:
                        profiler.enable()
                    summary = await service.tick()
                    if profiler is not None:
                        profiler.disable()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                loop_cpu = time.thread_time() - loop_cpu
                workers = processes_cpu(executor) - workers
                if profiler is not None:
                    profiles.append((phase, profiler))
                peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
                tracemalloc.stop()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                entries = 0 if phase == "all unchanged" else feeds * items
                rate = f"{entries / wall:,.0f}" if entries else "-"
                ingest, deliver, sends = breakdown.take()
                db_trips = trips.take()
                results.setdefault(phase, []).append((wall, floor_wall, meter.worst, floor_meter.worst, deliver,
                                                      sends, cpu, loop_cpu, floor_cpu, workers, floor_workers))
                print(f"{phase:<16}{wall:>8.2f}{floor_wall:>9.3f}{wall / floor_wall:>6.1f}x{cpu:>8.2f}{loop_cpu:>9.2f}"
                      f"{rate:>11}"
                      f"{meter.worst * 1000:>14.1f}{floor_meter.worst * 1000:>8.1f}"
                      f"{poster.posts - posted_before:>8}{summary.not_modified:>6}"
                      f"{summary.failed:>8}{rss:>8.0f}{peak / 2**20 if trace_memory else float('nan'):>10.1f}"
                      f"{ingest:>9.2f}{deliver:>10.2f}{sends:>8.2f}{db_trips:>9}")
            await floor_session.close()
            print()
            print(f"medians over {rounds} round(s):")
            for phase, rows in results.items():
                wall = statistics.median(r[0] for r in rows)
                floor_wall = statistics.median(r[1] for r in rows)
                stall, floor_stall = max(r[2] for r in rows), max(r[3] for r in rows)
                ratios = [r[0] / r[1] for r in rows]
                # The ratio is that of each round's pair (the floor run just before the service's), then the median:
                # the machine's other load drifts between rounds, so medians of unpaired walls mix different loads.
                paired = statistics.median(ratios)
                print(f"  {phase:<14} {wall:6.2f} s   floor {floor_wall:6.3f} s   ratio {paired:5.2f}x"
                      f"   longest stall {stall * 1000:5.1f} ms (floor {floor_stall * 1000:5.1f} ms)")
                without_sends = [(r[0] - r[5]) / r[1] for r in rows]
                print(f"  {'':<14} per-round ratios {', '.join(f'{x:.2f}' for x in ratios)} (ratio of the median "
                      f"walls {wall / floor_wall:.2f}x); median delivering "
                      f"{statistics.median(r[4] for r in rows):.2f} s, of it Discord sends "
                      f"{statistics.median(r[5] for r in rows):.2f} s; ratio without the sends "
                      f"{statistics.median(without_sends):.2f}x; cpu {statistics.median(r[6] for r in rows):.2f} s "
                      f"(loop {statistics.median(r[7] for r in rows):.2f} s)")
                own, floor_own = statistics.median(r[6] for r in rows), statistics.median(r[8] for r in rows)
                parse, floor_parse_cpu = statistics.median(r[9] for r in rows), statistics.median(r[10] for r in rows)
                both, floor_both = (statistics.median(r[6] + r[9] for r in rows),
                                    statistics.median(r[8] + r[10] for r in rows))
                print(f"  {'':<14} cpu: this process {own:.2f} s (floor {floor_own:.2f} s), parse processes "
                      f"{parse:.2f} s (floor {floor_parse_cpu:.2f} s); both {both:.2f} s (floor {floor_both:.2f} s, "
                      f"ratio {both / floor_both if floor_both else float('nan'):.2f}x)")
            if rounds:
                full = statistics.median(r[0] for r in results["all changed"])
                unchanged = statistics.median(r[0] for r in results["all unchanged"])
                print(f"  all-unchanged cycle = {unchanged / full * 100:.1f} % of a full poll (all changed)")
            for phase, profiler in profiles:
                print(f"\nprofile of '{phase}' (this process, by own time):")
                print(profile_report(profiler))
            if executor is not None:
                executor.shutdown()
        await db.close()
    command_queue.put("stop")
    server.join(timeout=10)
    print("RSS MB: the process's peak resident memory so far; traced MB (with --trace-memory, which slows "
          "parsing a lot): peak Python allocations during the phase")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--trace-memory", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of phases 2-3 (default %(default)s)")
    parser.add_argument("--profile", action="store_true", help="cProfile this process in each phase")
    parser.add_argument("--parse-concurrency", type=int, default=0,
                        help="parses in flight at once (default: as the bot, parse_slots(processes))")
    parser.add_argument("--send-ms", type=float, default=0.0,
                        help="milliseconds each Discord send takes (default 0: the recorder answers at once)")
    parser.add_argument("--websub", action="store_true",
                        help="run with WebSub on, as the bot does when CODEBLUE_PUBLIC_URL is set")
    parser.add_argument("--parse-processes", type=int, default=PARSE_PROCESSES,
                        help="parsing processes, as the bot uses (default %(default)s); 0 parses in threads")
    args = parser.parse_args()
    asyncio.run(run(args.feeds, args.items, args.concurrency, args.trace_memory, args.parse_processes,
                    args.rounds, args.profile, args.send_ms,
                    args.parse_concurrency, args.websub))


if __name__ == "__main__":
    main()
