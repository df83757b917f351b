"""The persistent buttons: RSVP and "DM me" on announcements, ◀ ▶ on /watchparty list pages. Their custom ids
carry the party or the page, so they keep working after a restart."""

from __future__ import annotations

import functools
import logging
import re

import discord
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.errors import UserFacingError
from bot.services.watchparties import WatchPartyService
from bot.tree import describe_error, send_ephemeral
from bot.ui import Interaction, guild_id_of, text

from . import render
from .announcements import Announcements

log = logging.getLogger(__name__)
BUTTONS_COG = "WatchPartyButtons"


class PartyButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=render.PARTY_CUSTOM_ID):
    """An RSVP or DM-toggle button; its custom id carries the party id."""

    def __init__(self, party_id: int, action: str, *, label: str | None = None,
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(custom_id=f"wp:{party_id}:{action}", label=label, style=style,
                                           disabled=disabled))
        self.party_id = party_id
        self.action = action

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py types it with a method-level ClientT
        cls, interaction: Interaction, item: discord.ui.Item[discord.ui.View], match: re.Match[str], /
    ) -> PartyButton:
        return cls(int(match["party"]), match["action"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]  # as from_custom_id
        await _buttons_cog(interaction).on_party_button(interaction, self.party_id, self.action)


class ListPageButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=render.LIST_CUSTOM_ID):
    """◀ / ▶ on a /watchparty list page; the custom id carries the page to show."""

    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "◀" if direction == "prev" else "▶"
        super().__init__(discord.ui.Button(custom_id=f"wpl:{page}:{direction}", label=label,
                                           style=discord.ButtonStyle.secondary, disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py types it with a method-level ClientT
        cls, interaction: Interaction, item: discord.ui.Item[discord.ui.View], match: re.Match[str], /
    ) -> ListPageButton:
        return cls(int(match["page"]), match["direction"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]  # as from_custom_id
        await show_list_page(interaction, _buttons_cog(interaction).service, self.page, edit=True)


def _buttons_cog(interaction: Interaction) -> WatchPartyButtons:
    cog = interaction.client.get_cog(BUTTONS_COG)
    if not isinstance(cog, WatchPartyButtons):
        raise UserFacingError("watchparty.unavailable")
    return cog


async def show_list_page(interaction: Interaction, service: WatchPartyService, page: int, *, edit: bool) -> None:
    """One page of upcoming parties with ◀ ▶ buttons: a new ephemeral reply, or the clicked page edited."""
    parties, pages = await service.upcoming_page(guild_id_of(interaction), page)
    page = min(page, pages - 1)
    going = [sum(1 for r in await service.rsvps.of_party(p.id) if r.status == "going") for p in parties]
    embed = render.list_embed(functools.partial(text, interaction), parties, going, page, pages)
    view = discord.ui.View(timeout=None)
    view.add_item(ListPageButton(max(page - 1, 0), "prev", disabled=page == 0))
    view.add_item(ListPageButton(min(page + 1, pages - 1), "next", disabled=page >= pages - 1))
    if edit:
        await interaction.response.edit_message(embed=embed, view=view)
    else:
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


class WatchPartyButtons(commands.Cog, name=BUTTONS_COG):
    """Registers the persistent buttons and answers their clicks."""

    def __init__(self, bot: CodeBlueBot, service: WatchPartyService, announcements: Announcements) -> None:
        self.bot = bot
        self.service = service
        self.announcements = announcements

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PartyButton, ListPageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PartyButton, ListPageButton)

    async def on_party_button(self, interaction: Interaction, party_id: int, action: str) -> None:
        """Write the answer (one quick statement, committed), THEN acknowledge: a member is never told of an answer
        that a crash could still lose. The announcement is edited after, under the party's lock (read -> edit), so
        a burst of clicks never delays an acknowledgement past Discord's 3 s. Every failure is answered by the
        tree's error handler: a UserFacingError in its words, anything else as "something went wrong (ref X)"."""
        try:
            if action == "dm":
                enabled = await self.service.rsvps.toggle_dm(party_id, interaction.user.id)  # one quick write
                await interaction.response.send_message(
                    text(interaction, "watchparty.rsvp.dm_on" if enabled else "watchparty.rsvp.dm_off"),
                    ephemeral=True)
                return
            await self.service.rsvps.answer(party_id, interaction.user.id, interaction.user.display_name, action)
            await interaction.response.defer()  # deferred update: the answer is stored; the announcement follows
            try:
                await self.announcements.update(party_id)
            except discord.HTTPException:
                log.warning("could not update the announcement of party %s", party_id, exc_info=True)
                raise UserFacingError("watchparty.rsvp.not_shown") from None
        except Exception as error:
            await send_ephemeral(interaction, describe_error(self.bot.catalog, interaction, error))
