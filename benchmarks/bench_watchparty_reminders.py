"""Watch-party reminders at scale: rebuild 10,000 parties x 4 reminders from SQLite, then measure how late the
reminders that fall due during the run actually fire.

Uses the same code the cog runs at start-up (`WatchPartyService.rebuild`) on a real APScheduler AsyncIOScheduler;
Discord is replaced by a poster that only records when it was called. Prints figures; it is not a test.

    python benchmarks/bench_watchparty_reminders.py [--parties 10000] [--due 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.reminders import parse_offsets, reminder_plan
from bot.services.settings import SettingsService
from bot.services.watchparties import WatchPartyService
from db.database import Database
from db.migrate import migrate
from db.watchparties import NewParty, WatchPartyRepository

OFFSETS = parse_offsets("1d 1h 10m 0")
BATCH = 500


class LatenessPoster:
    """Records how late each reminder was posted (real time now minus its planned fire time)."""

    def __init__(self, expected: int) -> None:
        self.lateness: list[float] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def send_reminder(self, party, offset, going, *, late):
        self.lateness.append((datetime.now(UTC) - (party.starts_at - offset)).total_seconds())
        if len(self.lateness) >= self.expected:
            self.done.set()

    async def party_ended(self, party):
        pass


async def load(repo: WatchPartyRepository, starts: list[datetime], now: datetime) -> None:
    for first in range(0, len(starts), BATCH):
        chunk = starts[first:first + BATCH]
        rows = [NewParty(guild_id=1 + i % 1000, channel_id=10, host_id=100 + i, title=f"Party {first + i}",
                         starts_at=start, duration_minutes=90, zone="Asia/Seoul") for i, start in enumerate(chunk)]
        plans = [[(int(p.offset.total_seconds()), p.fire_at) for p in reminder_plan(s, OFFSETS, now)] for s in chunk]
        # one transaction per party, as /watchparty create does (limits off)
        for row, plan in zip(rows, plans, strict=True):
            await repo.create_parties([row], [plan], now, max_per_guild=10**9, max_per_member=10**9)


async def main(parties: int, due: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db")
        await db.connect()
        await migrate(db)
        repo = WatchPartyRepository(db)
        rng = random.Random(5)
        now = datetime.now(UTC)
        started = time.perf_counter()
        await load(repo, [now + timedelta(days=2, minutes=rng.randrange(0, 30 * 24 * 60))
                          for _ in range(parties - due)], now)
        # the parties whose 1-hour reminder falls due 20-23 s from now (after the rebuild), loaded last
        now = datetime.now(UTC)
        await load(repo, [now + timedelta(hours=1, seconds=20 + 3 * i / max(due, 1)) for i in range(due)], now)
        load_seconds = time.perf_counter() - started
        reminders = await db.fetch_one("SELECT COUNT(*) AS n FROM party_reminders")

        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.start()
        poster = LatenessPoster(expected=due)
        service = WatchPartyService(repo, SettingsService(db), scheduler, poster=poster)
        tracemalloc.start()
        started = time.perf_counter()
        report = await service.rebuild()
        rebuild_seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        jobs = len(scheduler.get_jobs())

        await asyncio.wait_for(poster.done.wait(), 60)
        for _ in range(400):  # let the last jobs record 'sent' before closing the database
            if not await repo.count_reminders("sending"):
                break
            await asyncio.sleep(0.05)
        scheduler.shutdown(wait=False)
        await db.close()

    lateness = sorted(poster.lateness)
    print(f"parties: {parties:,}  reminder rows: {reminders['n']:,}  (load: {load_seconds:.1f} s)")
    print(f"rebuild: {rebuild_seconds:.2f} s for {jobs:,} jobs ({report})")
    print(f"peak memory during rebuild (tracemalloc): {peak / 2**20:.1f} MiB; "
          f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    median = statistics.median(lateness) * 1000
    print(f"reminders due during the run: {len(lateness)}; lateness median {median:.0f} ms, "
          f"p95 {lateness[int(len(lateness) * 0.95) - 1] * 1000:.0f} ms, worst {lateness[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.parties, args.due))
