"""What watch-party messages look like: the announcement embed and its persistent buttons, list pages, reminder
texts, links to a party, the scheduled event's fields and the calendar file. All Discord markup of the area is
written here; the service hands over ids and datetimes."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import NamedTuple

import discord
from discord.utils import TimestampStyle, format_dt

from bot.client import CodeBlueBot
from bot.domain.calendar import CalendarEvent, build_ics, party_uid
from bot.services.watchparties import Party, Rsvp
from bot.ui import guild_text

RSVP_ACTIONS = ("going", "maybe", "declined")
NAMES_SHOWN = 10
EVENT_DESCRIPTION_MAX = 1000
PARTY_CUSTOM_ID = r"wp:(?P<party>[0-9]+):(?P<action>going|maybe|declined|dm)"
LIST_CUSTOM_ID = r"wpl:(?P<page>[0-9]+):(?P<direction>prev|next)"
_STYLES = {"going": discord.ButtonStyle.success, "maybe": discord.ButtonStyle.primary,
           "declined": discord.ButtonStyle.danger, "dm": discord.ButtonStyle.secondary}
_COLOURS = {"scheduled": discord.Colour.blurple(), "cancelled": discord.Colour.red(),
            "ended": discord.Colour.dark_grey()}

Text = Callable[..., str]  # (key, **params) -> message in the audience's language
# (party_id, action, *, label, style, disabled) -> the announcement's persistent button
ButtonFactory = Callable[..., discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]]]


def server_text(bot: CodeBlueBot, guild_id: int) -> Text:
    """Messages the whole server sees (announcements, reminders, events), in the server's preferred language."""
    return functools.partial(guild_text, bot, bot.get_guild(guild_id))


def timestamp(moment: datetime, style: TimestampStyle) -> str:
    return format_dt(moment, style)


def when_text(moment: datetime) -> str:
    return f"{timestamp(moment, 'F')} ({timestamp(moment, 'R')})"


def user_mention(user_id: int) -> str:
    return f"<@{user_id}>"


def channel_mention(channel_id: int) -> str:
    return f"<#{channel_id}>"


def role_mention(role_id: int) -> str:
    return f"<@&{role_id}>"


def channel_link(guild_id: int, channel_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}"


def party_link(party: Party) -> str:
    """The announcement's link, or the channel's while it has none."""
    base = channel_link(party.guild_id, party.channel_id)
    return f"{base}/{party.message_id}" if party.message_id else base


def show_text(t: Text, party: Party) -> str | None:
    if not party.show and party.episode is None:
        return None
    if party.episode is None:
        return party.show
    episode = t("watchparty.embed.episode", number=party.episode)
    return f"{party.show} · {episode}" if party.show else episode


def _names(t: Text, rsvps: Sequence[Rsvp]) -> str:
    if not rsvps:
        return "—"
    names = ", ".join(discord.utils.escape_markdown(r.display_name) for r in rsvps[:NAMES_SHOWN])
    more = len(rsvps) - NAMES_SHOWN
    return names + (" " + t("watchparty.embed.more", count=more) if more > 0 else "")


def party_embed(t: Text, party: Party, rsvps: Sequence[Rsvp]) -> discord.Embed:
    by_status = {status: [r for r in rsvps if r.status == status] for status in RSVP_ACTIONS}
    title = party.title if party.status == "scheduled" else t(f"watchparty.embed.title_{party.status}",
                                                               title=party.title)
    embed = discord.Embed(title=title, description=party.description or None, colour=_COLOURS[party.status])
    show = show_text(t, party)
    if show:
        embed.add_field(name=t("watchparty.embed.show"), value=show, inline=True)
    embed.add_field(name=t("watchparty.embed.host"), value=user_mention(party.host_id), inline=True)
    embed.add_field(name=t("watchparty.embed.starts"), value=when_text(party.starts_at), inline=False)
    embed.add_field(name=t("watchparty.embed.duration"),
                    value=t("watchparty.embed.minutes", minutes=party.duration_minutes), inline=True)
    if party.voice_channel_id:
        embed.add_field(name=t("watchparty.embed.voice"), value=channel_mention(party.voice_channel_id), inline=True)
    for status in RSVP_ACTIONS:
        embed.add_field(name=t(f"watchparty.embed.{status}", count=len(by_status[status])),
                        value=_names(t, by_status[status]), inline=False)
    embed.set_footer(text=t("watchparty.embed.footer", id=party.id))
    return embed


def party_view(t: Text, party: Party, rsvps: Sequence[Rsvp], button: ButtonFactory) -> discord.ui.View:
    """Going / Maybe / Can't go with counts, and the DM toggle; all disabled once the party is not scheduled."""
    view = discord.ui.View(timeout=None)
    disabled = party.status != "scheduled"
    for action in (*RSVP_ACTIONS, "dm"):
        count = sum(1 for r in rsvps if r.status == action)
        label = t(f"watchparty.button.{action}", count=count)
        view.add_item(button(party.id, action, label=label, style=_STYLES[action], disabled=disabled))
    return view


class Announcement(NamedTuple):
    embed: discord.Embed
    view: discord.ui.View


def announcement(t: Text, party: Party, rsvps: Sequence[Rsvp], button: ButtonFactory) -> Announcement:
    return Announcement(party_embed(t, party, rsvps), party_view(t, party, rsvps, button))


def list_embed(t: Text, parties: Sequence[Party], going: Sequence[int], page: int, pages: int) -> discord.Embed:
    embed = discord.Embed(title=t("watchparty.list.title"), colour=discord.Colour.blurple())
    if not parties:
        embed.description = t("watchparty.list.empty")
    for party, count in zip(parties, going, strict=True):
        show = show_text(t, party)
        lines = [when_text(party.starts_at), t("watchparty.list.line", host=user_mention(party.host_id), going=count)]
        if show:
            lines.insert(0, show)
        embed.add_field(name=f"#{party.id} · {party.title}"[:256], value="\n".join(lines), inline=False)
    embed.set_footer(text=t("watchparty.list.footer", page=page + 1, pages=pages))
    return embed


def reminder_text(t: Text, party: Party, *, at_start: bool, late: bool) -> str:
    key = "watchparty.reminder.now" if at_start else "watchparty.reminder.soon"
    body = t(key, title=party.title, start=timestamp(party.starts_at, "F"),
             relative=timestamp(party.starts_at, "R"), link=party_link(party))
    return t("watchparty.reminder.late") + " " + body if late else body


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def reminder_marker(party: Party, offset_seconds: int) -> str:
    """What identifies one reminder post (party, offset and the time it is for): shown at the end of its embed
    footer, where `find_reminder` looks for it after a crash, and the stem of its nonces."""
    fire_at = int(party.starts_at.timestamp()) - offset_seconds
    return f"r{_base36(party.id)}.{_base36(offset_seconds)}.{_base36(max(fire_at, 0))}"


def reminder_nonce(marker: str, index: int) -> str:
    """The nonce of the `index`-th message of a reminder post (Discord refuses a second message with the same nonce
    for a few minutes; at most 25 characters)."""
    return f"{marker}.{index}"[-25:]


def dm_nonce(key: str, user_id: int) -> str:
    """The nonce of the DM about `key` (a reminder's marker, or a party's cancellation) to one member: the same for
    every try, so a DM that Discord stored but answered with an error is returned by the next try, not sent twice
    (Discord returns the earlier message for a repeated nonce for a few minutes; at most 25 characters)."""
    return hashlib.sha256(f"{key}:{user_id}".encode()).hexdigest()[:25]


def reminder_embed(t: Text, party: Party, marker: str) -> discord.Embed:
    return discord.Embed().set_footer(text=t("watchparty.reminder.footer", id=party.id, marker=marker))


def is_reminder_post(message: discord.Message, bot_id: int, marker: str) -> bool:
    return message.author.id == bot_id and any(
        (embed.footer.text or "").endswith(marker) for embed in message.embeds)


def event_description(t: Text, party: Party) -> str:
    """The scheduled event's description: the show, the party's description and the link to its announcement."""
    return "\n".join(x for x in (show_text(t, party), party.description, party_link(party)) if x)[
        :EVENT_DESCRIPTION_MAX]


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What the party's scheduled event says: a voice or stage event in its voice channel, else an external one
    located at its text channel (or its link when the channel is unknown)."""

    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    voice: discord.VoiceChannel | discord.StageChannel | None
    location: str  # used when there is no voice channel

    @property
    def entity_type(self) -> discord.EntityType:
        if self.voice is None:
            return discord.EntityType.external
        if isinstance(self.voice, discord.VoiceChannel):
            return discord.EntityType.voice
        return discord.EntityType.stage_instance


def event_plan(t: Text, party: Party, guild: discord.Guild) -> EventPlan:
    found = guild.get_channel(party.voice_channel_id) if party.voice_channel_id else None
    voice = found if isinstance(found, discord.VoiceChannel | discord.StageChannel) else None
    channel = guild.get_channel(party.channel_id)
    return EventPlan(name=party.title, description=event_description(t, party), starts_at=party.starts_at,
                     ends_at=party.ends_at, voice=voice,
                     location=f"#{channel.name}" if channel else party_link(party))


def calendar_event(party: Party) -> CalendarEvent:
    lines = []
    if party.show:
        lines.append(f"{party.show} #{party.episode}" if party.episode is not None else party.show)
    if party.description:
        lines.append(party.description)
    lines.append(party_link(party))
    return CalendarEvent(
        uid=party_uid(party.id),
        title=party.title,
        description="\n".join(lines),
        starts_at=party.starts_at,
        ends_at=party.ends_at,
        location=channel_link(party.guild_id, party.voice_channel_id or party.channel_id),
        url=party_link(party),
        cancelled=party.status == "cancelled",
        sequence=party.sequence,
    )


def calendar_file(parties: Sequence[Party], *, calendar_name: str, stamp: datetime) -> bytes:
    """An .ics file with one event per party."""
    return build_ics([calendar_event(p) for p in parties], calendar_name=calendar_name, stamp=stamp)


def party_choice(party: Party, zone: tzinfo) -> str:
    """An autocomplete entry: the title, then the start in the member's zone (at most 100 characters)."""
    when = party.starts_at.astimezone(zone)
    suffix = f" · {when:%m-%d %H:%M} · #{party.id}"
    return party.title[: 100 - len(suffix)] + suffix
