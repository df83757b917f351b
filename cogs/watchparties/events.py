"""Each party's Discord scheduled event: created with the party (when the bot may manage events), kept in line
with edits, deleted on cancellation, completed (or deleted, if it never started) when the party ends."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.client import CodeBlueBot
from bot.services.watchparties import Party, WatchPartyService
from bot.ui import discard_twin, earlier_twin_event

from . import render
from .notices import not_delivered

log = logging.getLogger(__name__)
RETRY_DELAYS = (0.5, 2.0)  # seconds before an event Discord certainly did not create (5xx) is tried again


class ScheduledEvents:
    def __init__(self, bot: CodeBlueBot, service: WatchPartyService) -> None:
        self.bot = bot
        self.service = service

    @staticmethod
    def _can_manage_events(guild: discord.Guild | None) -> bool:
        if guild is None:
            return False
        permissions = guild.me.guild_permissions
        return permissions.manage_events or permissions.create_events

    def _plan(self, party: Party, guild: discord.Guild) -> render.EventPlan:
        return render.event_plan(render.server_text(self.bot, party.guild_id), party, guild)

    @staticmethod
    async def _create_in_discord(guild: discord.Guild, plan: render.EventPlan) -> discord.ScheduledEvent:
        if plan.voice is not None:
            return await guild.create_scheduled_event(
                name=plan.name, start_time=plan.starts_at, end_time=plan.ends_at, description=plan.description,
                privacy_level=discord.PrivacyLevel.guild_only, channel=plan.voice)
        return await guild.create_scheduled_event(
            name=plan.name, start_time=plan.starts_at, end_time=plan.ends_at, description=plan.description,
            privacy_level=discord.PrivacyLevel.guild_only, entity_type=discord.EntityType.external,
            location=plan.location)

    async def create(self, party: Party, guild: discord.Guild | None) -> bool:
        """Create the party's scheduled event (tried again after RETRY_DELAYS while Discord answers 5xx); False when
        the bot may not (no Manage Events)."""
        if guild is None or not self._can_manage_events(guild):
            return False
        event: discord.ScheduledEvent | None = None
        for delay in (*RETRY_DELAYS, None):
            try:
                event = await self._create_in_discord(guild, self._plan(party, guild))
                break
            except discord.Forbidden:
                return False
            except discord.HTTPException as exc:
                if delay is not None and not_delivered(exc):  # 5xx: tried again; a twin it makes is found below
                    await asyncio.sleep(delay)
                    continue
                log.warning("could not create the scheduled event of party %s", party.id, exc_info=True)
                return True
        if event is None:
            return True
        twin = await earlier_twin_event(guild, event)
        if twin is not None:  # a creation Discord stored but answered 5xx was sent again (by discord.py or above)
            await discard_twin(event, kept=twin.id)
            event = twin
        await self.service.set_scheduled_event(party.id, event.id)
        return True

    async def sync(self, party: Party) -> None:
        """Bring the scheduled event in line with an edited party (creating it if it is missing and allowed)."""
        guild = self.bot.get_guild(party.guild_id)
        if guild is None:
            return
        if not party.scheduled_event_id:
            await self.create(party, guild)
            return
        plan = self._plan(party, guild)
        channel_id, metadata = (plan.voice.id, None) if plan.voice is not None else (None, {"location": plan.location})
        try:
            await self.bot.http.edit_scheduled_event(
                party.guild_id, party.scheduled_event_id, name=plan.name, description=plan.description,
                scheduled_start_time=plan.starts_at.isoformat(), scheduled_end_time=plan.ends_at.isoformat(),
                entity_type=plan.entity_type.value, channel_id=channel_id, entity_metadata=metadata)
        except discord.HTTPException:
            log.warning("could not update the scheduled event of party %s", party.id, exc_info=True)

    async def delete(self, party: Party) -> None:
        if not party.scheduled_event_id:
            return
        try:
            await self.bot.http.delete_scheduled_event(party.guild_id, party.scheduled_event_id)
        except discord.NotFound:
            pass
        except discord.HTTPException:
            log.warning("could not delete the scheduled event of party %s", party.id, exc_info=True)
        await self.service.set_scheduled_event(party.id, None)

    async def close(self, party: Party) -> None:
        """The party is over: an event members started (ACTIVE) becomes COMPLETED; one that never started
        (SCHEDULED, which Discord does not let become COMPLETED) is deleted; a finished one is left alone."""
        if not party.scheduled_event_id:
            return
        guild_id, event_id = party.guild_id, party.scheduled_event_id
        try:
            event = await self.bot.http.get_scheduled_event(guild_id, event_id, with_user_count=False)
            status = discord.EventStatus(int(event["status"]))
            if status is discord.EventStatus.active:
                await self.bot.http.edit_scheduled_event(guild_id, event_id,
                                                         status=discord.EventStatus.completed.value)
            elif status is discord.EventStatus.scheduled:
                await self.bot.http.delete_scheduled_event(guild_id, event_id)
                await self.service.set_scheduled_event(party.id, None)
        except discord.NotFound:
            await self.service.set_scheduled_event(party.id, None)
        except discord.HTTPException:
            log.warning("could not close the scheduled event of party %s", party.id, exc_info=True)
