"""Small helpers every cog uses: replies in the member's language, safe mentions, permission checks."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, TypeAlias

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.client import CodeBlueBot

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()
# What every command, button and modal receives: an interaction whose client is the Code Blue bot.
Interaction: TypeAlias = "discord.Interaction[CodeBlueBot]"

# What the bot needs in a channel of each configured kind, by channel type.
_TEXT_BASE = ("view_channel", "send_messages", "embed_links")
CHANNEL_NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "news": {"text": _TEXT_BASE, "forum": (*_TEXT_BASE, "send_messages_in_threads")},
    "discussion": {
        "text": (*_TEXT_BASE, "read_message_history", "create_public_threads", "send_messages_in_threads",
                 "manage_threads"),
        "forum": (*_TEXT_BASE, "read_message_history", "send_messages_in_threads", "manage_threads"),
    },
    "watchparty": {"text": _TEXT_BASE},
    "log": {"text": _TEXT_BASE},
}


def guild_of(interaction: Interaction) -> discord.Guild:
    """The server a guild-only command or component came from (Discord sends those only from servers)."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild


def guild_id_of(interaction: Interaction) -> int:
    """The id of the server a guild-only command or component came from."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def channel_family(channel: Any) -> str:
    return "forum" if isinstance(channel, discord.ForumChannel) else "text"


def missing_permissions(permissions: discord.Permissions, needed: tuple[str, ...]) -> list[str]:
    return [name for name in needed if not getattr(permissions, name)]


def text(interaction: Interaction, key: str, /, **params: object) -> str:
    """Catalog message `key` in the language of the member who interacted."""
    return interaction.client.catalog.text(interaction.locale, key, **params)


def guild_text(client: CodeBlueBot, guild: discord.Guild | None, key: str, /, **params: object) -> str:
    """Catalog message for posts the whole server sees: in the server's preferred language."""
    locale = guild.preferred_locale if guild is not None else None
    return client.catalog.text(locale, key, **params)


def permission_label(interaction: Interaction, name: str) -> str:
    catalog = interaction.client.catalog
    key = f"permissions.{name}"
    return catalog.text(interaction.locale, key) if catalog.has(key) else name


def is_moderator(interaction: Interaction, moderator_role_id: int | None) -> bool:
    """Manage Server, or the server's configured moderator role."""
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    return bool(moderator_role_id and isinstance(member, discord.Member) and member.get_role(moderator_role_id))


async def notify_admins(client: CodeBlueBot, guild_id: int, content: str) -> bool:
    """Post a notice admins can act on to the server's log channel; False when there is none or it failed."""
    settings = await client.settings_service.get(guild_id)
    channel = client.get_channel(settings.log_channel_id) if settings.log_channel_id else None
    if not isinstance(channel, discord.abc.Messageable):
        log.warning("guild %s has no reachable log channel (%s); admins were not told: %s", guild_id,
                    settings.log_channel_id or "not set", content[:200])
        return False
    try:
        await channel.send(content, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not post to the log channel of guild %s", guild_id, exc_info=True)
        return False
    return True


# A creation Discord stored but answered with a 500/502/504 is sent again by discord.py itself: a thread, a forum
# post or a scheduled event carries no nonce, so the retry makes a twin. The caller keeps the earlier one.
TWIN_WINDOW_SECONDS = 300


def send_nonce() -> str:
    """A nonce for one message send: discord.py resends the same payload after a 500/502/504, and Discord returns
    the message it already stored under this nonce instead of posting a second (20 characters; Discord allows 25)."""
    return secrets.token_hex(10)


def earlier_twin_thread(channel: discord.TextChannel | discord.ForumChannel, created: discord.Thread,
                        names: set[str]) -> discord.Thread | None:
    """A thread the bot made in `channel` shortly before `created`, under one of `names` (its THREAD_CREATE
    reached the bot while discord.py waited before its retry); None when `created` is the only one."""
    window = TWIN_WINDOW_SECONDS * 1000 << 22  # snowflake distance of the window
    twins = [t for t in channel.threads if t.id != created.id and created.id - window < t.id < created.id
             and t.owner_id == created.owner_id and t.name in names and not t.archived]
    return min(twins, key=lambda t: t.id, default=None)


async def earlier_twin_event(guild: discord.Guild, created: discord.ScheduledEvent) -> discord.ScheduledEvent | None:
    """A scheduled event the bot made shortly before `created` with the same name and start (read from Discord:
    the bot does not receive scheduled-event events); None when `created` is the only one or the read fails."""
    window = TWIN_WINDOW_SECONDS * 1000 << 22
    try:
        events = await guild.fetch_scheduled_events(with_counts=False)
    except discord.HTTPException:
        log.warning("could not read the scheduled events of guild %s to look for a twin", guild.id, exc_info=True)
        return None
    twins = [e for e in events if created.id - window < e.id < created.id and e.creator_id == created.creator_id
             and e.name == created.name and e.start_time == created.start_time]
    return min(twins, key=lambda e: e.id, default=None)


async def discard_twin(what: discord.Thread | discord.ScheduledEvent, kept: int) -> None:
    """Delete a twin made by a retried creation; a failure is logged (the twin stays, the earlier one is used)."""
    log.warning("deleting %s %s: a retried creation made it twice (keeping %s)", type(what).__name__, what.id, kept)
    try:
        await what.delete()
    except discord.HTTPException:
        log.warning("could not delete the twin %s", what.id, exc_info=True)
