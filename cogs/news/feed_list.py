"""`/news feed list`: the server's feeds in pages within Discord's embed limits, and the ◀ ▶ buttons (which keep
working after a restart: the page is in the custom id)."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands

from bot.services.news import NewsService
from bot.tree import describe_error, send_ephemeral
from bot.ui import Interaction, guild_id_of, text

from .checks import news_service
from .render import feed_field

LIST_LIMIT = 3800  # characters of one /news feed list page's fields (Discord's embed limit is 6,000 in all)
LIST_PAGE_FEEDS = 10
LIST_CUSTOM_ID = r"nfl:(?P<page>[0-9]+):(?P<direction>prev|next)"


def feed_list_pages(fields: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """(name, value) fields packed into pages of at most LIST_PAGE_FEEDS feeds and LIST_LIMIT characters."""
    pages: list[list[tuple[str, str]]] = [[]]
    size = 0
    for name, value in fields:
        cost = len(name) + len(value)
        if pages[-1] and (len(pages[-1]) >= LIST_PAGE_FEEDS or size + cost > LIST_LIMIT):
            pages.append([])
            size = 0
        pages[-1].append((name, value))
        size += cost
    return pages


async def show_feed_list(interaction: Interaction, service: NewsService, page: int, *, edit: bool) -> None:
    """One page of the server's feeds (◀ ▶ when there are several); `edit`: replaces the clicked message."""
    items = await service.list_feeds(guild_id_of(interaction))
    if not items:
        if edit:
            await interaction.response.edit_message(content=text(interaction, "news.list.empty"), embed=None,
                                                    view=None)
        else:
            await interaction.response.send_message(text(interaction, "news.list.empty"), ephemeral=True)
        return
    options = await service.subscription_options([item.subscription.id for item in items])
    pages = feed_list_pages([feed_field(interaction, item, options.get(item.subscription.id)) for item in items])
    page = max(0, min(page, len(pages) - 1))
    embed = discord.Embed(title=text(interaction, "news.list.title"), colour=discord.Colour.red())
    for name, value in pages[page]:
        embed.add_field(name=name, value=value, inline=False)
    view = discord.ui.View(timeout=None)
    if len(pages) > 1:
        embed.set_footer(text=text(interaction, "news.list.footer", page=page + 1, pages=len(pages),
                                   feeds=len(items)))
        view.add_item(FeedListButton(max(page - 1, 0), "prev", disabled=page == 0))
        view.add_item(FeedListButton(min(page + 1, len(pages) - 1), "next", disabled=page >= len(pages) - 1))
    if edit:
        await interaction.response.edit_message(embed=embed, view=view)
    else:
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


class FeedListButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=LIST_CUSTOM_ID):
    """◀ / ▶ on a /news feed list page; the custom id carries the page to show.

    discord.py types an item's interaction with a client type variable bound per call, so narrowing it to this
    bot's interactions is an override mypy cannot prove (hence the ignores); discord.py only ever passes
    interactions of the client the item was registered on, the Code Blue bot.
    """

    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "◀" if direction == "prev" else "▶"
        super().__init__(discord.ui.Button(custom_id=f"nfl:{page}:{direction}", label=label,
                                           style=discord.ButtonStyle.secondary, disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: discord.ui.Item[Any],  # type: ignore[override]
                             match: re.Match[str], /) -> FeedListButton:
        return cls(int(match["page"]), match["direction"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        # A DynamicItem's errors are only logged by discord.py, leaving the click unanswered: route them to the
        # tree's handler, which answers ephemerally.
        try:
            if not interaction.permissions.manage_guild:
                raise app_commands.MissingPermissions(["manage_guild"])
            await show_feed_list(interaction, news_service(interaction), self.page, edit=True)
        except Exception as error:
            await send_ephemeral(interaction, describe_error(interaction.client.catalog, interaction, error))
