"""What the watch-party end-to-end tests share: the clock, the fixtures and helpers to drive the fake Discord.

Reminder times: the bot's clock is real time plus a shift (`ShiftedClock`), chosen so that a party's one-hour
reminder falls a few seconds after "now"; jobs run on real time, so the tests wait seconds, not hours.

Test modules take the fixtures as module attributes (`clock = helpers.clock`, `world = helpers.world`, ...).
"""

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services import watchparties as watchparty_service
from db.watchparties import WatchPartyRepository

SEOUL = ZoneInfo("Asia/Seoul")
# 21:00 in Seoul, three days from the real today (the fake refuses scheduled events in its real past).
KST_21 = datetime.combine((datetime.now(SEOUL) + timedelta(days=3)).date(), time(21), SEOUL).astimezone(UTC)
START = int(KST_21.timestamp())
START_ISO = f"{KST_21:%Y-%m-%dT%H:%M:%S}"
END_ISO = f"{KST_21 + timedelta(hours=1):%Y-%m-%dT%H:%M:%S}"
MESSAGES = "/channels/{channel_id}/messages"
MESSAGE = "/channels/{channel_id}/messages/{message_id}"
MESSAGE_EDIT = ("PATCH", MESSAGE)
EVENTS = "/guilds/{guild_id}/scheduled-events"
EVENT = "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}"


class ShiftedClock:
    def __init__(self, now: datetime) -> None:
        self.set(now)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def set(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)


@pytest.fixture
def clock(runner):
    runner.clock = ShiftedClock(KST_21 - timedelta(hours=1, seconds=4))  # the 1h reminder is due in 4 s
    return runner.clock


@pytest.fixture
async def world(fake, runner, clock):
    g = fake.default_guild
    role = fake.add_role(g, "Watch Party", mentionable=True)
    bot = await runner.start()
    await bot.settings_service.update(g.id, reminder_offsets="1h 0", watchparty_channel_id=g.channel("watch-party").id,
                                      watchparty_ping_role_id=role.id)
    for name in ("fan1", "fan2", "fan3"):
        await WatchPartyRepository(bot.db).set_member_timezone(g.member(name).id, "Asia/Seoul", clock())
    return g, role


@pytest.fixture
def quick_retries(monkeypatch):
    """A reminder Discord could not take is tried again after 1 s instead of a minute. The watch-party extension
    reads the delay when it loads: request this fixture before any that starts the bot (`world`)."""
    monkeypatch.setattr(watchparty_service, "RETRY_DELAY", timedelta(seconds=1))


def reminder_posts(fake, channel, since=0):
    return [r for r in fake.requests_to("POST", MESSAGES, since=since)
            if r.params["channel_id"] == str(channel.id) and "starts" in ((r.json or {}).get("content") or "")]


async def create_party(fake, g, host, when="9pm", locale="en-US", **options):
    mark = fake.mark()
    ix = await fake.slash(g, host, "watchparty create", title="Episode 3", when=when, locale=locale, **options)
    response = await ix.response()
    assert (response.type, response.ephemeral) == (5, True)
    [confirmation] = await ix.followups(1)
    announcement = (await fake.wait_for_request("POST", MESSAGES, since=mark)).response
    return confirmation, announcement


async def slash_followup(fake, g, member, command, *, locale="en-US", **options):
    """Run a deferred command; its one follow-up message."""
    ix = await fake.slash(g, member, command, locale=locale, options=options)
    response = await ix.response()
    assert (response.type, response.ephemeral) == (5, True)
    [message] = await ix.followups(1)
    return message


async def create(fake, g, member, *, title="Episode 3", when="9pm", locale="en-US", **options):
    """Create a party; (confirmation, announcement)."""
    mark = fake.mark()
    confirmation = await slash_followup(fake, g, member, "watchparty create", locale=locale, title=title, when=when,
                                        **options)
    announcement = (await fake.wait_for_request("POST", MESSAGES, since=mark)).response
    return confirmation, announcement


def party_id_of(announcement):
    return int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])


async def rsvp_click(fake, message_id, custom_id, member, **options):
    """Click an RSVP button: the click is acknowledged at once (deferred update, type 6), then the bot edits the
    announcement; returns that edit (a recorded PATCH)."""
    mark = fake.mark()
    click = await fake.click(message_id, custom_id, member, **options)
    assert (await click.response()).type == 6
    return await fake.wait_for_request("PATCH", MESSAGE, lambda r: r.params["message_id"] == str(message_id),
                                       since=mark)


async def going_with_dm(fake, announcement, party_id, dm_member, channel_member):
    for member in (dm_member, channel_member):
        await rsvp_click(fake, announcement["id"], f"wp:{party_id}:going", member)
    assert (await (await fake.click(announcement["id"], f"wp:{party_id}:dm", dm_member)).response()).ephemeral


def rsvp_field(message, prefix):
    """The announcement's RSVP field whose name starts with `prefix` ("Going", "Maybe", ...)."""
    return next(f for f in message["embeds"][0]["fields"] if f["name"].startswith(prefix))


def display(member):
    return member.nick or member.user.global_name or member.user.username


async def reminder_state(bot, party_id, offset_seconds, wanted, tries=100):
    """The reminder's state once it is `wanted`, or as it is after `tries` looks 50 ms apart."""
    repo = WatchPartyRepository(bot.db)
    for _ in range(tries):
        reminder = await repo.reminder(party_id, offset_seconds)
        if reminder.state == wanted:
            break
        await asyncio.sleep(0.05)
    return reminder.state
