"""Buttons: persistent rating and join buttons on starter messages, and short-lived confirmations.

Rating and join buttons are `DynamicItem`s whose custom ids carry the episode id (`ep:rate:42:5`, `ep:join:42`):
their state is in the database, so they work on every starter message after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.services.episodes import StarterInfo
from bot.ui import NO_MENTIONS, guild_text, text

log = logging.getLogger(__name__)
CONFIRM_TIMEOUT = 120.0
"""Seconds a confirmation waits for its buttons; then they are taken away."""


def _cog(interaction: discord.Interaction) -> Any:
    return interaction.client.get_cog("Episodes")  # type: ignore[attr-defined]


class RateButton(discord.ui.DynamicItem[discord.ui.Button], template=r"ep:rate:(?P<episode>\d+):(?P<stars>[1-5])"):
    def __init__(self, episode_id: int, stars: int) -> None:
        super().__init__(discord.ui.Button(label=f"{stars} ★", style=discord.ButtonStyle.secondary,
                                           custom_id=f"ep:rate:{episode_id}:{stars}", row=0))
        self.episode_id = episode_id
        self.stars = stars

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match, /):
        return cls(int(match["episode"]), int(match["stars"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).on_rate(interaction, self.episode_id, self.stars)


class JoinButton(discord.ui.DynamicItem[discord.ui.Button], template=r"ep:join:(?P<episode>\d+)"):
    def __init__(self, episode_id: int, label: str = "Watched it — join the discussion") -> None:
        super().__init__(discord.ui.Button(label=label[:80], style=discord.ButtonStyle.primary, emoji="🍿",
                                           custom_id=f"ep:join:{episode_id}", row=1))
        self.episode_id = episode_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match, /):
        return cls(int(match["episode"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).on_join(interaction, self.episode_id)


def starter_view(client: Any, guild: discord.Guild | None, starter: StarterInfo) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for stars in range(1, 6):
        view.add_item(RateButton(starter.episode.id, stars))
    view.add_item(JoinButton(starter.episode.id, guild_text(client, guild, "episodes.starter.join")))
    return view


class ConfirmView(discord.ui.View):
    """Confirm / Cancel on the (ephemeral) original response of `interaction`, for the member who asked;
    `on_confirm` does the work. Unanswered, the buttons are removed after `timeout` seconds."""

    def __init__(self, interaction: discord.Interaction, on_confirm: Callable[[discord.Interaction], Awaitable[None]],
                 *, confirm_label: str, timeout: float = CONFIRM_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.interaction = interaction
        self.owner_id = interaction.user.id
        self.on_confirm = on_confirm
        self.confirm.label = confirm_label[:80]
        self.cancel.label = text(interaction, "episodes.cancel")[:80]

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner_id

    @discord.ui.button(style=discord.ButtonStyle.danger, custom_id="ep:confirm")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.defer()
        await self.on_confirm(interaction)

    @discord.ui.button(style=discord.ButtonStyle.secondary, custom_id="ep:cancel")
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content=text(interaction, "episodes.cancelled"), view=None,
                                                allowed_mentions=NO_MENTIONS)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]

    async def on_timeout(self) -> None:
        """Nobody answered: take the buttons away, since a click would now only get "interaction failed"."""
        try:
            await self.interaction.edit_original_response(view=None, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.info("could not remove the buttons of an expired confirmation", exc_info=True)
