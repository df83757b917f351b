"""/help: what the bot does and the commands this member may use, in their language."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.i18n import language_for
from bot.ui import Interaction, is_moderator, text

AnyCommand = app_commands.Command[Any, ..., Any]


def _allowed(command: AnyCommand, permissions: discord.Permissions, moderator: bool) -> bool:
    """Whether to list `command`: its default permissions, and `extras["audience"] == "moderator"` on it or a parent."""
    root = command.root_parent or command
    needed = root.default_permissions
    if needed is not None and not permissions >= needed:
        return False
    node: AnyCommand | app_commands.Group | None = command
    while node is not None:
        if node.extras.get("audience") == "moderator" and not moderator:
            return False
        node = node.parent
    return True


class HelpCog(commands.Cog):
    def __init__(self, bot: CodeBlueBot) -> None:
        self.bot = bot

    def usable_commands(self, permissions: discord.Permissions, moderator: bool) -> list[AnyCommand]:
        found = [command for command in self.bot.tree.walk_commands()
                 if isinstance(command, app_commands.Command) and _allowed(command, permissions, moderator)]
        return sorted(found, key=lambda c: c.qualified_name)

    def command_line(self, language: str, command: AnyCommand) -> str:
        catalog = self.bot.catalog
        parts: list[str] = []
        node: AnyCommand | app_commands.Group | None = command
        while node is not None:
            parts.append(catalog.command_text(language, node.qualified_name, "name") or node.name)
            node = node.parent
        description = catalog.command_text(language, command.qualified_name, "description") or command.description
        return f"`/{' '.join(reversed(parts))}` — {description}"

    @app_commands.command(name="help", description="What Code Blue does and the commands you can use")
    async def help(self, interaction: Interaction) -> None:
        language = language_for(interaction.locale)
        settings = await self.bot.settings_service.get(interaction.guild_id) if interaction.guild_id else None
        moderator = is_moderator(interaction, settings.moderator_role_id if settings else None)
        commands_ = self.usable_commands(interaction.permissions, moderator)
        lines = [self.command_line(language, c) for c in commands_]
        embed = discord.Embed(title=text(interaction, "help.title"), description=text(interaction, "help.intro"),
                              colour=discord.Colour.blue())
        # Embed field values are limited to 1024 characters: spread the commands over as many fields as needed.
        chunks: list[list[str]] = [[]]
        for line in lines:
            if sum(len(x) + 1 for x in chunks[-1]) + len(line) > 1000:
                chunks.append([])
            chunks[-1].append(line)
        for index, chunk in enumerate(c for c in chunks if c):
            name = text(interaction, "help.commands") if index == 0 else "\u200b"
            embed.add_field(name=name, value="\n".join(chunk), inline=False)
        if not interaction.permissions.manage_guild:
            embed.set_footer(text=text(interaction, "help.admin_hint"))
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: CodeBlueBot) -> None:
    await bot.add_cog(HelpCog(bot))
