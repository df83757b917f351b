"""Episode service figures: votes per second, ratings table latency, thread opening through an in-memory gateway."""

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.services.episodes import EpisodeService
from bot.services.settings import SettingsService
from db.database import Database
from db.migrate import migrate
from tests.services.episode_service_env import MemoryThreads

GUILD = 1


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db")
        await db.connect()
        await migrate(db)
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.start()
        now = datetime.now(UTC)
        gateway = MemoryThreads()
        service = EpisodeService(db, scheduler, SettingsService(db), lambda: now, gateway)
        show = await service.schedules.add_show(GUILD, "Bench", None, None, "on_air")
        started = time.perf_counter()
        for number in range(1, 201):
            await service.schedules.add_episode(show, 1 + (number - 1) // 20, (number - 1) % 20 + 1, None,
                                      now + timedelta(days=number))
        print(f"add 200 episodes (with replanning): {time.perf_counter() - started:.2f} s; "
              f"jobs scheduled: {len(scheduler.get_jobs())}")
        episodes = await service.lookup.episodes(show)
        started = time.perf_counter()
        votes = 5000
        for i in range(votes):
            await service.repo.set_rating(episodes[i % 20].id, i, 1 + i % 5)
        elapsed = time.perf_counter() - started
        print(f"{votes} votes: {votes / elapsed:.0f} votes/s")
        started = time.perf_counter()
        for _ in range(50):
            await service.ratings.ratings_table(show, 1)
        print(f"ratings table (20 episodes, {votes} votes): {(time.perf_counter() - started) / 50 * 1000:.2f} ms")
        started = time.perf_counter()
        requests = (service.threads.open_or_link(e.id, may_create=True) for e in episodes[:100] for _ in range(3))
        await asyncio.gather(*requests)
        print(f"100 episodes x 3 concurrent requests: {time.perf_counter() - started:.2f} s, "
              f"threads created: {len(gateway.created)}")
        gateway.refreshed.clear()
        gateway.refresh_delays = [0.005] * 1000  # a Discord edit takes time: concurrent votes queue up
        started = time.perf_counter()
        burst = 200
        await asyncio.gather(*(service.ratings.rate(episodes[0].id, 10_000 + i, 1 + i % 5) for i in range(burst)))
        print(f"{burst} concurrent votes on one starter: {time.perf_counter() - started:.2f} s, "
              f"starter edits: {len(gateway.refreshed)} (serialized, coalesced), "
              f"last shown: {gateway.shown_votes[-1]} votes")
        scheduler.shutdown(wait=False)
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
