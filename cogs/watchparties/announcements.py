"""The announcement message of each party: posted at creation, kept in line with the party (RSVPs, edits, the end
or cancellation), posted again when someone deleted it."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

import discord

from bot.client import CodeBlueBot
from bot.services.watchparties import Party, WatchPartyService
from bot.ui import NO_MENTIONS

from . import render

log = logging.getLogger(__name__)
UNKNOWN_MESSAGE = 10008  # Discord's error code for a deleted message


class Announcements:
    def __init__(self, bot: CodeBlueBot, service: WatchPartyService, button: render.ButtonFactory) -> None:
        self.bot = bot
        self.service = service
        self.button = button  # the persistent RSVP button class (passed in: the buttons module imports this one)
        # One lock per party for "write -> read -> edit the announcement", so updates reach Discord in the order
        # their state was read and a slow edit never overwrites a newer one (entries vanish when unused).
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, party_id: int) -> asyncio.Lock:
        lock = self._locks.get(party_id)
        if lock is None:
            lock = self._locks[party_id] = asyncio.Lock()
        return lock

    async def content(self, party: Party) -> render.Announcement:
        """The announcement's embed and buttons as the party is now, in the server's language."""
        rsvps = await self.service.rsvps.of_party(party.id)
        return render.announcement(render.server_text(self.bot, party.guild_id), party, rsvps, self.button)

    async def refresh(self, party: Party) -> None:
        """Bring the announcement in line with the party as it is now; a failure is only logged."""
        try:
            await self.update(party.id)
        except discord.HTTPException:
            log.warning("could not update the announcement of party %s", party.id, exc_info=True)

    async def update(self, party_id: int, write: Callable[[], Awaitable[object]] | None = None) -> None:
        """write -> read -> edit under the party's lock, so the edit shows the newest state. A deleted
        announcement (404 Unknown Message) of a scheduled party is posted again in its channel and the new message
        id stored, so its buttons and reminders' links work again. Raises what `write` raises, or the edit's
        HTTPException."""
        async with self._lock(party_id):
            if write is not None:
                await write()
            party = await self.service.get(party_id)  # the state as it is now, inside the lock
            if party is None or not party.message_id:
                return
            channel = self.bot.get_partial_messageable(party.channel_id, guild_id=party.guild_id)
            content = await self.content(party)
            try:
                await channel.get_partial_message(party.message_id).edit(embed=content.embed, view=content.view)
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE or party.status != "scheduled":
                    raise
                message = await channel.send(embed=content.embed, view=content.view, allowed_mentions=NO_MENTIONS)
                await self.service.set_message(party.id, message.id)
                log.info("announcement of party %s was deleted; posted again as %s", party.id, message.id)
