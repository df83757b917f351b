"""/timezone set and /timezone show: the zone a member's watch-party times are read in."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.timezones import timezone_choices
from bot.services.watchparties import MemberTimezones
from bot.ui import Interaction, text


async def timezone_autocomplete(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=name, value=name) for name in timezone_choices(current, limit=25)]


class TimezoneCog(commands.Cog):
    timezone = app_commands.Group(name="timezone", description="Your time zone for watch-party times")

    def __init__(self, timezones: MemberTimezones) -> None:
        self.timezones = timezones

    @timezone.command(name="set", description="Set your time zone (e.g. Asia/Seoul, America/New_York, KST)")
    @app_commands.describe(tz="An IANA time zone or a common abbreviation")
    @app_commands.autocomplete(tz=timezone_autocomplete)
    async def timezone_set(self, interaction: Interaction, tz: str) -> None:
        resolution = await self.timezones.set_member_timezone(interaction.user.id, tz)
        now = discord.utils.utcnow().astimezone(resolution.zone)
        reply = text(interaction, "timezone.saved", tz=resolution.name, now=f"{now:%H:%M}")
        if resolution.abbreviation:
            reply += "\n" + text(interaction, "timezone.abbreviation", abbreviation=resolution.abbreviation,
                                 tz=resolution.name)
        await interaction.response.send_message(reply, ephemeral=True)

    @timezone.command(name="show", description="Show the time zone used for your watch-party times")
    async def timezone_show(self, interaction: Interaction) -> None:
        zone = await self.timezones.member_zone(interaction.user.id, interaction.guild_id)
        now = discord.utils.utcnow().astimezone(zone.resolution.zone)
        await interaction.response.send_message(
            text(interaction, f"timezone.show.{zone.source}", tz=zone.resolution.name, now=f"{now:%H:%M}"),
            ephemeral=True)
