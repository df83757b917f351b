"""Watch-party reminders at scale: start the bot's real start-up path over 10,000 upcoming parties x 4 reminders,
then measure how late reminders fire, both those due in the first seconds of start-up and those due ~20 s later.

Start-up is `CodeBlueBot.setup_hook` with only `cogs.watchparties` loaded (migrations, scheduler start, the cog's
`cog_load`, which rebuilds the jobs); it does not log in to Discord. The cog's `send_reminder` is replaced by a
recorder of real time minus planned fire time, so what is measured is scheduling, the ledger and the job bodies,
not Discord. Parties start uniformly over the next 30 days (plus the groups due during the run).

Two start-ups on the same database: the first (no tracing) gives start-up time and lateness; the second, under
tracemalloc, gives the peak Python memory of a start-up. Prints figures; it is not a test.

    python benchmarks/bench_watchparty_reminders.py [--parties 10000] [--early 100] [--due 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.client import CodeBlueBot
from bot.config import parse_settings
from bot.domain.reminders import parse_offsets, reminder_plan
from db.database import Database
from db.migrate import migrate
from db.watchparties import NewParty, WatchPartyRepository

OFFSETS = parse_offsets("1d 1h 10m 0")
EXTENSION = "cogs.watchparties"
EARLY = "due in the first 2.5 s after start-up began"


class Lateness:
    """Stands in for the cog's Discord posts: records, per group, how late each reminder was posted."""

    def __init__(self) -> None:
        self.groups: dict[str, list[float]] = {}
        self.group_of: dict[int, str] = {}  # party id -> group
        self.expected = 0
        self.startup_began = datetime.max.replace(tzinfo=UTC)
        self.done = asyncio.Event()

    def record(self, party, offset: timedelta) -> None:
        planned = party.starts_at - offset
        lateness = (datetime.now(UTC) - planned).total_seconds()
        group = self.group_of.get(party.id, "other")
        if group == EARLY and planned < self.startup_began:
            group = "due before start-up began (missed while down)"
        self.groups.setdefault(group, []).append(lateness)
        if sum(len(v) for v in self.groups.values()) >= self.expected:
            self.done.set()


RECORDER = Lateness()


class BenchBot(CodeBlueBot):
    """The real bot, except that the watch-party cog's Discord posts go to RECORDER (patched on the instance as it
    is added, before its cog_load; load_extension imports a fresh module, so the class cannot be patched)."""

    async def add_cog(self, cog, /, **kwargs) -> None:
        if cog.qualified_name == "WatchPartyCog":
            async def recorded_reminder(party, offset, going, *, late):
                RECORDER.record(party, offset)

            async def no_edit(party):
                pass

            async def ready():  # no Discord login here: "ready" at once
                pass

            cog.send_reminder, cog.party_ended, cog.wait_until_ready = recorded_reminder, no_edit, ready
            cog.serves_guild = lambda guild_id: True  # no gateway here: every server counts as joined
            cog_load = cog.cog_load

            async def timed_cog_load():
                started = time.perf_counter()
                await cog_load()
                self.cog_load_seconds = time.perf_counter() - started

            cog.cog_load = timed_cog_load
        await super().add_cog(cog, **kwargs)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(repo: WatchPartyRepository, starts: list[datetime], now: datetime) -> list[int]:
    """One transaction per party, as /watchparty create does (limits off)."""
    ids = []
    for i, start in enumerate(starts):
        party = NewParty(guild_id=1 + i % 1000, channel_id=10, host_id=100 + i, title=f"Party {i}",
                         starts_at=start, duration_minutes=90, zone="Asia/Seoul")
        plan = [(int(p.offset.total_seconds()), p.fire_at) for p in reminder_plan(start, OFFSETS, now)]
        [created] = await repo.create_parties([party], [plan], now, max_per_guild=10**9, max_per_member=10**9)
        ids.append(created.id)
    return ids


async def start_up(db_path: Path, session: aiohttp.ClientSession) -> tuple[CodeBlueBot, float]:
    settings = parse_settings({"CODEBLUE_DB": str(db_path)}, require_token=False)  # never logs in
    bot = BenchBot(settings, session=session, extensions=(EXTENSION,), sync_on_start=False)
    started = time.perf_counter()
    await bot.setup_hook()
    return bot, time.perf_counter() - started


def summary(values: list[float]) -> str:
    if not values:
        return "none fired"
    ms = sorted(v * 1000 for v in values)
    return (f"{len(ms)} fired, lateness median {statistics.median(ms):.0f} ms, "
            f"p95 {ms[max(int(len(ms) * 0.95) - 1, 0)]:.0f} ms, worst {ms[-1]:.0f} ms")


async def main(parties: int, early: int, due: int) -> None:
    recorder = RECORDER
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "bench.db"
        db = Database(db_path)
        await db.connect()
        await migrate(db)
        repo = WatchPartyRepository(db)
        started = time.perf_counter()
        now = datetime.now(UTC)
        await load(repo, [now + timedelta(minutes=rng.randrange(10, 30 * 24 * 60))
                          for _ in range(parties - early - due)], now)
        # 1-hour reminders due 20-23 s from now, then (loaded last) ones due 0.5-2.5 s after they are planned: about
        # when start-up begins. Those that fall due before it began are reported apart (the bot was not running).
        now = datetime.now(UTC)
        for party_id in await load(repo, [now + timedelta(hours=1, seconds=20 + 3 * i / max(due, 1))
                                          for i in range(due)], now):
            recorder.group_of[party_id] = "due ~20 s after start-up"
        now = datetime.now(UTC)
        for party_id in await load(repo, [now + timedelta(hours=1, seconds=0.5 + 2 * i / max(early, 1))
                                          for i in range(early)], now):
            recorder.group_of[party_id] = EARLY
        load_seconds = time.perf_counter() - started
        loaded = time.perf_counter()
        rows = (await db.fetch_one("SELECT COUNT(*) AS n FROM party_reminders"))["n"]
        await db.close()
        recorder.expected = early + due

        async with aiohttp.ClientSession() as session:
            rss_before = rss_mib()
            startup_gap = time.perf_counter() - loaded
            recorder.startup_began = datetime.now(UTC)
            bot, startup_seconds = await start_up(db_path, session)
            rss_after = rss_mib()
            jobs = len(bot.scheduler.get_jobs())
            rebuild_seconds = bot.cog_load_seconds
            await asyncio.wait_for(recorder.done.wait(), 120)
            await asyncio.sleep(0.5)  # let the last jobs record 'sent'
            await bot.close()

            tracemalloc.start()
            traced_bot, traced_seconds = await start_up(db_path, session)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            await traced_bot.close()

    print(f"parties: {parties:,}  reminder rows: {rows:,}  (load: {load_seconds:.1f} s)")
    print(f"start-up (setup_hook with {EXTENSION}): {startup_seconds:.3f} s, of which the cog's cog_load (job "
          f"rebuild) {rebuild_seconds:.3f} s; {jobs:,} jobs in the scheduler; it began {startup_gap:.3f} s after "
          f"loading ended")
    print(f"memory: RSS +{rss_after - rss_before:.1f} MiB over start-up; tracemalloc peak during a start-up "
          f"{peak / 2**20:.1f} MiB (that start-up under tracing: {traced_seconds:.3f} s)")
    for group, values in sorted(recorder.groups.items()):
        print(f"reminders {group}: {summary(values)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=10_000)
    parser.add_argument("--early", type=int, default=100)
    parser.add_argument("--due", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.parties, args.early, args.due))
