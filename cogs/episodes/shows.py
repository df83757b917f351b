"""/show: a server's catalog of shows and their schedules (presets, shows added by hand, paces, imports) and
opening the threads of episodes that aired before the show was added. Moderators only."""

from __future__ import annotations

from datetime import datetime

import discord
from discord import app_commands

from bot.domain.episodes import ReleasePace, ScheduleImportError, episode_label, list_presets
from bot.errors import UserFacingError
from bot.services.episodes import UNCHANGED, Show
from bot.ui import NO_MENTIONS, Interaction, guild_id_of, text

from .base import MODERATORS, EpisodeCogBase, EpisodeNumber, Season
from .components import ConfirmView
from .failures import failure_reason
from .render import import_problems, premiere_text, preset_changes, show_name

TBA_WORDS = {"tba", "tbd", "미정"}
PACE_CHOICES = [app_commands.Choice(name=pace.value, value=pace.value) for pace in ReleasePace]
PRESET_CHOICES = [app_commands.Choice(name=key, value=key) for key in list_presets()]
MAX_IMPORT_BYTES = 256 * 1024


class ShowsCog(EpisodeCogBase, name="Shows"):
    # No default_permissions on /show: its commands are for Manage Server *or* the moderator role, and Discord
    # would hide them from moderators without Manage Server; each command checks on the server side.
    show_group = app_commands.Group(name="show", description="Shows and their episode schedules", guild_only=True,
                                    extras=MODERATORS)

    @show_group.command(name="preset", description="Install a shipped show with its episodes, e.g. trauma-code")
    @app_commands.describe(name="The preset to install", pace="How its threads open (default: the preset's)")
    @app_commands.choices(name=PRESET_CHOICES, pace=PACE_CHOICES)
    async def show_preset(self, interaction: Interaction, name: app_commands.Choice[str],
                          pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        result = await self.service.schedules.install_preset(guild_id_of(interaction), name.value,
                                                             pace.value if pace else None)
        show = result.show
        reply = text(interaction, "episodes.preset.installed" if result.created else "episodes.preset.updated",
                     show=show_name(show), count=result.count,
                     pace=text(interaction, f"episodes.pace.{show.release_pace}"))
        if not result.created:
            reply += "\n" + preset_changes(lambda key, **p: text(interaction, key, **p), result.changes)
        unopened = await self.service.threads.unopened_aired(show)
        if unopened:
            reply += "\n" + text(interaction, "episodes.preset.open_hint", count=unopened, key=show.key)
        await interaction.response.send_message(reply[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="add", description="Add a show to this server's catalog")
    @app_commands.describe(title="Title, e.g. Trauma Code: Heroes on Call", original_title="Original title",
                           short_name="Short name for thread names (default: the title)",
                           pace="How its threads open (default: each at its air time)")
    @app_commands.choices(pace=PACE_CHOICES)
    async def show_add(self, interaction: Interaction, title: app_commands.Range[str, 1, 100],
                       original_title: app_commands.Range[str, 1, 100] | None = None,
                       short_name: app_commands.Range[str, 1, 50] | None = None,
                       pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        show = await self.service.schedules.add_show(guild_id_of(interaction), title, original_title, short_name,
                                           pace.value if pace else ReleasePace.ON_AIR.value)
        await interaction.response.send_message(text(interaction, "episodes.show.added", show=show_name(show),
                                                     key=show.key), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="pace", description="How a show's threads open: all at release, one a day, or on air")
    @app_commands.describe(show="The show", pace="Release pace")
    @app_commands.choices(pace=PACE_CHOICES)
    async def show_pace(self, interaction: Interaction, show: str, pace: app_commands.Choice[str]) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        found = await self.service.schedules.set_pace(found, pace.value)
        await interaction.response.send_message(
            text(interaction, "episodes.show.pace_set", show=show_name(found),
                 pace=text(interaction, f"episodes.pace.{found.release_pace}")),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="remove", description="Remove a show and its schedule (its threads stay)")
    @app_commands.describe(show="The show to remove")
    async def show_remove(self, interaction: Interaction, show: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)

        async def remove(click: Interaction) -> None:
            await self.service.schedules.remove_show(found)
            await interaction.edit_original_response(
                content=text(click, "episodes.show.removed", show=show_name(found)), view=None,
                allowed_mentions=NO_MENTIONS)

        view = ConfirmView(interaction, remove, confirm_label=text(interaction, "episodes.show.remove_confirm"))
        await interaction.response.send_message(text(interaction, "episodes.show.remove_question",
                                                     show=show_name(found)),
                                                view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="import", description="Import a season schedule from a CSV or TOML file")
    @app_commands.describe(show="The show", file="CSV or TOML with season, episode, title, airs")
    async def show_import(self, interaction: Interaction, show: str, file: discord.Attachment) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        if file.size > MAX_IMPORT_BYTES:
            raise UserFacingError("episodes.import_too_big", kib=MAX_IMPORT_BYTES // 1024)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException:
            raise UserFacingError("episodes.import_unreadable", filename=file.filename[:60]) from None
        try:
            count = await self.service.schedules.import_schedule(found, file.filename, data)
        except ScheduleImportError as error:
            raise UserFacingError("episodes.import_failed", filename=file.filename[:60],
                                  problems=import_problems(interaction, error)) from None
        await interaction.followup.send(text(interaction, "episodes.show.imported", count=count,
                                             show=show_name(found)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="open", description="Open the threads of every episode that has already aired")
    @app_commands.describe(show="The show", season="Only this season")
    async def show_open(self, interaction: Interaction, show: str, season: Season | None = None) -> None:
        """Threads of episodes that aired before the show was added never open by themselves: this opens them,
        one at a time, and links the ones that exist (running it again opens nothing new)."""
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.service.threads.open_aired(found, season)
        if not outcome.results and outcome.error is None:
            reply = text(interaction, "episodes.show.none_aired", show=show_name(found))
        else:
            reply = text(interaction, "episodes.show.opened", show=show_name(found),
                         opened=outcome.count("created", "recreated"), reopened=outcome.count("reopened"),
                         existing=outcome.count("linked", "locked"))
        stopped = outcome.stopped_at
        if outcome.error is not None and stopped is not None:
            if not isinstance(outcome.error, UserFacingError | discord.HTTPException):
                raise outcome.error
            reason = failure_reason(lambda key, **params: text(interaction, key, **params), outcome.error)
            reply += "\n" + text(interaction, "episodes.show.open_stopped",
                                  episode=episode_label(stopped.season, stopped.number), reason=reason)
        await interaction.followup.send(reply[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /show season ------------------------------------------------------------------------------------
    season_group = app_commands.Group(name="season", description="Seasons, also before their dates are known",
                                      parent=show_group)

    @season_group.command(name="add", description="Add a season: with a premiere date or to be announced")
    @app_commands.describe(show="The show", season="Season number",
                           premiere="Premiere, e.g. 2026-05-01 17:00 (server time zone); leave out: to be announced",
                           episodes="How many episodes (leave out if unknown)", pace="How its threads open")
    @app_commands.choices(pace=PACE_CHOICES)
    async def season_add(self, interaction: Interaction, show: str, season: Season, premiere: str | None = None,
                         episodes: EpisodeNumber | None = None,
                         pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        when = await self._premiere(interaction, premiere) if premiere else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        added = await self.service.seasons.add(found, season, when if isinstance(when, datetime) else None,
                                               episodes, pace.value if pace else None)
        await self._season_saved(interaction, "episodes.season.added", found, added.number, added.premiere_at,
                                 added.episode_count)

    @season_group.command(name="edit", description="Set, move or withdraw a season's premiere; its episodes, pace")
    @app_commands.describe(show="The show", season="Season number",
                           premiere="New premiere, e.g. 2026-05-01 17:00, or tba to withdraw the date",
                           episodes="How many episodes", pace="How its threads open")
    @app_commands.choices(pace=PACE_CHOICES)
    async def season_edit(self, interaction: Interaction, show: str, season: Season, premiere: str | None = None,
                          episodes: EpisodeNumber | None = None,
                          pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        when = await self._premiere(interaction, premiere) if premiere else UNCHANGED
        await interaction.response.defer(ephemeral=True, thinking=True)
        edited = await self.service.seasons.edit(found, season, premiere=when, episodes=episodes,
                                                 pace=pace.value if pace else None)
        await self._season_saved(interaction, "episodes.season.edited", found, edited.number, edited.premiere_at,
                                 edited.episode_count)

    @season_group.command(name="remove", description="Remove a season and its schedule (its threads stay)")
    @app_commands.describe(show="The show", season="Season number")
    async def season_remove(self, interaction: Interaction, show: str, season: Season) -> None:
        await self.require_moderator(interaction)
        found = await self.service.lookup.show(guild_id_of(interaction), show)
        if not await self.service.seasons.exists(found, season):
            raise UserFacingError("episodes.unknown_season", show=found.title, season=season)

        async def remove(click: Interaction) -> None:
            await self.service.seasons.remove(found, season)
            await interaction.edit_original_response(
                content=text(click, "episodes.season.removed", show=show_name(found), season=season), view=None,
                allowed_mentions=NO_MENTIONS)

        view = ConfirmView(interaction, remove, confirm_label=text(interaction, "episodes.show.remove_confirm"))
        await interaction.response.send_message(
            text(interaction, "episodes.season.remove_question", show=show_name(found), season=season),
            view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _premiere(self, interaction: Interaction, value: str) -> datetime | None:
        """`tba` (or 미정): no date; anything else is read like an air time."""
        if value.strip().casefold() in TBA_WORDS:
            return None
        return await self.read_airs(guild_id_of(interaction), value)

    async def _season_saved(self, interaction: Interaction, key: str, show: Show, number: int,
                            premiere: datetime | None, count: int | None) -> None:
        def say(message: str, **params: object) -> str:
            return text(interaction, message, **params)
        episodes = say("episodes.season.episodes", count=count) if count else say("episodes.season.episodes_tba")
        await interaction.followup.send(say(key, show=show_name(show), season=number,
                                            premiere=premiere_text(say, premiere), episodes=episodes),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)

    season_add.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    season_edit.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    season_remove.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    season_add.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    season_edit.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    season_remove.autocomplete("season")(EpisodeCogBase.season_autocomplete)

    show_pace.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    show_open.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    show_open.autocomplete("season")(EpisodeCogBase.season_autocomplete)
    show_remove.autocomplete("show")(EpisodeCogBase.show_autocomplete)
    show_import.autocomplete("show")(EpisodeCogBase.show_autocomplete)
