"""Telling members: reminders and cancellation notices, in the channel (mentions) and by DM, and which Discord
failures cannot have delivered anything (so that the service may safely try a reminder again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiohttp
import discord

from bot.client import CodeBlueBot
from bot.services.watchparties import DmLedger, Party, ReminderNotDelivered, Rsvp
from bot.ui import NO_MENTIONS, notify_admins

from . import render

log = logging.getLogger(__name__)
CONTENT_LIMIT = 2000
DM_RETRY_DELAYS = (0.5, 2.0)  # seconds before a DM Discord could not take (5xx, no connection) is tried again
RECENT_CHECKED = 200  # a reminder in doubt with no claim time is looked for among the channel's last messages

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
        # Servers whose admins were told of a Discord outage that cost reminders; cleared by the next reminder
        # delivered there, so one outage is told once however many reminders it costs.
        self.outage_told: set[int] = set()

    async def reminder_undelivered(self, party: Party, error: str) -> None:
        """The service's `PartyPoster.reminder_undelivered`: one notice per server and outage."""
        if party.guild_id in self.outage_told:
            log.info("reminder of party %s lost to the same outage; admins were already told", party.id)
            return
        self.outage_told.add(party.guild_id)  # before the await: reminders given up together tell once
        t = render.server_text(self.bot, party.guild_id)
        if not await notify_admins(self.bot, party.guild_id, t("watchparty.reminder.outage", title=party.title,
                                                               channel=render.channel_mention(party.channel_id),
                                                               error=error[:200])):
            self.outage_told.discard(party.guild_id)  # nobody was told: the next one tries again

    async def send_reminder(self, party: Party, offset: timedelta, recipients: Sequence[Rsvp], *,
                            late: bool, dms: DmLedger, channel: bool = True) -> None:
        """The service's `PartyPoster.send_reminder`: ping the server's watch-party role and the recipients (the
        first message carries the reminder's marker in an embed footer, every message a nonce; skipped when
        `channel` is False), DM the others through the ledger; a failure other than Discord being unreachable is
        also told to the admins."""
        await self.bot.wait_until_ready()
        t = render.server_text(self.bot, party.guild_id)
        settings = await self.bot.settings_service.get(party.guild_id)
        body = render.reminder_text(t, party, at_start=not offset, late=late)
        marker = render.reminder_marker(party, int(offset.total_seconds()))
        try:
            await self.notify(party, recipients, body, body, settings.watchparty_ping_role_id,
                              marker=(marker, render.reminder_embed(t, party, marker)), dms=dms, channel=channel)
            self.outage_told.discard(party.guild_id)  # delivered: an outage there is over
        except ReminderNotDelivered:
            raise  # Discord unreachable: the service tries again shortly, nobody to tell yet
        except DISCORD_FAILURES as exc:
            await notify_admins(self.bot, party.guild_id,
                                t("watchparty.reminder.failed", title=party.title,
                                  channel=render.channel_mention(party.channel_id), error=error_text(exc)))
            raise

    async def find_reminder(self, party: Party, offset: timedelta, since: datetime | None) -> bool:
        """The service's `PartyPoster.find_reminder`: whether the bot's post with this reminder's marker is in the
        party's channel, reading every message since `since` (oldest first, page after page: however many were
        posted around it), or the last RECENT_CHECKED without `since`. A channel that is gone or that the bot may
        not read counts as not found (the post is then tried again with the same nonce); other failures raise."""
        await self.bot.wait_until_ready()
        bot_id = self.bot.user.id if self.bot.user is not None else 0
        marker = render.reminder_marker(party, int(offset.total_seconds()))
        channel = self.bot.get_partial_messageable(party.channel_id, guild_id=party.guild_id)
        after = discord.Object(discord.utils.time_snowflake(since)) if since is not None else None
        try:
            async for message in channel.history(limit=None if after else RECENT_CHECKED, after=after):
                if render.is_reminder_post(message, bot_id, marker):
                    return True
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("could not look for reminder %s in channel %s: %r", marker, party.channel_id, exc)
        return False

    async def notify(self, party: Party, people: Sequence[Rsvp], channel_text: str, dm_text: str,
                     role_id: int | None = None, *, marker: tuple[str, discord.Embed] | None = None,
                     dms: DmLedger | None = None, channel: bool = True) -> None:
        """Post `channel_text` mentioning the role and the members who want channel pings (exactly those may be
        pinged), split if the mentions do not fit one message; DM the others. The two paths are independent: the
        DMs go out even when the channel post fails; a closed DM only skips that member.

        Raises ReminderNotDelivered when the channel post certainly was not delivered (`not_delivered`) and trying
        again cannot repeat a DM (the DMs go through the `dms` ledger, or none went out and no DM failure may have
        delivered), so trying it all again cannot post twice; otherwise the channel post's error, if it failed.
        A DM Discord could not take is tried again (`_dm`); one still lost is only logged."""
        posted: list[int] = []
        channel_error: BaseException | None = None
        network_errors: list[BaseException] = []
        if channel:
            try:
                await self._post_with_mentions(party, [r.user_id for r in people if not r.dm_reminders],
                                               channel_text, role_id, posted, marker)
            except DISCORD_FAILURES as exc:
                channel_error = exc
                if is_network_failure(exc):
                    network_errors.append(exc)
        dms_sent = 0
        dm_key = marker[0] if marker is not None else f"cancel.{party.id}"
        for user_id in (r.user_id for r in people if r.dm_reminders):
            if dms is not None and not await dms.claim(user_id):
                continue  # recorded before: sent already, or interrupted by a crash (at most once per DM)
            try:
                await self._dm(user_id, dm_text, render.dm_nonce(dm_key, user_id))
                dms_sent += 1
            except DISCORD_FAILURES as exc:
                if is_network_failure(exc):
                    network_errors.append(exc)
                if dms is not None and not_delivered(exc):
                    await dms.release(user_id)  # certainly not delivered: a retry may send it
                log.info("could not DM user %s about party %s: %r", user_id, party.id, exc)
        if channel and not posted and channel_error is not None and not_delivered(channel_error) and (
                dms is not None or (not dms_sent and all(not_delivered(e) for e in network_errors))):
            # The channel post certainly went nowhere: a retry is safe. With a DM ledger the DMs that went out are
            # recorded and not sent again; without one, only when no DM went out either.
            raise ReminderNotDelivered(error_text(channel_error))
        if channel_error is not None:
            raise channel_error

    async def _dm(self, user_id: int, text: str, nonce: str) -> None:
        """DM one member; a failure that cannot have delivered anything (5xx, no connection) is tried again
        after each of DM_RETRY_DELAYS, so a short Discord hiccup does not cost the DM. Every try carries the same
        nonce: a 5xx that Discord answered after storing the DM gets the stored one back, not a second DM."""
        for delay in (*DM_RETRY_DELAYS, None):
            try:
                user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
                await user.send(text, allowed_mentions=NO_MENTIONS, nonce=nonce)
                return
            except DISCORD_FAILURES as exc:
                if delay is None or not not_delivered(exc):
                    raise
                await asyncio.sleep(delay)

    async def _post_with_mentions(self, party: Party, user_ids: Sequence[int], channel_text: str,
                                  role_id: int | None, posted: list[int],
                                  marker: tuple[str, discord.Embed] | None = None) -> None:
        """Post the text with the mentions, in as many messages as the mentions need; the ids of the messages
        posted are appended to `posted` as they go (so a caller knows what was delivered when a later one fails).
        With a `marker` (a reminder), the first message carries its embed and every message a nonce."""
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
            if marker is None:
                message = await channel.send(content.strip(), allowed_mentions=allowed)
            else:
                stem, embed = marker
                message = await channel.send(content.strip(), allowed_mentions=allowed,
                                             embeds=[embed] if index == 0 else [],
                                             nonce=render.reminder_nonce(stem, index))
            posted.append(message.id)
