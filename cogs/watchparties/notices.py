"""Telling members: reminders and cancellation notices, in the channel (mentions) and by DM, and which Discord
failures cannot have delivered anything (so that the service may safely try a reminder again)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import aiohttp
import discord

from bot.client import CodeBlueBot
from bot.services.watchparties import Party, ReminderNotDelivered, Rsvp
from bot.ui import NO_MENTIONS, notify_admins

from . import render

log = logging.getLogger(__name__)
CONTENT_LIMIT = 2000

# What a post to Discord can fail with: an answer (HTTPException) or no answer (network failure, timeout).
DISCORD_FAILURES = (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError)


def is_network_failure(error: BaseException) -> bool:
    """Discord unreachable or failing (no answer, or a 5xx), as opposed to refusing (a 4xx: permissions, closed
    DMs) which a retry would not change."""
    if isinstance(error, discord.HTTPException):
        return error.status >= 500
    return isinstance(error, DISCORD_FAILURES)


def not_delivered(error: BaseException) -> bool:
    """Whether a failed post certainly was not delivered, so that sending it again cannot post it twice.

    - No connection was made (aiohttp.ClientConnectorError: DNS, refused, TLS): nothing reached Discord.
    - A 5xx answer: Discord says it failed. (discord.py has already re-sent 500/502/504 by itself before we see
      one, so treating a 5xx as "may have posted" would buy no at-most-once guarantee anyway.)
    A timeout or a connection lost after the request was sent (ServerDisconnectedError, ClientOSError, a bare
    OSError) may have posted: those are never retried (at most once: one missed reminder beats two)."""
    if isinstance(error, discord.HTTPException):
        return error.status >= 500
    return isinstance(error, aiohttp.ClientConnectorError)


def error_text(error: BaseException) -> str:
    if isinstance(error, discord.HTTPException):
        return f"{error.status} {error.text}"[:200]
    return (type(error).__name__ + (f": {error}" if str(error) else ""))[:200]


class PartyNotices:
    def __init__(self, bot: CodeBlueBot) -> None:
        self.bot = bot

    async def send_reminder(self, party: Party, offset: timedelta, recipients: Sequence[Rsvp], *,
                            late: bool) -> None:
        """The service's `PartyPoster.send_reminder`: ping the server's watch-party role and the recipients; a
        failure other than Discord being unreachable is also told to the admins."""
        await self.bot.wait_until_ready()
        t = render.server_text(self.bot, party.guild_id)
        settings = await self.bot.settings_service.get(party.guild_id)
        body = render.reminder_text(t, party, at_start=not offset, late=late)
        try:
            await self.notify(party, recipients, body, body, settings.watchparty_ping_role_id)
        except ReminderNotDelivered:
            raise  # Discord unreachable: the service tries again shortly, nobody to tell yet
        except DISCORD_FAILURES as exc:
            await notify_admins(self.bot, party.guild_id,
                                t("watchparty.reminder.failed", title=party.title,
                                  channel=render.channel_mention(party.channel_id), error=error_text(exc)))
            raise

    async def notify(self, party: Party, people: Sequence[Rsvp], channel_text: str, dm_text: str,
                     role_id: int | None = None) -> None:
        """Post `channel_text` mentioning the role and the members who want channel pings (exactly those may be
        pinged), split if the mentions do not fit one message; DM the others. The two paths are independent: the
        DMs go out even when the channel post fails; a closed DM only skips that member.

        Raises ReminderNotDelivered when nothing was delivered and every network failure was one that cannot have
        delivered anything (`not_delivered`), so trying it all again cannot post twice; otherwise the channel
        post's error, if it failed. A DM lost to a network failure while something else was delivered is only
        logged: retrying would repeat what was delivered."""
        posted: list[int] = []
        channel_error: BaseException | None = None
        network_errors: list[BaseException] = []
        try:
            await self._post_with_mentions(party, [r.user_id for r in people if not r.dm_reminders], channel_text,
                                           role_id, posted)
        except DISCORD_FAILURES as exc:
            channel_error = exc
            if is_network_failure(exc):
                network_errors.append(exc)
        dms_sent = 0
        for user_id in (r.user_id for r in people if r.dm_reminders):
            try:
                user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
                await user.send(dm_text, allowed_mentions=NO_MENTIONS)
                dms_sent += 1
            except DISCORD_FAILURES as exc:
                if is_network_failure(exc):
                    network_errors.append(exc)
                log.info("could not DM user %s about party %s: %r", user_id, party.id, exc)
        if network_errors and not posted and not dms_sent and all(not_delivered(e) for e in network_errors):
            raise ReminderNotDelivered(error_text(network_errors[0]))
        if channel_error is not None:
            raise channel_error

    async def _post_with_mentions(self, party: Party, user_ids: Sequence[int], channel_text: str,
                                  role_id: int | None, posted: list[int]) -> None:
        """Post the text with the mentions, in as many messages as the mentions need; the ids of the messages
        posted are appended to `posted` as they go (so a caller knows what was delivered when a later one fails)."""
        channel = self.bot.get_partial_messageable(party.channel_id, guild_id=party.guild_id)
        prefix = [render.role_mention(role_id)] if role_id else []
        chunks: list[tuple[list[int], str]] = []
        users: list[int] = []
        line = " ".join(prefix)
        for user_id in user_ids:
            mention = render.user_mention(user_id)
            budget = CONTENT_LIMIT - (len(channel_text) + 1 if not chunks else 0)
            if len(line) + len(mention) + 1 > budget:
                chunks.append((users, line))
                users, line = [], ""
            users.append(user_id)
            line = f"{line} {mention}".strip()
        chunks.append((users, line))
        for index, (chunk_users, mentions) in enumerate(chunks):
            content = f"{mentions}\n{channel_text}" if index == 0 else mentions
            if not content.strip():
                continue
            allowed = discord.AllowedMentions(
                everyone=False, replied_user=False,
                users=[discord.Object(u) for u in chunk_users],
                roles=[discord.Object(role_id)] if role_id and index == 0 else False,
            )
            message = await channel.send(content.strip(), allowed_mentions=allowed)
            posted.append(message.id)
