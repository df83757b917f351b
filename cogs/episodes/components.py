"""Buttons: persistent rating and join buttons on starter messages, and short-lived confirmations.

Rating and join buttons are `DynamicItem`s whose custom ids carry the episode id (`ep:rate:42:5`, `ep:join:42`):
their state is in the database, so they work on every starter message after a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import discord

from bot.client import CodeBlueBot
from bot.errors import UserFacingError
from bot.services.episodes import EpisodeService, StarterInfo
from bot.tree import describe_error, send_ephemeral
from bot.ui import NO_MENTIONS, Interaction, guild_text, text

from .base import EpisodeCogBase
from .failures import for_member
from .render import channel_link, rating_line

log = logging.getLogger(__name__)
CONFIRM_TIMEOUT = 120.0
"""Seconds a confirmation waits for its buttons; then they are taken away."""
BUTTONS_COG = "Episodes"
"""The cog whose service the starter buttons use."""

Button = discord.ui.Button[discord.ui.View]
# _CLIENT_TYPED: discord.py declares item and view callbacks generic over any client (`Interaction[ClientT]`), so
# narrowing them to this bot's `Interaction` is reported as an incompatible override; they only ever receive
# interactions of the CodeBlueBot that registered them (hence the `type: ignore[override]` on each).


def _service(interaction: Interaction) -> EpisodeService:
    cog = interaction.client.get_cog(BUTTONS_COG)
    if not isinstance(cog, EpisodeCogBase):
        raise RuntimeError("the episodes extension is not loaded")
    return cog.service


async def _failed(interaction: Interaction, error: Exception) -> None:
    """Answer a deferred button click whose work failed: a UserFacingError as its ephemeral text, anything
    else (a Discord refusal, a database error) as "something went wrong (ref X)" with the traceback logged.
    A DynamicItem's own error handler only logs, which would leave the member on "thinking…" forever."""
    if isinstance(error, UserFacingError):
        error = for_member(interaction, error)
    await send_ephemeral(interaction, describe_error(interaction.client.catalog, interaction, error))


class RateButton(discord.ui.DynamicItem[Button], template=r"ep:rate:(?P<episode>\d+):(?P<stars>[1-5])"):
    def __init__(self, episode_id: int, stars: int) -> None:
        super().__init__(discord.ui.Button(label=f"{stars} ★", style=discord.ButtonStyle.secondary,
                                           custom_id=f"ep:rate:{episode_id}:{stars}", row=0))
        self.episode_id = episode_id
        self.stars = stars

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[discord.ui.View],
                             match: re.Match[str], /) -> RateButton:
        return cls(int(match["episode"]), int(match["stars"]))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]  # _CLIENT_TYPED
        """Acknowledge at once, then record the vote; the service edits the starter message one edit at a time
        per episode, from the database, so concurrent votes never leave a stale average on it."""
        await interaction.response.defer()
        try:
            starter = await _service(interaction).ratings.rate(self.episode_id, interaction.user.id, self.stars)
        except Exception as error:
            await _failed(interaction, error)
            return
        await interaction.followup.send(
            text(interaction, "episodes.rated", stars=self.stars, rating=rating_line(
                lambda key, **p: text(interaction, key, **p), starter.rating)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)


class JoinButton(discord.ui.DynamicItem[Button], template=r"ep:join:(?P<episode>\d+)"):
    def __init__(self, episode_id: int, label: str = "Watched it — join the discussion") -> None:
        super().__init__(discord.ui.Button(label=label[:80], style=discord.ButtonStyle.primary, emoji="🍿",
                                           custom_id=f"ep:join:{episode_id}", row=1))
        self.episode_id = episode_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[discord.ui.View],
                             match: re.Match[str], /) -> JoinButton:
        return cls(int(match["episode"]))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]  # _CLIENT_TYPED
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await _service(interaction).threads.join(self.episode_id, interaction.user.id)
        except Exception as error:
            await _failed(interaction, error)
            return
        key = "episodes.join_locked" if result.outcome == "locked" else "episodes.joined"
        await interaction.followup.send(text(interaction, key, thread=channel_link(result.thread.thread_id)),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)


def starter_view(client: CodeBlueBot, guild: discord.Guild | None, starter: StarterInfo) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for stars in range(1, 6):
        view.add_item(RateButton(starter.episode.id, stars))
    view.add_item(JoinButton(starter.episode.id, guild_text(client, guild, "episodes.starter.join")))
    return view


class ConfirmView(discord.ui.View):
    """Confirm / Cancel on the (ephemeral) original response of `interaction`, for the member who asked;
    `on_confirm` does the work. Unanswered, the buttons are removed after CONFIRM_TIMEOUT seconds."""

    def __init__(self, interaction: Interaction, on_confirm: Callable[[Interaction], Awaitable[None]],
                 *, confirm_label: str) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT)
        self.interaction = interaction
        self.owner_id = interaction.user.id
        self.on_confirm = on_confirm
        self.confirm.label = confirm_label[:80]
        self.cancel.label = text(interaction, "episodes.cancel")[:80]

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]  # _CLIENT_TYPED
        return interaction.user.id == self.owner_id

    @discord.ui.button(style=discord.ButtonStyle.danger, custom_id="ep:confirm")
    async def confirm(self, interaction: Interaction, button: Button) -> None:
        self.stop()
        await interaction.response.defer()
        await self.on_confirm(interaction)

    @discord.ui.button(style=discord.ButtonStyle.secondary, custom_id="ep:cancel")
    async def cancel(self, interaction: Interaction, button: Button) -> None:
        self.stop()
        await interaction.response.edit_message(content=text(interaction, "episodes.cancelled"), view=None,
                                                allowed_mentions=NO_MENTIONS)

    async def on_error(self, interaction: Interaction, error: Exception,  # type: ignore[override]  # _CLIENT_TYPED
                       item: discord.ui.Item[discord.ui.View]) -> None:
        await send_ephemeral(interaction, describe_error(interaction.client.catalog, interaction, error))

    async def on_timeout(self) -> None:
        """Nobody answered: take the buttons away, since a click would now only get "interaction failed"."""
        try:
            await self.interaction.edit_original_response(view=None, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.info("could not remove the buttons of an expired confirmation", exc_info=True)
