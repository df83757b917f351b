"""What the watch-party service tests share: a real database, a real APScheduler, the clock the service reads and
a recording poster (Discord's stand-in). Test modules take the fixtures as module attributes (`env = world.env`)."""

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services.settings import SettingsService
from bot.services.watchparties import PartyRequest, ReminderNotDelivered, WatchPartyService
from db.watchparties import WatchPartyRepository

GUILD, CHANNEL, HOST, FAN = 1, 100, 10, 20
SEOUL = ZoneInfo("Asia/Seoul")


class ShiftedClock:
    """Real time plus a shift the test chooses (jobs run on real time, the service reads this clock)."""

    def __init__(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def set(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)


class RecordingPoster:
    """Records reminders and party ends; Discord is unreachable for the first `outages` reminder posts."""

    def __init__(self, outages: int = 0) -> None:
        self.outages = outages
        self.reminders: list[tuple[int, int, list[int], bool]] = []
        self.ended: list[int] = []
        self.fail = False
        self.sent = asyncio.Event()
        self.ready = asyncio.Event()
        self.ready.set()
        self.left_guilds: set[int] = set()
        self.in_channel: set[tuple[int, int]] = set()  # posts Discord stored before a crash
        self.lookup_fails = False
        self.undelivered: list[tuple[int, str]] = []

    async def wait_until_ready(self):
        await self.ready.wait()

    def serves_guild(self, guild_id):
        return guild_id not in self.left_guilds

    async def send_reminder(self, party, offset, going, *, late, dms, channel=True):
        if self.outages:
            self.outages -= 1
            raise ReminderNotDelivered("ClientConnectorError")
        await self.ready.wait()  # like the cog: Discord calls need a ready client
        if self.fail:
            raise RuntimeError("channel gone")
        if channel:  # False: found in the channel after a crash, only the DMs not yet recorded go out
            self.reminders.append((party.id, int(offset.total_seconds()), [r.user_id for r in going], late))
        self.sent.set()

    async def find_reminder(self, party, offset, since):
        """Like Discord's channel: a reminder recorded by `send_reminder` (or listed in `in_channel`) is found."""
        if self.lookup_fails:
            raise RuntimeError("Discord unreachable")
        key = (party.id, int(offset.total_seconds()))
        return key in self.in_channel or any(r[:2] == key for r in self.reminders)

    async def reminder_undelivered(self, party, error):
        self.undelivered.append((party.id, error))

    async def party_ended(self, party):
        self.ended.append(party.id)


@pytest.fixture
def outages():
    """How many reminder posts fail with Discord unreachable (tests override it by parametrizing)."""
    return 0


@pytest.fixture
async def env(migrated_db, outages):
    db = migrated_db
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    settings = SettingsService(db)
    await settings.update(GUILD, reminder_offsets="1h 0")
    clock = ShiftedClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))  # Fri 21:00 in Seoul
    poster = RecordingPoster(outages)
    service = WatchPartyService(WatchPartyRepository(db), settings, scheduler, poster, clock=clock)
    yield service, clock, poster
    scheduler.shutdown(wait=False)
    await db.close()


def request(when="tomorrow 9pm", **kw):
    return PartyRequest(**{"guild_id": GUILD, "channel_id": CHANNEL, "host_id": HOST, "title": "Episode 3",
                           "when": when, **kw})


def job_ids(service):
    return sorted(job.id for job in service.reminders.scheduler.get_jobs())
