"""What watch-party messages look like: the announcement embed and its persistent buttons, list pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import discord

RSVP_ACTIONS = ("going", "maybe", "declined")
NAMES_SHOWN = 10
PARTY_CUSTOM_ID = r"wp:(?P<party>[0-9]+):(?P<action>going|maybe|declined|dm)"
LIST_CUSTOM_ID = r"wpl:(?P<page>[0-9]+):(?P<direction>prev|next)"
_STYLES = {"going": discord.ButtonStyle.success, "maybe": discord.ButtonStyle.primary,
           "declined": discord.ButtonStyle.danger, "dm": discord.ButtonStyle.secondary}
_COLOURS = {"scheduled": discord.Colour.blurple(), "cancelled": discord.Colour.red(),
            "ended": discord.Colour.dark_grey()}

Text = Callable[..., str]  # (key, **params) -> message in the audience's language


def timestamp(moment: Any, style: str) -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def when_text(moment: Any) -> str:
    return f"{timestamp(moment, 'F')} ({timestamp(moment, 'R')})"


def show_text(t: Text, party: Any) -> str | None:
    if not party.show and party.episode is None:
        return None
    if party.episode is None:
        return party.show
    episode = t("watchparty.embed.episode", number=party.episode)
    return f"{party.show} · {episode}" if party.show else episode


def _names(t: Text, rsvps: Sequence[Any]) -> str:
    if not rsvps:
        return "—"
    names = ", ".join(discord.utils.escape_markdown(r.display_name) for r in rsvps[:NAMES_SHOWN])
    more = len(rsvps) - NAMES_SHOWN
    return names + (" " + t("watchparty.embed.more", count=more) if more > 0 else "")


def party_embed(t: Text, party: Any, rsvps: Sequence[Any]) -> discord.Embed:
    by_status = {status: [r for r in rsvps if r.status == status] for status in RSVP_ACTIONS}
    title = party.title if party.status == "scheduled" else t(f"watchparty.embed.title_{party.status}",
                                                               title=party.title)
    embed = discord.Embed(title=title, description=party.description or None, colour=_COLOURS[party.status])
    show = show_text(t, party)
    if show:
        embed.add_field(name=t("watchparty.embed.show"), value=show, inline=True)
    embed.add_field(name=t("watchparty.embed.host"), value=f"<@{party.host_id}>", inline=True)
    embed.add_field(name=t("watchparty.embed.starts"), value=when_text(party.starts_at), inline=False)
    embed.add_field(name=t("watchparty.embed.duration"),
                    value=t("watchparty.embed.minutes", minutes=party.duration_minutes), inline=True)
    if party.voice_channel_id:
        embed.add_field(name=t("watchparty.embed.voice"), value=f"<#{party.voice_channel_id}>", inline=True)
    for status in RSVP_ACTIONS:
        embed.add_field(name=t(f"watchparty.embed.{status}", count=len(by_status[status])),
                        value=_names(t, by_status[status]), inline=False)
    embed.set_footer(text=t("watchparty.embed.footer", id=party.id))
    return embed


def party_view(t: Text, party: Any, rsvps: Sequence[Any], button: Callable[..., discord.ui.Item]) -> discord.ui.View:
    """Going / Maybe / Can't go with counts, and the DM toggle; all disabled once the party is not scheduled."""
    view = discord.ui.View(timeout=None)
    disabled = party.status != "scheduled"
    for action in (*RSVP_ACTIONS, "dm"):
        count = sum(1 for r in rsvps if r.status == action)
        label = t(f"watchparty.button.{action}", count=count)
        view.add_item(button(party.id, action, label=label, style=_STYLES[action], disabled=disabled))
    return view


def list_embed(t: Text, parties: Sequence[Any], going: Sequence[int], page: int, pages: int) -> discord.Embed:
    embed = discord.Embed(title=t("watchparty.list.title"), colour=discord.Colour.blurple())
    if not parties:
        embed.description = t("watchparty.list.empty")
    for party, count in zip(parties, going, strict=True):
        show = show_text(t, party)
        lines = [when_text(party.starts_at), t("watchparty.list.line", host=f"<@{party.host_id}>", going=count)]
        if show:
            lines.insert(0, show)
        embed.add_field(name=f"#{party.id} · {party.title}"[:256], value="\n".join(lines), inline=False)
    embed.set_footer(text=t("watchparty.list.footer", page=page + 1, pages=pages))
    return embed
