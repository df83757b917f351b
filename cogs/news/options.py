"""Per-feed options of `/news feed add` and `/news feed edit`: `ping:<role|none>` and `thread:on|off|server`."""

from __future__ import annotations

import re

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.services.news import UNCHANGED
from bot.ui import Interaction, text

from .render import cut

NO_PING = ("none", "no", "off", "0", "없음", "안함")
SERVER_PING = ("default", "server", "기본", "서버")
THREAD_CHOICES = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off"),
                  app_commands.Choice(name="server", value="server")]
_ROLE_ID = re.compile(r"<@&(\d+)>|(\d+)")


def parse_ping(interaction: Interaction, raw: str | None) -> object:
    """None (option not given) -> UNCHANGED; "none" -> 0 (quiet); "default" -> None (the news role); else a role of
    this server by mention, id or name. An unknown role is refused."""
    if raw is None:
        return UNCHANGED
    value = raw.strip()
    if value.casefold() in NO_PING:
        return 0
    if value.casefold() in SERVER_PING:
        return None
    guild = interaction.guild
    role: discord.Role | None = None
    if guild is not None:
        match = _ROLE_ID.fullmatch(value)
        if match:
            role = guild.get_role(int(match.group(1) or match.group(2)))
        else:
            role = next((r for r in guild.roles if r.name.casefold() == value.casefold()), None)
    if role is None or role.is_default():
        raise UserFacingError("news.feed.bad_ping", ping=cut(value, 100))
    return role.id


def parse_thread(choice: app_commands.Choice[str] | None) -> object:
    if choice is None:
        return UNCHANGED
    return {"on": True, "off": False}.get(choice.value)


async def ping_autocomplete(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    needle = current.casefold()
    choices = [app_commands.Choice(name=text(interaction, "news.feed.ping_none"), value="none"),
               app_commands.Choice(name=text(interaction, "news.feed.ping_default"), value="default")]
    if interaction.guild is not None:
        choices += [app_commands.Choice(name=cut("@" + role.name, 100), value=str(role.id))
                    for role in interaction.guild.roles
                    if not role.is_default() and not role.managed and needle in role.name.casefold()]
    return choices[:25]
