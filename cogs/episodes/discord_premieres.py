"""The service's PremiereGateway on Discord: the countdown announcement in the discussion channel (a forum post,
or a message in a text channel; pinned when the bot may pin) and the premiere's external scheduled event."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import discord

from bot.client import CodeBlueBot
from bot.services.episodes import PremiereInfo
from bot.ui import NO_MENTIONS, discard_twin, earlier_twin_thread, guild_text, send_nonce

from .discord_threads import THREAD_ARCHIVED, DiscordThreads
from .render import Say, premiere_embed

log = logging.getLogger(__name__)
EVENT_LENGTH = timedelta(hours=1)
"""A premiere event's length (external events need an end)."""


class DiscordPremieres:
    def __init__(self, bot: CodeBlueBot, threads: DiscordThreads) -> None:
        self.bot = bot
        self.threads = threads

    def _say(self, guild_id: int) -> Say:
        guild = self.bot.get_guild(guild_id)

        def say(key: str, **params: object) -> str:
            return guild_text(self.bot, guild, key, **params)
        return say

    async def post_announcement(self, info: PremiereInfo) -> tuple[int, int]:
        channel = await self.threads._discussion_channel(info.guild_id)  # the same checks
        say = self._say(info.guild_id)
        embed = premiere_embed(say, info)
        may_pin = channel.permissions_for(channel.guild.me).manage_messages
        message: discord.Message | discord.PartialMessage
        if isinstance(channel, discord.ForumChannel):
            name = say("episodes.premiere.post_name", show=info.show.short_name, season=info.season.number)
            created = await channel.create_thread(name=name[:100], embed=embed, allowed_mentions=NO_MENTIONS)
            twin = earlier_twin_thread(channel, created.thread, {name[:100]})
            if twin is not None:  # the creation was stored, answered 5xx and sent again by discord.py
                await discard_twin(created.thread, kept=twin.id)
                where, message = twin.id, twin.get_partial_message(twin.id)
            else:
                where, message = created.thread.id, created.message
        else:
            message = await channel.send(embed=embed, allowed_mentions=NO_MENTIONS, nonce=send_nonce())
            where = channel.id
        if may_pin:
            try:
                await message.pin()
            except discord.HTTPException:
                log.info("could not pin the premiere announcement %s", message.id, exc_info=True)
        return where, message.id

    async def edit_announcement(self, channel_id: int, message_id: int, info: PremiereInfo) -> bool:
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        embed = premiere_embed(self._say(info.guild_id), info)
        try:
            try:
                await message.edit(embed=embed, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as error:
                if error.code != THREAD_ARCHIVED:
                    raise
                await self.bot.http.edit_channel(channel_id, archived=False)  # an archived forum post
                await message.edit(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.NotFound:
            log.info("premiere announcement %s is gone", message_id)
            return False
        return True

    def _event_payload(self, info: PremiereInfo) -> dict[str, Any]:
        say = self._say(info.guild_id)
        premiere = info.season.premiere_at
        if premiere is None:
            raise ValueError("a premiere event needs a premiere date")
        return {
            "name": say("episodes.premiere.event_name", show=info.show.title, season=info.season.number)[:100],
            "description": say("episodes.premiere.event_description", show=info.show.title,
                               season=info.season.number)[:1000],
            "scheduled_start_time": premiere.isoformat(),
            "scheduled_end_time": (premiere + EVENT_LENGTH).isoformat(),
            "entity_type": discord.EntityType.external.value,
            "entity_metadata": {"location": (info.show.platform or info.show.title)[:100]},
            "privacy_level": discord.PrivacyLevel.guild_only.value,
        }

    async def create_event(self, info: PremiereInfo) -> int:
        created = await self.bot.http.create_guild_scheduled_event(info.guild_id, **self._event_payload(info))
        return int(created["id"])

    async def edit_event(self, event_id: int, info: PremiereInfo) -> bool:
        payload = self._event_payload(info)
        payload.pop("privacy_level")
        try:
            await self.bot.http.edit_scheduled_event(info.guild_id, event_id, **payload)
        except discord.NotFound:
            log.info("premiere event %s is gone", event_id)
            return False
        return True

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        try:
            await self.bot.http.delete_scheduled_event(guild_id, event_id)
        except discord.NotFound:
            pass
