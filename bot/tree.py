"""The command tree: the one place where app-command errors become ephemeral replies."""

from __future__ import annotations

import logging
import secrets
import string
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.errors import DatabaseUnavailable, UserFacingError
from bot.i18n import Catalog

if TYPE_CHECKING:
    from bot.client import CodeBlueBot

log = logging.getLogger(__name__)
_REF_ALPHABET = string.ascii_uppercase + string.digits


def new_reference() -> str:
    """A short code the member can quote and the operator can grep for in the log."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def _permission_names(catalog: Catalog, locale: discord.Locale, names: list[str]) -> str:
    return ", ".join(catalog.text(locale, f"permissions.{name}") if catalog.has(f"permissions.{name}") else name
                     for name in names)


def describe_error(catalog: Catalog, interaction: discord.Interaction, error: BaseException) -> str:
    """The text a member sees for `error`; unexpected errors are logged with a reference."""
    locale = interaction.locale
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        return catalog.text(locale, error.key, **error.params)
    if isinstance(error, DatabaseUnavailable):  # logged once by the database; nothing of the change was kept
        return catalog.text(locale, "errors.database_unavailable",
                            reason=catalog.text(locale, f"errors.database.{error.kind}"))
    if isinstance(error, app_commands.MissingPermissions):
        return catalog.text(locale, "errors.missing_permissions",
                            permissions=_permission_names(catalog, locale, error.missing_permissions))
    if isinstance(error, app_commands.BotMissingPermissions):
        return catalog.text(locale, "errors.bot_missing_permissions",
                            permissions=_permission_names(catalog, locale, error.missing_permissions))
    if isinstance(error, app_commands.CommandOnCooldown):
        return catalog.text(locale, "errors.cooldown", seconds=max(1, round(error.retry_after)))
    if isinstance(error, app_commands.NoPrivateMessage):
        return catalog.text(locale, "errors.guild_only")
    if isinstance(error, app_commands.TransformerError):
        return catalog.text(locale, "errors.bad_option", value=str(error.value)[:100])
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return catalog.text(locale, "errors.out_of_date")
    if isinstance(error, app_commands.CheckFailure):
        return catalog.text(locale, "errors.not_allowed")
    reference = new_reference()
    command = interaction.command.qualified_name if interaction.command else "?"
    log.error("unexpected error [ref %s] in /%s (guild %s, user %s)", reference, command,
              interaction.guild_id, interaction.user.id, exc_info=error)
    return catalog.text(locale, "errors.unexpected", reference=reference)


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Answer ephemerally, as a followup when the interaction was already answered or deferred."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        else:
            await interaction.response.send_message(content, ephemeral=True,
                                                    allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        log.warning("could not tell the member about an error in interaction %s", interaction.id, exc_info=True)


class CodeBlueTree(app_commands.CommandTree["CodeBlueBot"]):
    async def interaction_check(self, interaction: discord.Interaction[CodeBlueBot], /) -> bool:
        self.client.command_received(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction[CodeBlueBot], error: app_commands.AppCommandError
    ) -> None:
        text = describe_error(self.client.catalog, interaction, error)
        if interaction.command is not None:
            self.client.command_finished(interaction, interaction.command.qualified_name, "error")
        await send_ephemeral(interaction, text)
