"""/progress: how far a member has watched each show, which the spoiler check of /episode thread reads."""

from __future__ import annotations

from discord import app_commands

from bot.domain.episodes import episode_label
from bot.ui import NO_MENTIONS, Interaction, guild_id_of, text

from .base import EpisodeCogBase
from .render import show_name


class ProgressCog(EpisodeCogBase, name="Progress"):
    progress_group = app_commands.Group(name="progress", description="How far you have watched (spoiler safety)",
                                        guild_only=True)

    @progress_group.command(name="set", description="Record the last episode you have watched")
    @app_commands.describe(show="The show", episode="Last episode watched, e.g. 3 or S1E3")
    async def progress_set(self, interaction: Interaction, show: str, episode: str) -> None:
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        target = await self.service.lookup.episode(found, episode)
        await self.service.ratings.set_progress(interaction.user.id, found, target)
        await interaction.response.send_message(
            text(interaction, "episodes.progress.saved", show=show_name(found),
                 episode=episode_label(target.season, target.number)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @progress_group.command(name="show", description="What you have recorded watching")
    async def progress_show(self, interaction: Interaction) -> None:
        entries = await self.service.ratings.all_progress(guild_id_of(interaction), interaction.user.id)
        if not entries:
            content = text(interaction, "episodes.progress.none")
        else:
            lines = [text(interaction, "episodes.progress.line", show=show_name(show),
                          episode=episode_label(progress.season, progress.episode)) for show, progress in entries]
            content = "\n".join([text(interaction, "episodes.progress.title"), *lines])[:2000]
        await interaction.response.send_message(content, ephemeral=True, allowed_mentions=NO_MENTIONS)

    progress_set.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    progress_set.autocomplete("episode")(EpisodeCogBase.episode_ref_autocomplete)
