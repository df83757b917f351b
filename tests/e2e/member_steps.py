"""What members and admins do on the fake Discord, one function a step (slash commands, clicks), what the tests
read off the bot's messages, and the watch-party world the end-to-end tests share (clock, fixtures, routes).

Steps: `reply` / `answer` (any command: its message / its text), `set_timezone`, `set_up_watch_parties`,
`create_party`, `edit_party`, `cancel_party`, `rsvp`, `rsvp_at_once`, `going_with_dm`.

Reminder times: the bot's clock is real time plus a shift (`ShiftedClock`), chosen so that a party's one-hour
reminder falls a few seconds after "now"; jobs run on real time, so the tests wait seconds, not hours.
Test modules take the fixtures as module attributes (`clock = member_steps.clock`, `world = member_steps.world`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest

from bot.services import watchparties as watchparty_service
from db.watchparties import WatchPartyRepository

SEOUL = ZoneInfo("Asia/Seoul")
# 21:00 in Seoul, three days from the real today (the fake refuses scheduled events in its real past).
KST_21 = datetime.combine((datetime.now(SEOUL) + timedelta(days=3)).date(), time(21), SEOUL).astimezone(UTC)
PARTY_DAY = KST_21.astimezone(SEOUL).date()
START = int(KST_21.timestamp())
START_ISO = f"{KST_21:%Y-%m-%dT%H:%M:%S}"
END_ISO = f"{KST_21 + timedelta(hours=1):%Y-%m-%dT%H:%M:%S}"
EPHEMERAL = 64
MESSAGES = "/channels/{channel_id}/messages"
MESSAGE = "/channels/{channel_id}/messages/{message_id}"
MESSAGE_EDIT = ("PATCH", MESSAGE)
EVENTS = "/guilds/{guild_id}/scheduled-events"
EVENT = "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}"


# -- the clock and the fixtures ---------------------------------------------------------------------------------

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
    """The bot started; a watch-party channel, a mentionable ping role, reminders 1 h before and at the start; the
    fans read times in Seoul. Written straight to the settings and the database (`set_up_watch_parties` is the same
    done through commands, as members would)."""
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


# -- steps ------------------------------------------------------------------------------------------------------

async def reply(fake, guild, member, command: str, *, locale: str = "en-US", deferred: bool | None = None,
                **options) -> dict:
    """Run `/command` as `member`; the message only they saw in answer (checked ephemeral): the reply itself, or
    when the bot deferred ("thinking...") that message once filled in (its first followup or an edit).
    `deferred=True` / `False` also checks which of the two the bot did."""
    ix = await fake.slash(guild, member, command, locale=locale, options=options)
    response = await ix.response()
    if deferred is not None:
        assert (response.type == 5) is deferred, f"/{command} answered with type {response.type}"
    if response.type == 5:
        message = await ix.wait_original(timeout=10)
        assert len(ix.followup_messages) <= 1, f"/{command} answered more than once: {ix.followup_messages}"
    else:
        assert response.type == 4, f"/{command} answered with type {response.type}"
        message = response.message
    assert message["flags"] & EPHEMERAL, f"/{command} answered in public: {message.get('content')!r}"
    return message


async def answer(fake, guild, member, command: str, *, locale: str = "en-US", **options) -> str:
    """The text of `reply`."""
    return (await reply(fake, guild, member, command, locale=locale, **options)).get("content") or ""


async def set_timezone(fake, guild, member, tz: str = "Asia/Seoul", *, locale: str = "en-US") -> str:
    """`/timezone set`; the bot's answer."""
    return await answer(fake, guild, member, "timezone set", tz=tz, locale=locale)


async def set_up_watch_parties(fake, guild) -> None:
    """What an admin and the members do first: a watch-party channel, and members' time zones."""
    await answer(fake, guild, guild.member("admin"), "config channel", kind="watchparty",
                 channel=guild.channel("watch-party"))
    for name in ("admin", "fan1", "fan2", "fan3"):
        await set_timezone(fake, guild, guild.member(name))


class CreatedParty(NamedTuple):
    confirmation: dict  # what the host was told (ephemeral)
    announcement: dict  # the public message with the RSVP buttons

    @property
    def id(self) -> int:
        return party_id_of(self.announcement)


async def create_party(fake, guild, host, title: str = "Episode 3", when: str = "9pm", *, locale: str = "en-US",
                       **options) -> CreatedParty:
    """`/watchparty create` as `host` (deferred, then confirmed to the host alone); unpacks as (confirmation,
    announcement), `.id` is the party's id."""
    mark = fake.mark()
    confirmation = await reply(fake, guild, host, "watchparty create", locale=locale, deferred=True, title=title,
                               when=when, **options)
    announcement = (await fake.wait_for_request("POST", MESSAGES, since=mark)).response
    return CreatedParty(confirmation, announcement)


async def edit_party(fake, guild, member, party_id: int, *, locale: str = "en-US", **changes) -> dict:
    """`/watchparty edit`; the (deferred) answer."""
    return await reply(fake, guild, member, "watchparty edit", locale=locale, deferred=True, id=party_id, **changes)


async def cancel_party(fake, guild, member, party_id: int, *, locale: str = "en-US") -> dict:
    """`/watchparty cancel`; the (deferred) answer."""
    return await reply(fake, guild, member, "watchparty cancel", locale=locale, deferred=True, id=party_id)


async def rsvp(fake, announcement: dict, member, choice: str, **options):
    """Click Going / Maybe / Can't go on the announcement: the click is acknowledged at once (deferred update, type
    6), then the bot edits the announcement; returns that edit (a recorded PATCH)."""
    mark = fake.mark()
    click = await fake.click(announcement["id"], f"wp:{party_id_of(announcement)}:{choice}", member, **options)
    assert (await click.response()).type == 6
    return await fake.wait_for_request("PATCH", MESSAGE, lambda r: r.params["message_id"] == str(announcement["id"]),
                                       since=mark)


async def rsvp_at_once(fake, announcement: dict, members, choice: str) -> list:
    """`members` click the same RSVP button at the same moment; their acknowledgements (callbacks), in order.
    Unlike `rsvp` it does not wait for the announcement's edits: the caller counts them."""
    custom_id = f"wp:{party_id_of(announcement)}:{choice}"
    clicks = await asyncio.gather(*(fake.click(announcement["id"], custom_id, member) for member in members))
    return await asyncio.gather(*(click.response() for click in clicks))


async def going_with_dm(fake, announcement, party_id, dm_member, channel_member):
    """Both members going; `dm_member` asks for a DM instead of the channel ping."""
    for member in (dm_member, channel_member):
        await rsvp(fake, announcement, member, "going")
    assert (await (await fake.click(announcement["id"], f"wp:{party_id}:dm", dm_member)).response()).ephemeral


# -- what the tests read ----------------------------------------------------------------------------------------

def party_id_of(announcement) -> int:
    """The party's id, from the announcement's footer ("Watch party #12 · ...")."""
    return int(announcement["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])


def rsvp_field(message, prefix):
    """The announcement's RSVP field whose name starts with `prefix` ("Going", "Maybe", ...)."""
    return next(f for f in message["embeds"][0]["fields"] if f["name"].startswith(prefix))


def display(member):
    return member.nick or member.user.global_name or member.user.username


def reminder_posts(fake, channel, since=0):
    return [r for r in fake.requests_to("POST", MESSAGES, since=since)
            if r.params["channel_id"] == str(channel.id) and "starts" in ((r.json or {}).get("content") or "")]


async def reminder_state(bot, party_id, offset_seconds, wanted, tries=100):
    """The reminder's state once it is `wanted`, or as it is after `tries` looks 50 ms apart."""
    repo = WatchPartyRepository(bot.db)
    for _ in range(tries):
        reminder = await repo.reminder(party_id, offset_seconds)
        if reminder.state == wanted:
            break
        await asyncio.sleep(0.05)
    return reminder.state
