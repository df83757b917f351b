"""/episode: opening or finding an episode's discussion thread (with a spoiler check), the ratings table, and
the moderators' episode commands (add, schedule, lock). Also registers the starter messages' buttons."""

from __future__ import annotations

from discord import app_commands

from bot.domain.episodes import episode_label
from bot.errors import UserFacingError
from bot.ui import NO_MENTIONS, Interaction, guild_id_of, text

from .base import MODERATORS, EpisodeCogBase, EpisodeNumber, Season
from .components import BUTTONS_COG, ConfirmView, JoinButton, RateButton
from .failures import for_member
from .render import airs_text, channel_link, ratings_embed, show_name, thread_reply


class EpisodesCog(EpisodeCogBase, name=BUTTONS_COG):
    episode_group = app_commands.Group(name="episode", description="Episode discussion threads and ratings",
                                       guild_only=True)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RateButton, JoinButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(RateButton, JoinButton)

    # -- moderators: adding and scheduling episodes, locking threads -------------------------------------
    @episode_group.command(name="add", description="Add an episode (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", season="Season number", episode="Episode number",
                           title="Episode title", airs="Air time, e.g. 2025-01-24 17:00 (server time zone)")
    async def episode_add(self, interaction: Interaction, show: str, season: Season, episode: EpisodeNumber,
                          title: app_commands.Range[str, 1, 100] | None = None, airs: str | None = None) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        airs_at = await self.read_airs(guild_id_of(interaction), airs) if airs else None
        added = await self.service.schedules.add_episode(found, season, episode, title, airs_at)
        await interaction.response.send_message(
            text(interaction, "episodes.episode.added", show=show_name(found),
                 episode=episode_label(added.season, added.number), airs=airs_text(interaction, added.airs_at)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @episode_group.command(name="schedule", description="Set or change an episode's air time (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", season="Season number", episode="Episode number",
                           airs="Air time, e.g. 2025-01-24 17:00 (server time zone)")
    async def episode_schedule(self, interaction: Interaction, show: str, season: Season,
                               episode: EpisodeNumber, airs: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        target = await self.service.lookup.episode(found, episode, season)
        airs_at = await self.read_airs(guild_id_of(interaction), airs)
        updated = await self.service.schedules.schedule_episode(found, target, airs_at)
        await interaction.response.send_message(
            text(interaction, "episodes.episode.scheduled", show=show_name(found),
                 episode=episode_label(updated.season, updated.number), airs=airs_text(interaction, updated.airs_at)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @episode_group.command(name="lock", description="Archive and lock an episode's thread (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", episode="Episode, e.g. 3 or S1E3")
    async def episode_lock(self, interaction: Interaction, show: str, episode: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        target = await self.service.lookup.episode(found, episode)
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await self.service.threads.lock(target)
        await interaction.followup.send(text(interaction, "episodes.locked", thread=channel_link(thread.thread_id)),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /episode thread --------------------------------------------------------------------------------
    @episode_group.command(name="thread", description="Open or find the discussion thread of an episode")
    @app_commands.describe(show="The show", episode="Episode, e.g. 3 or S1E3", season="Season (default: latest)")
    async def episode_thread(self, interaction: Interaction, show: str, episode: str,
                             season: Season | None = None) -> None:
        # Answered at once ("thinking", ephemeral): the lookups below may wait behind a news poll's database work,
        # and a refusal then replaces this message like any other answer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        target = await self.service.lookup.episode(found, episode, season)
        may_create = self.service.lookup.has_aired(target) or await self.is_moderator(interaction)
        existing = await self.service.threads.thread(target)
        if existing is None and not may_create:
            try:
                await self.service.threads.open_or_link(target.id, may_create=False)  # raises "not aired"
            except UserFacingError as error:
                raise for_member(interaction, error) from None
        # The thread is opened (or found) at once, whoever asks: a spoiler warning holds back only the link.
        try:
            result = await self.service.threads.open_or_link(target.id, may_create=may_create)
        except UserFacingError as error:
            shown = for_member(interaction, error)
            await interaction.edit_original_response(content=text(interaction, shown.key, **shown.params),
                                                     allowed_mentions=NO_MENTIONS)
            return
        reply = thread_reply(interaction, found, target, result)

        async def show_link(_: Interaction) -> None:
            """Answers by editing the command's own (ephemeral) response, also after the spoiler check."""
            await interaction.edit_original_response(content=reply, view=None, allowed_mentions=NO_MENTIONS)

        if await self.service.ratings.spoiler_warning_due(interaction.user.id, found, target):
            view = ConfirmView(interaction, show_link, confirm_label=text(interaction, "episodes.spoiler.confirm"))
            progress = await self.service.ratings.progress(interaction.user.id, found)
            watched = (episode_label(progress.season, progress.episode) if progress
                       else text(interaction, "episodes.progress.nothing"))
            await interaction.edit_original_response(
                content=text(interaction, "episodes.spoiler.warning", episode=episode_label(target.season,
                                                                                            target.number),
                             watched=watched),
                view=view, allowed_mentions=NO_MENTIONS)
            return
        await show_link(interaction)

    # -- /episode ratings -------------------------------------------------------------------------------
    @episode_group.command(name="ratings", description="Every episode's average rating, votes and the best one")
    @app_commands.describe(show="The show", season="Only this season")
    async def episode_ratings(self, interaction: Interaction, show: str, season: Season | None = None) -> None:
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        table = await self.service.ratings.ratings_table(found, season)
        # A lookup, rendered in the member's language: only they see it.
        await interaction.response.send_message(embed=ratings_embed(interaction, table), ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)

    episode_add.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    episode_schedule.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    episode_lock.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    episode_thread.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    episode_ratings.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    episode_add.autocomplete("episode")(EpisodeCogBase.episode_number_autocomplete)
    episode_schedule.autocomplete("episode")(EpisodeCogBase.episode_number_autocomplete)
    episode_lock.autocomplete("episode")(EpisodeCogBase.episode_ref_autocomplete)
    episode_thread.autocomplete("episode")(EpisodeCogBase.episode_ref_autocomplete)
    episode_add.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    episode_schedule.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    episode_thread.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    episode_ratings.autocomplete("season")(EpisodeCogBase.season_autocomplete)
