"""Watch-party service models: limits, the poster protocol, requests and the results commands get back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain.timeparse import ParsedWhen
from bot.domain.timezones import ZoneResolution
from db.watchparties import Party, Rsvp

# Discord's limits for a scheduled event's name and description: the most a server's own limits
# (GuildSettings.max_party_title_length / max_party_description_length, set with /config limits) can allow.
TITLE_MAX = 100
DESCRIPTION_MAX = 1000
SHOW_MAX = 100
DEFAULT_DURATION_MINUTES = 60
MAX_DURATION_MINUTES = 24 * 60
MAX_REPEAT_WEEKLY = 12
PAGE_SIZE = 5
RETRY_DELAY = timedelta(minutes=1)  # a reminder Discord could not be reached for is tried again this much later


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReminderNotDelivered(Exception):
    """The poster reached nobody and nothing it attempted can have been delivered (Discord unreachable or
    answering 5xx): the reminder may safely be tried again."""


class DmLedger(Protocol):
    """The record of a reminder's DMs, kept by the service: `claim` right before a DM (True: recorded now, send it;
    False: recorded before, so it was sent or a crash interrupted it: never sent twice); `release` when the DM
    certainly did not go out (Discord unreachable), so a retry may send it."""

    async def claim(self, user_id: int) -> bool: ...

    async def release(self, user_id: int) -> None: ...


class PartyPoster(Protocol):
    """What the service needs from Discord; the cog implements it."""

    async def wait_until_ready(self) -> None:
        """Return once Discord can be reached (the bot is ready)."""

    def serves_guild(self, guild_id: int) -> bool:
        """Whether the bot is (still) in this server: reminders for a server that removed it are skipped."""

    async def send_reminder(self, party: Party, offset: timedelta, recipients: Sequence[Rsvp], *, late: bool,
                            dms: DmLedger, channel: bool = True) -> None:
        """Post the reminder (unless `channel` is False: it was found posted already) with a marker `find_reminder`
        recognises: mention the recipients who want channel pings, DM those with `dm_reminders` (see
        `reminder_recipients`), each only if `dms.claim` records it first; raise ReminderNotDelivered when nothing
        was delivered and a retry is safe, another exception if the channel post itself failed otherwise."""

    async def find_reminder(self, party: Party, offset: timedelta, since: datetime | None) -> bool:
        """After a crash: whether this reminder's channel post is in the channel (posted since `since`, real time;
        None: search the channel's recent messages). Raises when the channel could not be read."""

    async def reminder_undelivered(self, party: Party, error: str) -> None:
        """Discord stayed unreachable for this reminder through its grace window (given up): tell the admins, once
        per server while the outage lasts."""

    async def party_ended(self, party: Party) -> None:
        """The party is over: disable its buttons."""


@dataclass(frozen=True, slots=True)
class PartyRequest:
    guild_id: int
    channel_id: int
    host_id: int
    title: str
    when: str
    timezone: str | None = None  # an explicit zone for this party; else the member's, the server's, UTC
    description: str | None = None
    show: str | None = None
    episode: int | None = None
    duration_minutes: int = DEFAULT_DURATION_MINUTES
    voice_channel_id: int | None = None
    repeat_weekly: int = 1


@dataclass(frozen=True, slots=True)
class Created:
    parties: list[Party]
    when: ParsedWhen  # its zone_name/zone_abbreviation say which zone the text was read in


@dataclass(frozen=True, slots=True)
class RebuildReport:
    scheduled: int  # reminder jobs for the future
    late: int  # overdue within grace: run now, saying they are late
    skipped: int  # overdue beyond grace: recorded as skipped
    unknown: int  # left in 'sending' by a crash: reconciled (looked for in the channel, sent if not found)
    parties: int  # end-of-party jobs


@dataclass(frozen=True, slots=True)
class MemberZone:
    resolution: ZoneResolution
    source: str  # "member", "server" or "default"


def reminder_recipients(rsvps: Sequence[Rsvp]) -> list[Rsvp]:
    """Who is reminded: every Going member (pinged in the channel, or by DM if they toggled "DM me"), and Maybe
    members who toggled "DM me" (they asked for it; Maybe alone never pings anyone). Declined: nobody."""
    return [r for r in rsvps if r.status == "going" or (r.status == "maybe" and r.dm_reminders)]
