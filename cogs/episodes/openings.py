"""Automatic thread openings follow the bot's life: rebuilt at start-up, stopped when the bot leaves a server,
resumed when it is added back, and retried at once when an admin changes the configuration."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import Interaction

from .base import EpisodeCogBase

log = logging.getLogger(__name__)
AppCommand = app_commands.Command[commands.Cog, ..., object] | app_commands.ContextMenu


class OpeningsCog(EpisodeCogBase, name="EpisodeOpenings"):
    async def cog_load(self) -> None:
        shows = await self.service.openings.rebuild_jobs()
        log.info("episode opening jobs rebuilt for %d show(s)", shows)

    async def cog_unload(self) -> None:
        self.service.jobs.remove_all()

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: Interaction, command: AppCommand) -> None:
        """An admin changed the channels or roles: failed automatic openings get another try right away
        instead of at their next retry."""
        if interaction.guild_id and command.qualified_name.startswith("config "):
            retried = await self.service.openings.retry_failed_now(interaction.guild_id)
            if retried:
                log.info("retrying %d failed episode opening(s) in guild %s", retried, interaction.guild_id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or left: the server's automatic openings stop retrying (its shows and episodes are kept)."""
        try:
            stopped = await self.service.openings.stop_openings(guild.id)
        except Exception:
            log.exception("could not stop the episode openings of guild %s", guild.id)
            return
        if stopped:
            log.info("left guild %s: stopped %d episode opening job(s)", guild.id, stopped)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Added (back): the server's pending openings, stopped when the bot left, are scheduled again."""
        try:
            await self.service.openings.resume_openings(guild.id)
        except Exception:
            log.exception("could not schedule the episode openings of guild %s", guild.id)
