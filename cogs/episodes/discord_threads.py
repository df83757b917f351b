"""The service's ThreadGateway on Discord: forum posts or text-channel threads, their starters and members."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime
from typing import Literal

import discord

from bot.client import CodeBlueBot
from bot.domain.episodes import episode_label, episode_tag_name, episode_thread_name, show_tag_name
from bot.errors import UserFacingError
from bot.i18n import LANGUAGES
from bot.services.episodes import EpisodeThread, StarterInfo
from bot.ui import (
    CHANNEL_NEEDS,
    NO_MENTIONS,
    channel_family,
    discard_twin,
    earlier_twin_thread,
    guild_text,
    missing_permissions,
    notify_admins,
    send_nonce,
)

from .components import starter_view
from .failures import ChannelPermissionError, failure_kind, failure_reason
from .render import Say, relative_time, starter_embed

log = logging.getLogger(__name__)

ArchiveMinutes = Literal[60, 1440, 4320, 10080]
ARCHIVE_DURATIONS: tuple[ArchiveMinutes, ...] = (60, 1440, 4320, 10080)
MAX_FORUM_TAGS = 20
MAX_APPLIED_TAGS = 5
THREAD_ARCHIVED = 50083
"""Discord's error code for an action on an archived thread."""
UNKNOWN_MESSAGE = 10008
THREAD_EXISTS = 160004  # "A thread has already been created for this message"


class DiscordThreads:
    """The service's ThreadGateway: threads in the server's discussion channel, through the bot's connection."""

    def __init__(self, bot: CodeBlueBot) -> None:
        self.bot = bot

    def _say(self, guild: discord.Guild | None) -> Say:
        """Catalog messages in the server's language (what the whole server sees)."""

        def say(key: str, **params: object) -> str:
            return guild_text(self.bot, guild, key, **params)
        return say

    async def ready(self) -> None:
        await self.bot.wait_until_ready()

    def serves_guild(self, guild_id: int) -> bool:
        return self.bot.get_guild(guild_id) is not None

    async def _discussion_channel(self, guild_id: int) -> discord.TextChannel | discord.ForumChannel:
        """The server's discussion channel, checked for the bot's permissions (also where premieres go)."""
        settings = await self.bot.settings_service.get(guild_id)
        channel_id = settings.discussion_channel_id
        channel = self.bot.get_channel(channel_id) if channel_id else None
        if channel is None and channel_id:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                channel = None
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
            raise UserFacingError("episodes.no_channel")
        missing = missing_permissions(channel.permissions_for(channel.guild.me),
                                      CHANNEL_NEEDS["discussion"][channel_family(channel)])
        if missing:
            raise ChannelPermissionError(channel.id, missing)
        return channel

    async def _archive_minutes(self, guild_id: int) -> ArchiveMinutes:
        minutes = (await self.bot.settings_service.get(guild_id)).thread_archive_minutes
        return next((allowed for allowed in ARCHIVE_DURATIONS if allowed == minutes), 10080)

    async def status(self, thread: EpisodeThread) -> str:
        try:
            channel = await self.bot.fetch_channel(thread.thread_id)
        except discord.NotFound:
            return "missing"
        except discord.HTTPException:
            log.warning("could not check thread %s; assuming it exists", thread.thread_id, exc_info=True)
            return "active"
        if isinstance(channel, discord.Thread) and channel.locked:
            return "locked"  # also when a moderator locked it in Discord's own menu, not with /episode lock
        if isinstance(channel, discord.Thread) and channel.archived:
            return "archived"
        return "active"

    async def create(self, starter: StarterInfo) -> EpisodeThread:
        channel = await self._discussion_channel(starter.guild_id)
        guild = channel.guild
        minutes = await self._archive_minutes(starter.guild_id)
        kind = "forum" if isinstance(channel, discord.ForumChannel) else "text"
        # The name is in the server's language ("… · S1E3 · 토론" on a Korean server).
        name = episode_thread_name(starter.show.short_name, starter.episode.season, starter.episode.number,
                                   suffix=guild_text(self.bot, guild, "episodes.thread_suffix"))
        orphan = self._unrecorded_thread(channel, self._names_in_every_language(starter))
        if orphan is not None:
            log.info("adopting thread %s (%s), made before a restart", orphan.id, orphan.name)
            adopted = EpisodeThread(starter.guild_id, starter.episode.id, channel.id, orphan.id, orphan.id, kind,
                                    "open")
            try:
                reposted = await self.refresh_starter(adopted, starter)
            except discord.HTTPException:
                log.warning("could not update the starter of adopted thread %s", orphan.id, exc_info=True)
                reposted = None
            return replace(adopted, starter_message_id=reposted) if reposted else adopted
        embed = starter_embed(self._say(guild), starter)
        view = starter_view(self.bot, guild, starter)
        if isinstance(channel, discord.ForumChannel):
            tags = await self._forum_tags(channel, starter)
            created = await channel.create_thread(name=name, auto_archive_duration=minutes,
                                                  applied_tags=tags, embed=embed, view=view,
                                                  allowed_mentions=NO_MENTIONS)
            twin = earlier_twin_thread(channel, created.thread, {name})
            if twin is not None:  # the creation was stored, answered 5xx and sent again by discord.py
                await discard_twin(created.thread, kept=twin.id)
                return EpisodeThread(starter.guild_id, starter.episode.id, channel.id, twin.id, twin.id, "forum",
                                     "open")
            return EpisodeThread(starter.guild_id, starter.episode.id, channel.id, created.thread.id,
                                 created.message.id, "forum", "open")
        message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS, nonce=send_nonce())
        try:
            thread_id = (await message.create_thread(name=name, auto_archive_duration=minutes)).id
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                await _quietly(message.delete())  # no starter message left without its thread
                raise
            # discord.py sent the creation again after Discord stored it and answered 5xx: the thread is there,
            # under the message's id.
            thread_id = message.id
        return EpisodeThread(starter.guild_id, starter.episode.id, channel.id, thread_id, message.id, "text", "open")

    def _names_in_every_language(self, starter: StarterInfo) -> set[str]:
        """The episode's thread name with each catalog language's suffix: the server's language may have
        changed between making a thread and recording it."""
        return {episode_thread_name(starter.show.short_name, starter.episode.season, starter.episode.number,
                                    suffix=self.bot.catalog.text(language, "episodes.thread_suffix"))
                for language in LANGUAGES}

    def _unrecorded_thread(self, channel: discord.TextChannel | discord.ForumChannel,
                           names: set[str]) -> discord.Thread | None:
        """An open thread the bot owns in `channel` with one of these names (the service only asks when it has
        no row for the episode, so such a thread was made and not recorded)."""
        me = self.bot.user.id if self.bot.user else None
        return next((t for t in channel.threads if t.name in names and t.owner_id == me and not t.archived), None)

    async def _forum_tags(self, forum: discord.ForumChannel, starter: StarterInfo) -> list[discord.ForumTag]:
        """The show's and the episode's tags, created when missing and the bot may manage the channel."""
        wanted = [show_tag_name(starter.show.short_name), episode_tag_name(starter.episode.season,
                                                                           starter.episode.number)]
        by_name = {tag.name.casefold(): tag for tag in forum.available_tags}
        missing = [name for name in wanted if name.casefold() not in by_name]
        room = MAX_FORUM_TAGS - len(forum.available_tags)
        if missing and room > 0 and forum.permissions_for(forum.guild.me).manage_channels:
            new_tags = [*forum.available_tags, *(discord.ForumTag(name=name) for name in missing[:room])]
            try:
                edited = await forum.edit(available_tags=new_tags)
                forum = edited if isinstance(edited, discord.ForumChannel) else forum
                by_name = {tag.name.casefold(): tag for tag in forum.available_tags}
            except discord.HTTPException:
                log.warning("could not add tags to forum %s", forum.id, exc_info=True)
        return [by_name[name.casefold()] for name in wanted if name.casefold() in by_name][:MAX_APPLIED_TAGS]

    async def reopen(self, thread: EpisodeThread) -> None:
        await self.bot.http.edit_channel(thread.thread_id, archived=False)

    async def lock(self, thread: EpisodeThread) -> None:
        await self.bot.http.edit_channel(thread.thread_id, archived=True, locked=True)

    async def delete(self, thread: EpisodeThread) -> None:
        await self.bot.http.delete_channel(thread.thread_id)
        if thread.kind == "text":
            await _quietly(self.bot.http.delete_message(thread.channel_id, thread.starter_message_id))

    async def refresh_starter(self, thread: EpisodeThread, starter: StarterInfo) -> int | None:
        """Edit the starter message; the id of a new one when it had been deleted and was posted again.

        A forum post's starter is inside the post, and Discord refuses edits in an archived thread (50083): an
        archived but unlocked post is reopened and the edit tried again; a locked one keeps its old starter (the
        error is raised for the caller to log). A deleted starter (10008) would take the rating and join buttons
        with it: it is posted again, above the thread in a text channel, or as a new message in a forum post
        (whose first message cannot be recreated).
        """
        guild = self.bot.get_guild(thread.guild_id)
        where = self.bot.get_partial_messageable(thread.starter_channel_id)

        async def edit() -> None:
            await where.get_partial_message(thread.starter_message_id).edit(
                embed=starter_embed(self._say(guild), starter), view=starter_view(self.bot, guild, starter))

        try:
            try:
                await edit()
            except discord.HTTPException as error:
                if error.code != THREAD_ARCHIVED or not await self._reopen_if_unlocked(thread):
                    raise
                await edit()
        except discord.NotFound as error:
            if error.code != UNKNOWN_MESSAGE:
                raise
            log.info("starter message %s of thread %s was deleted: posting it again", thread.starter_message_id,
                     thread.thread_id)
            reposted = await where.send(embed=starter_embed(self._say(guild), starter),
                                        view=starter_view(self.bot, guild, starter), allowed_mentions=NO_MENTIONS)
            return reposted.id
        return None

    async def _reopen_if_unlocked(self, thread: EpisodeThread) -> bool:
        """Unarchive the thread unless a moderator locked it; whether an edit may be tried again."""
        channel = await self.bot.fetch_channel(thread.thread_id)
        if not isinstance(channel, discord.Thread) or channel.locked:
            return False
        if channel.archived:
            log.info("reopening archived thread %s to update its starter message", thread.thread_id)
            await self.reopen(thread)
        return True

    async def add_member(self, thread: EpisodeThread, user_id: int) -> None:
        await self.bot.http.add_user_to_thread(thread.thread_id, user_id)

    def failure_kind(self, error: BaseException) -> str:
        return failure_kind(error)

    async def report_failure(self, guild_id: int, starter: StarterInfo, kind: str, error: BaseException,
                             retry_at: datetime | None) -> bool:
        say = self._say(self.bot.get_guild(guild_id))
        episode = episode_label(starter.episode.season, starter.episode.number)
        retry = relative_time(retry_at) if retry_at else "—"
        return await notify_admins(self.bot, guild_id, say("episodes.auto_open_failed", show=starter.show.title,
                                                           episode=episode, reason=failure_reason(say, error),
                                                           retry=retry)[:2000])


async def _quietly(awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except discord.HTTPException:
        log.warning("cleanup call failed", exc_info=True)
