"""The Discord side of news posting (`NewsPoster`): send a story, open its thread, find one after a crash, tell the
admins."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, cast

import aiohttp
import discord

from bot.client import CodeBlueBot
from bot.services.news import AlertThread, NewsPost, PostError
from bot.ui import discard_twin, earlier_twin_thread, notify_admins

from .render import embed_title, forum_post_name, news_allowed_mentions, news_embed, notice_text, role_mention

if TYPE_CHECKING:
    from discord.types.threads import ThreadArchiveDuration

log = logging.getLogger(__name__)

# Answers that prove nothing was posted but may pass: rate limited beyond discord.py's own retries, request timeout.
TEMPORARY_REFUSALS = frozenset({408, 429})
ARCHIVE_CHOICES = (60, 1440, 4320, 10080)  # thread auto-archive durations Discord accepts (minutes)
THREAD_EXISTS = 160004  # Discord's error code: "A thread has already been created for this message"


def _archive(minutes: int) -> ThreadArchiveDuration:
    value = max((m for m in ARCHIVE_CHOICES if m <= minutes), default=60)
    return cast("ThreadArchiveDuration", value)


def news_nonce(delivery_id: int) -> str:
    """The nonce of a story's post, derived from its delivery id (Discord returns the message already stored with
    this nonce, within a few minutes, instead of posting it again; at most 25 characters)."""
    return f"news.{delivery_id}"[:25]


def post_error(exc: discord.HTTPException) -> PostError:
    """What an HTTP error answer means for a news post: 403/404/other 4xx permanent; 408/429 temporary and
    nothing was posted; 5xx temporary, and Discord may have accepted the message anyway."""
    if isinstance(exc, discord.Forbidden):
        return PostError("forbidden", permanent=True)
    if isinstance(exc, discord.NotFound):
        return PostError("channel_missing", permanent=True)
    if exc.status in TEMPORARY_REFUSALS:
        return PostError(f"unavailable: {exc.status}", permanent=False)
    if 400 <= exc.status < 500:
        return PostError(f"rejected: {exc.text[:100]}", permanent=True)
    return PostError(f"unavailable: {exc.status}", permanent=False, maybe_posted=True)


def thread_error(exc: discord.HTTPException) -> PostError:
    """What an HTTP error answer means for an alert's thread: 403 a refusal (no Create Public Threads permission),
    404 the message (or channel) is gone, other 4xx a rejection: all permanent; 408/429/5xx may pass."""
    if isinstance(exc, discord.Forbidden):
        return PostError("forbidden", permanent=True)
    if isinstance(exc, discord.NotFound):
        return PostError("message_missing", permanent=True)
    if exc.status in TEMPORARY_REFUSALS or exc.status >= 500:
        return PostError(f"unavailable: {exc.status}", permanent=False)
    return PostError(f"rejected: {exc.text[:100]}", permanent=True)


class DiscordNewsPoster:
    """What the news service needs from Discord: send a post, open its thread, find one after a crash, tell the
    admins."""

    def __init__(self, bot: CodeBlueBot) -> None:
        self.bot = bot

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.abc.PrivateChannel | discord.Thread:
        """The channel (any kind; the callers check which), from the cache or fetched."""
        channel = self.bot.get_channel(channel_id)
        if channel is not None:
            return channel
        try:
            return await self.bot.fetch_channel(channel_id)
        except discord.NotFound:
            raise PostError("channel_missing", permanent=True) from None
        except discord.Forbidden:
            raise PostError("forbidden", permanent=True) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}", permanent=False) from None

    async def post(self, post: NewsPost) -> int:
        channel = await self._channel(post.channel_id)
        if not isinstance(channel, discord.ForumChannel | discord.TextChannel | discord.Thread):
            raise PostError("not_text_channel", permanent=True)
        embed = news_embed(self.bot, post, channel.guild)
        content = role_mention(post.role_id)
        mentions = news_allowed_mentions(post.role_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                name = forum_post_name(self.bot, channel.guild, post.title)
                created = await channel.create_thread(name=name, content=content, embed=embed,
                                                      allowed_mentions=mentions)
                twin = earlier_twin_thread(channel, created.thread, {name})
                if twin is not None:  # stored, answered 5xx and sent again by discord.py (a forum post has no nonce)
                    await discard_twin(created.thread, kept=twin.id)
                    return twin.id  # a forum post's starter message has the thread's id
                return created.message.id
            # discord.py resends a 500/502/504 by itself: the nonce (enforced) keeps a message Discord stored before
            # failing from being posted twice, and so does it for the service's own resend of the same story.
            message = await channel.send(content, embed=embed, allowed_mentions=mentions,
                                         nonce=news_nonce(post.delivery_id))
        except discord.HTTPException as exc:
            raise post_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The request may have reached Discord before the connection failed: the service checks first.
            raise PostError(f"unavailable: {exc}"[:200], permanent=False, maybe_posted=True) from None
        return message.id

    async def open_thread(self, alert: AlertThread, *, check_existing: bool) -> int | None:
        """The alert's own discussion thread (text channels only; the service opens it after the post, records a
        failure and retries it, never sending the message again). `check_existing`: a thread the message already
        has (its id is the message's) is returned instead of opening a second."""
        try:
            channel = await self._channel(alert.channel_id)
            if not isinstance(channel, discord.TextChannel):
                return None  # a forum post is a thread already; a thread cannot hold threads
            if check_existing:
                existing = channel.guild.get_thread(alert.message_id)
                if existing is None:
                    existing = (await channel.fetch_message(alert.message_id)).thread
                if existing is not None:
                    return existing.id
            thread = await channel.get_partial_message(alert.message_id).create_thread(
                name=forum_post_name(self.bot, channel.guild, alert.title),
                auto_archive_duration=_archive(alert.archive_minutes))
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return alert.message_id
            raise thread_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}"[:200], permanent=False) from None
        return thread.id

    async def edit(self, channel_id: int, message_id: int, post: NewsPost) -> None:
        """A correction: the message's embed replaced, marked updated (nothing pinged: no content is sent)."""
        channel = await self._channel(channel_id)
        guild = getattr(channel, "guild", None)
        # A forum post's starter message lives in the post's thread, whose id is the message id.
        target = message_id if isinstance(channel, discord.ForumChannel) else channel_id
        try:
            await self.bot.get_partial_messageable(target).get_partial_message(message_id).edit(
                embed=news_embed(self.bot, post, guild), allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            raise post_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}"[:200], permanent=False) from None

    async def find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        try:
            return await self._find_posted(channel_id, link, title, since)
        except discord.HTTPException as exc:
            raise post_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}"[:200], permanent=False) from None

    async def _find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        channel = await self._channel(channel_id)
        if isinstance(channel, discord.ForumChannel):
            name = forum_post_name(self.bot, channel.guild, title)
            for thread in channel.threads:
                if thread.name == name and thread.created_at and thread.created_at >= since:
                    return thread.id  # a forum post's starter message has the thread's id
            return None
        if not isinstance(channel, discord.TextChannel | discord.Thread) or self.bot.user is None:
            return None
        me = self.bot.user.id
        # Newest first, paging back until `since`: every message since the attempt is read, however many alerts
        # went out around it (a fixed count of the oldest ones missed a story in the middle of a burst).
        async for message in channel.history(limit=None, after=since, oldest_first=False):
            if message.author.id == me and any(
                (link and e.url == link) or (not link and e.title == embed_title(title)) for e in message.embeds
            ):
                return message.id
        return None

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        guild = self.bot.get_guild(guild_id)
        return await notify_admins(self.bot, guild_id, notice_text(self.bot, guild, key, params))
