"""The episode service on a real SQLite file and a real scheduler, with an in-memory stand-in for Discord."""

import asyncio
import itertools
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.errors import UserFacingError
from bot.services.episodes import EpisodeService
from bot.services.settings import SettingsService
from db.database import Database
from db.episodes import EpisodeThread
from db.migrate import migrate

GUILD = 222
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # the real scheduler never fires


class MemoryThreads:
    """Discord as a dict of thread id -> state; `create_delay` widens race windows."""

    def __init__(self, kind="forum"):
        self.kind = kind
        self.threads: dict[int, str] = {}
        self.created: list[int] = []
        self.deleted: list[int] = []
        self.reopened: list[int] = []
        self.refreshed: list[int] = []
        self.members: list[tuple[int, int]] = []
        self.failures: list[BaseException] = []
        self.ids = itertools.count(1000)
        self.create_delay = 0.0
        self.deliver_notices = True
        self.fail_with: Exception | None = None
        self.refresh_delays: list[float | asyncio.Event] = []
        self.shown_votes: list[int] = []
        self.left_guilds: set[int] = set()

    async def ready(self):
        return None

    def serves_guild(self, guild_id):
        return guild_id not in self.left_guilds

    async def status(self, thread):
        return {"open": "active", "archived": "archived"}.get(self.threads.get(thread.thread_id), "missing")

    async def create(self, starter):
        await asyncio.sleep(self.create_delay)
        if self.fail_with is not None:
            raise self.fail_with
        thread_id = next(self.ids)
        self.threads[thread_id] = "open"
        self.created.append(thread_id)
        return EpisodeThread(starter.guild_id, starter.episode.id, 500, thread_id, thread_id, self.kind, "open")

    async def reopen(self, thread):
        self.threads[thread.thread_id] = "open"
        self.reopened.append(thread.thread_id)

    async def delete(self, thread):
        self.threads.pop(thread.thread_id, None)
        self.deleted.append(thread.thread_id)

    async def refresh_starter(self, thread, starter):
        if self.refresh_delays:  # seconds, or an asyncio.Event the test sets when this edit may finish
            delay = self.refresh_delays.pop(0)
            await (delay.wait() if isinstance(delay, asyncio.Event) else asyncio.sleep(delay))
        self.refreshed.append(thread.thread_id)
        self.shown_votes.append(starter.rating.count)

    async def lock(self, thread):
        self.threads[thread.thread_id] = "archived"

    async def add_member(self, thread, user_id):
        self.members.append((thread.thread_id, user_id))

    def failure_kind(self, error):
        return error.key.removeprefix("episodes.") if isinstance(error, UserFacingError) else "unexpected"

    async def report_failure(self, guild_id, starter, kind, error, retry_at):
        self.failures.append((kind, retry_at))
        return self.deliver_notices


@asynccontextmanager
async def episode_service(tmp_path, **options):
    """(service, clock): the service over a fresh database, its clock a dict whose "now" tests move; `options` go to
    EpisodeService (a `premiere_gateway`, ...)."""
    db = Database(tmp_path / "svc.db")
    await db.connect()
    await migrate(db)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    clock = {"now": NOW}
    # No pause between the threads of /show open: the tests count threads, not seconds.
    service = EpisodeService(db, scheduler, SettingsService(db), lambda: clock["now"], MemoryThreads(),
                             bulk_open_spacing=timedelta(0), **options)
    try:
        yield service, clock
    finally:
        scheduler.shutdown(wait=False)
        await db.close()


@pytest.fixture
async def env(tmp_path):
    """`episode_service` for one test; modules take it as `env = episode_service_env.env`."""
    async with episode_service(tmp_path) as built:
        yield built
