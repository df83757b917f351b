"""Why an episode thread could not open, as the member or the server's admins are told it."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.errors import UserFacingError
from bot.services.episodes import NotAiredError
from bot.ui import Interaction, permission_label

from .render import Say, air_time, channel_link


class ChannelPermissionError(UserFacingError):
    """The bot lacks permissions in the discussion channel; `names` are discord.Permissions attribute names."""

    def __init__(self, channel_id: int, names: list[str]) -> None:
        super().__init__("episodes.channel_missing", channel=channel_link(channel_id), permissions=", ".join(names))
        self.channel_id = channel_id
        self.names = names


def for_member(interaction: Interaction, error: UserFacingError) -> UserFacingError:
    """The error as the member who interacted reads it: permission names in their language, an air time as a
    Discord timestamp. Any other error is returned as it is."""
    if isinstance(error, ChannelPermissionError):
        labels = ", ".join(permission_label(interaction, name) for name in error.names)
        return UserFacingError(error.key, channel=channel_link(error.channel_id), permissions=labels)
    if isinstance(error, NotAiredError):
        return UserFacingError(error.key, **error.params, when=air_time(error.airs_at))
    return error


def failure_kind(error: BaseException) -> str:
    """The kind of an opening failure: admins are told once per kind; transient kinds only when they persist."""
    if isinstance(error, ChannelPermissionError):
        return "missing_permissions:" + ",".join(sorted(error.names))
    if isinstance(error, UserFacingError):
        return error.key.removeprefix("episodes.")
    if isinstance(error, discord.Forbidden):
        return "forbidden"
    if isinstance(error, discord.DiscordServerError | aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return "discord_unavailable"
    if isinstance(error, discord.HTTPException):
        return f"http_{error.status}"
    return "unexpected"


def failure_reason(say: Say, error: BaseException) -> str:
    """What went wrong and what to fix, in the language `say` speaks."""
    if isinstance(error, ChannelPermissionError):
        labels = [say(f"permissions.{name}") for name in error.names]
        return say(error.key, channel=channel_link(error.channel_id), permissions=", ".join(labels))
    if isinstance(error, NotAiredError):
        return say(error.key, **error.params, when=air_time(error.airs_at))
    if isinstance(error, UserFacingError):
        return say(error.key, **error.params)
    kind = failure_kind(error)
    if kind.startswith("http_") and isinstance(error, discord.HTTPException):
        return say("episodes.failure.http", status=error.status, message=str(error.text)[:200])
    return say(f"episodes.failure.{kind}")
