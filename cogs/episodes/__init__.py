"""/show, /episode and /progress: episode discussion threads, ratings and spoiler-safe progress.

The commands parse and check; `bot.services.episodes.EpisodeService` does the work; `DiscordThreads` is how
the service reaches Discord. Admin commands accept Manage Server or the server's moderator role.
"""

from __future__ import annotations

import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.episodes import (
    MAX_EPISODE,
    MAX_SEASON,
    ReleasePace,
    ScheduleImportError,
    ScheduleValueError,
    episode_label,
    list_presets,
    parse_air_time,
)
from bot.domain.timeparse import WhenError, parse_when
from bot.errors import UserFacingError
from bot.services.episodes import EpisodeService, Show, ThreadResult
from bot.ui import NO_MENTIONS, is_moderator, permission_label, text

from .components import CONFIRM_TIMEOUT, ConfirmView, JoinButton, RateButton
from .discord_threads import ChannelPermissionError, DiscordThreads, failure_reason
from .render import rating_line, ratings_embed

log = logging.getLogger(__name__)

PACE_CHOICES = [app_commands.Choice(name=pace.value, value=pace.value) for pace in ReleasePace]
PRESET_CHOICES = [app_commands.Choice(name=key, value=key) for key in list_presets()]
MAX_CHOICES = 25
MODERATORS = {"audience": "moderator"}  # /help lists these only to moderators
MAX_IMPORT_BYTES = 256 * 1024
MAX_IMPORT_PROBLEMS_SHOWN = 10
Season = app_commands.Range[int, 1, MAX_SEASON]
EpisodeNumber = app_commands.Range[int, 1, MAX_EPISODE]


def _localized_permissions(interaction: discord.Interaction, error: ChannelPermissionError) -> UserFacingError:
    labels = ", ".join(permission_label(interaction, name) for name in error.names)
    return UserFacingError(error.key, channel=f"<#{error.channel_id}>", permissions=labels)


class EpisodesCog(commands.Cog, name="Episodes"):
    # No default_permissions on /show: its commands are for Manage Server *or* the moderator role (issue #4),
    # and Discord would hide them from moderators without Manage Server; each command checks on the server side.
    show_group = app_commands.Group(name="show", description="Shows and their episode schedules", guild_only=True,
                                    extras=MODERATORS)
    episode_group = app_commands.Group(name="episode", description="Episode discussion threads and ratings",
                                       guild_only=True)
    progress_group = app_commands.Group(name="progress", description="How far you have watched (spoiler safety)",
                                        guild_only=True)

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = EpisodeService(bot.db, bot.scheduler, bot.settings_service, bot.clock)  # type: ignore[attr-defined]
        self.service.gateway = DiscordThreads(bot)
        self.confirm_timeout = CONFIRM_TIMEOUT

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RateButton, JoinButton)
        shows = await self.service.rebuild_jobs()
        log.info("episode opening jobs rebuilt for %d show(s)", shows)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(RateButton, JoinButton)
        for job in self.bot.scheduler.get_jobs():  # type: ignore[attr-defined]
            if job.id.startswith("episode:"):
                job.remove()

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: discord.Interaction, command) -> None:
        """An admin changed the channels or roles: failed automatic openings get another try right away
        instead of at their next retry."""
        if interaction.guild_id and command.qualified_name.startswith("config "):
            retried = await self.service.retry_failed_now(interaction.guild_id)
            if retried:
                log.info("retrying %d failed episode opening(s) in guild %s", retried, interaction.guild_id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or left: the server's automatic openings stop retrying (its shows and episodes are kept)."""
        try:
            stopped = await self.service.stop_openings(guild.id)
        except Exception:
            log.exception("could not stop the episode openings of guild %s", guild.id)
            return
        if stopped:
            log.info("left guild %s: stopped %d episode opening job(s)", guild.id, stopped)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Added (back): the server's pending openings, stopped when the bot left, are scheduled again."""
        try:
            await self.service.resume_openings(guild.id)
        except Exception:
            log.exception("could not schedule the episode openings of guild %s", guild.id)

    # -- shared checks and lookups ------------------------------------------------------------------
    async def require_moderator(self, interaction: discord.Interaction) -> None:
        settings = await self.bot.settings_service.get(interaction.guild_id)  # type: ignore[attr-defined]
        if not is_moderator(interaction, settings.moderator_role_id):
            raise UserFacingError("episodes.moderators_only")

    async def is_moderator(self, interaction: discord.Interaction) -> bool:
        settings = await self.bot.settings_service.get(interaction.guild_id)  # type: ignore[attr-defined]
        return is_moderator(interaction, settings.moderator_role_id)

    async def read_airs(self, guild_id: int, value: str) -> datetime:
        """ISO `2025-01-24 17:00` (server zone, or with an offset/zone), else the watch-party formats."""
        zone = await self.service.zone(guild_id)
        try:
            return parse_air_time(value, default_zone=zone)
        except ScheduleValueError:
            pass
        try:
            return parse_when(value, zone=zone, now=self.bot.clock()).at  # type: ignore[attr-defined]
        except WhenError as error:
            raise UserFacingError("episodes.bad_airs", value=value[:60],
                                  reason=error.reading or error.code) from None

    async def show_autocomplete(self, interaction: discord.Interaction, current: str):
        needle = current.casefold().strip()
        choices = []
        for show in await self.service.shows(interaction.guild_id):
            names = (show.key, show.title, show.short_name, show.original_title or "")
            if not needle or any(needle in name.casefold() for name in names):
                label = f"{show.title} ({show.original_title})" if show.original_title else show.title
                choices.append(app_commands.Choice(name=label[:100], value=show.key))
        return choices[:MAX_CHOICES]

    async def _autocomplete_episodes(self, interaction: discord.Interaction):
        key = getattr(interaction.namespace, "show", None)
        if not key:
            return []
        try:
            show = await self.service.show(interaction.guild_id, str(key))
        except UserFacingError:
            return []
        season = getattr(interaction.namespace, "season", None)
        return await self.service.episodes(show, season if isinstance(season, int) else None)

    async def episode_ref_autocomplete(self, interaction: discord.Interaction, current: str):
        needle = current.casefold().replace(" ", "")
        choices = []
        for episode in await self._autocomplete_episodes(interaction):
            label = episode_label(episode.season, episode.number)
            name = f"{label} · {episode.title}" if episode.title else label
            if not needle or needle in name.casefold().replace(" ", "") or needle == str(episode.number):
                choices.append(app_commands.Choice(name=name[:100], value=label))
        return choices[:MAX_CHOICES]

    async def episode_number_autocomplete(self, interaction: discord.Interaction, current: int | str):
        episodes = await self._autocomplete_episodes(interaction)
        choices = [app_commands.Choice(name=(f"E{e.number} · {e.title}" if e.title else f"E{e.number}")[:100],
                                       value=e.number)
                   for e in episodes if not str(current) or str(current) in str(e.number)]
        if interaction.command and interaction.command.name == "add":
            following = max((e.number for e in episodes), default=0) + 1
            if following <= MAX_EPISODE:
                choices.insert(0, app_commands.Choice(name=text(interaction, "episodes.new_episode", number=following),
                                                      value=following))
        return choices[:MAX_CHOICES]

    # -- /show ----------------------------------------------------------------------------------------
    @show_group.command(name="preset", description="Install a shipped show with its episodes, e.g. trauma-code")
    @app_commands.describe(name="The preset to install", pace="How its threads open (default: the preset's)")
    @app_commands.choices(name=PRESET_CHOICES, pace=PACE_CHOICES)
    async def show_preset(self, interaction: discord.Interaction, name: app_commands.Choice[str],
                          pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        show, count, created = await self.service.install_preset(interaction.guild_id, name.value,
                                                                 pace.value if pace else None)
        key = "episodes.preset.installed" if created else "episodes.preset.updated"
        reply = text(interaction, key, show=_show_name(show), count=count,
                     pace=text(interaction, f"episodes.pace.{show.release_pace}"))
        unopened = await self.service.unopened_aired(show)
        if unopened:
            reply += "\n" + text(interaction, "episodes.preset.open_hint", count=unopened, key=show.key)
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="add", description="Add a show to this server's catalog")
    @app_commands.describe(title="Title, e.g. Trauma Code: Heroes on Call", original_title="Original title",
                           short_name="Short name for thread names (default: the title)",
                           pace="How its threads open (default: each at its air time)")
    @app_commands.choices(pace=PACE_CHOICES)
    async def show_add(self, interaction: discord.Interaction, title: app_commands.Range[str, 1, 100],
                       original_title: app_commands.Range[str, 1, 100] | None = None,
                       short_name: app_commands.Range[str, 1, 50] | None = None,
                       pace: app_commands.Choice[str] | None = None) -> None:
        await self.require_moderator(interaction)
        show = await self.service.add_show(interaction.guild_id, title, original_title, short_name,
                                           pace.value if pace else ReleasePace.ON_AIR.value)
        await interaction.response.send_message(text(interaction, "episodes.show.added", show=_show_name(show),
                                                     key=show.key), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="pace", description="How a show's threads open: all at release, one a day, or on air")
    @app_commands.describe(show="The show", pace="Release pace")
    @app_commands.choices(pace=PACE_CHOICES)
    async def show_pace(self, interaction: discord.Interaction, show: str, pace: app_commands.Choice[str]) -> None:
        await self.require_moderator(interaction)
        found = await self.service.set_pace(await self.service.show(interaction.guild_id, show), pace.value)
        await interaction.response.send_message(
            text(interaction, "episodes.show.pace_set", show=_show_name(found),
                 pace=text(interaction, f"episodes.pace.{found.release_pace}")),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="remove", description="Remove a show and its schedule (its threads stay)")
    @app_commands.describe(show="The show to remove")
    async def show_remove(self, interaction: discord.Interaction, show: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)

        async def remove(click: discord.Interaction) -> None:
            await self.service.remove_show(found)
            await interaction.edit_original_response(
                content=text(click, "episodes.show.removed", show=_show_name(found)), view=None,
                allowed_mentions=NO_MENTIONS)

        view = ConfirmView(interaction, remove, confirm_label=text(interaction, "episodes.show.remove_confirm"),
                           timeout=self.confirm_timeout)
        await interaction.response.send_message(text(interaction, "episodes.show.remove_question",
                                                     show=_show_name(found)),
                                                view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="import", description="Import a season schedule from a CSV or TOML file")
    @app_commands.describe(show="The show", file="CSV or TOML with season, episode, title, airs")
    async def show_import(self, interaction: discord.Interaction, show: str, file: discord.Attachment) -> None:
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)
        if file.size > MAX_IMPORT_BYTES:
            raise UserFacingError("episodes.import_too_big", kib=MAX_IMPORT_BYTES // 1024)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException:
            raise UserFacingError("episodes.import_unreadable", filename=file.filename[:60]) from None
        try:
            count = await self.service.import_schedule(found, file.filename, data)
        except ScheduleImportError as error:
            raise UserFacingError("episodes.import_failed", filename=file.filename[:60],
                                  problems=_import_problems(interaction, error)) from None
        await interaction.followup.send(text(interaction, "episodes.show.imported", count=count,
                                             show=_show_name(found)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @show_group.command(name="open", description="Open the threads of every episode that has already aired")
    @app_commands.describe(show="The show", season="Only this season")
    async def show_open(self, interaction: discord.Interaction, show: str, season: Season | None = None) -> None:
        """Threads of episodes that aired before the show was added never open by themselves: this opens them,
        one at a time, and links the ones that exist (running it again opens nothing new)."""
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.service.open_aired(found, season)
        if not outcome.results and outcome.error is None:
            reply = text(interaction, "episodes.show.none_aired", show=_show_name(found))
        else:
            reply = text(interaction, "episodes.show.opened", show=_show_name(found),
                         opened=outcome.count("created", "recreated"), reopened=outcome.count("reopened"),
                         existing=outcome.count("linked", "locked"))
        if outcome.error is not None:
            if not isinstance(outcome.error, UserFacingError | discord.HTTPException):
                raise outcome.error
            stopped = outcome.stopped_at
            reason = failure_reason(lambda key, **params: text(interaction, key, **params), outcome.error)
            reply += "\n" + text(interaction, "episodes.show.open_stopped",
                                  episode=episode_label(stopped.season, stopped.number), reason=reason)
        await interaction.followup.send(reply[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)

    show_pace.autocomplete("show")(show_autocomplete)
    show_open.autocomplete("show")(show_autocomplete)
    show_remove.autocomplete("show")(show_autocomplete)
    show_import.autocomplete("show")(show_autocomplete)

    # -- /episode admin ---------------------------------------------------------------------------------
    @episode_group.command(name="add", description="Add an episode (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", season="Season number", episode="Episode number",
                           title="Episode title", airs="Air time, e.g. 2025-01-24 17:00 (server time zone)")
    async def episode_add(self, interaction: discord.Interaction, show: str, season: Season, episode: EpisodeNumber,
                          title: app_commands.Range[str, 1, 100] | None = None, airs: str | None = None) -> None:
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)
        airs_at = await self.read_airs(interaction.guild_id, airs) if airs else None
        added = await self.service.add_episode(found, season, episode, title, airs_at)
        await interaction.response.send_message(
            text(interaction, "episodes.episode.added", show=_show_name(found),
                 episode=episode_label(added.season, added.number), airs=_airs(interaction, added.airs_at)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @episode_group.command(name="schedule", description="Set or change an episode's air time (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", season="Season number", episode="Episode number",
                           airs="Air time, e.g. 2025-01-24 17:00 (server time zone)")
    async def episode_schedule(self, interaction: discord.Interaction, show: str, season: Season,
                               episode: EpisodeNumber, airs: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)
        target = await self.service.episode(found, episode, season)
        airs_at = await self.read_airs(interaction.guild_id, airs)
        updated = await self.service.schedule_episode(found, target, airs_at)
        await interaction.response.send_message(
            text(interaction, "episodes.episode.scheduled", show=_show_name(found),
                 episode=episode_label(updated.season, updated.number), airs=_airs(interaction, updated.airs_at)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @episode_group.command(name="lock", description="Archive and lock an episode's thread (moderators)",
                            extras=MODERATORS)
    @app_commands.describe(show="The show", episode="Episode, e.g. 3 or S1E3")
    async def episode_lock(self, interaction: discord.Interaction, show: str, episode: str) -> None:
        await self.require_moderator(interaction)
        found = await self.service.show(interaction.guild_id, show)
        target = await self.service.episode(found, episode)
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await self.service.lock(target)
        await interaction.followup.send(text(interaction, "episodes.locked", thread=f"<#{thread.thread_id}>"),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /episode thread --------------------------------------------------------------------------------
    @episode_group.command(name="thread", description="Open or find the discussion thread of an episode")
    @app_commands.describe(show="The show", episode="Episode, e.g. 3 or S1E3", season="Season (default: latest)")
    async def episode_thread(self, interaction: discord.Interaction, show: str, episode: str,
                             season: Season | None = None) -> None:
        found = await self.service.show(interaction.guild_id, show)
        target = await self.service.episode(found, episode, season)
        may_create = self.service.has_aired(target) or await self.is_moderator(interaction)
        existing = await self.service.thread(target)
        if existing is None and not may_create:
            await self.service.open_or_link(target.id, may_create=False)  # raises the "not aired" error
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def open_and_link(_: discord.Interaction) -> None:
            """Answers by editing the command's own (ephemeral) response, also after the spoiler check."""
            try:
                result = await self.service.open_or_link(target.id, may_create=may_create)
            except ChannelPermissionError as error:
                reply = text(interaction, error.key, **_localized_permissions(interaction, error).params)
            except UserFacingError as error:
                reply = text(interaction, error.key, **error.params)
            else:
                reply = _thread_reply(interaction, found, target, result)
            await interaction.edit_original_response(content=reply, view=None, allowed_mentions=NO_MENTIONS)

        if await self.service.is_beyond_progress(interaction.user.id, found, target):
            view = ConfirmView(interaction, open_and_link, confirm_label=text(interaction, "episodes.spoiler.confirm"),
                               timeout=self.confirm_timeout)
            progress = await self.service.progress(interaction.user.id, found)
            watched = (episode_label(progress.season, progress.episode) if progress
                       else text(interaction, "episodes.progress.nothing"))
            await interaction.edit_original_response(
                content=text(interaction, "episodes.spoiler.warning", episode=episode_label(target.season,
                                                                                            target.number),
                             watched=watched),
                view=view, allowed_mentions=NO_MENTIONS)
            return
        await open_and_link(interaction)

    # -- /episode ratings -------------------------------------------------------------------------------
    @episode_group.command(name="ratings", description="Every episode's average rating, votes and the best one")
    @app_commands.describe(show="The show", season="Only this season")
    async def episode_ratings(self, interaction: discord.Interaction, show: str, season: Season | None = None) -> None:
        found = await self.service.show(interaction.guild_id, show)
        table = await self.service.ratings_table(found, season)
        # A lookup, rendered in the member's language: only they see it.
        await interaction.response.send_message(embed=ratings_embed(interaction, table), ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)

    episode_add.autocomplete("show")(show_autocomplete)
    episode_schedule.autocomplete("show")(show_autocomplete)
    episode_lock.autocomplete("show")(show_autocomplete)
    episode_thread.autocomplete("show")(show_autocomplete)
    episode_ratings.autocomplete("show")(show_autocomplete)
    episode_add.autocomplete("episode")(episode_number_autocomplete)
    episode_schedule.autocomplete("episode")(episode_number_autocomplete)
    episode_lock.autocomplete("episode")(episode_ref_autocomplete)
    episode_thread.autocomplete("episode")(episode_ref_autocomplete)

    # -- /progress --------------------------------------------------------------------------------------
    @progress_group.command(name="set", description="Record the last episode you have watched")
    @app_commands.describe(show="The show", episode="Last episode watched, e.g. 3 or S1E3")
    async def progress_set(self, interaction: discord.Interaction, show: str, episode: str) -> None:
        found = await self.service.show(interaction.guild_id, show)
        target = await self.service.episode(found, episode)
        await self.service.set_progress(interaction.user.id, found, target)
        await interaction.response.send_message(
            text(interaction, "episodes.progress.saved", show=_show_name(found),
                 episode=episode_label(target.season, target.number)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @progress_group.command(name="show", description="What you have recorded watching")
    async def progress_show(self, interaction: discord.Interaction) -> None:
        entries = await self.service.all_progress(interaction.guild_id, interaction.user.id)
        if not entries:
            content = text(interaction, "episodes.progress.none")
        else:
            lines = [text(interaction, "episodes.progress.line", show=_show_name(show),
                          episode=episode_label(progress.season, progress.episode)) for show, progress in entries]
            content = "\n".join([text(interaction, "episodes.progress.title"), *lines])[:2000]
        await interaction.response.send_message(content, ephemeral=True, allowed_mentions=NO_MENTIONS)

    progress_set.autocomplete("show")(show_autocomplete)
    progress_set.autocomplete("episode")(episode_ref_autocomplete)

    # -- buttons on starter messages ----------------------------------------------------------------------
    async def button_failed(self, interaction: discord.Interaction, error: Exception) -> None:
        """Answer a deferred button click whose work failed: a UserFacingError as its ephemeral text, anything
        else (a Discord refusal, a database error) as "something went wrong (ref X)" with the traceback logged.
        A DynamicItem's own error handler only logs, which would leave the member on "thinking…" forever."""
        if isinstance(error, ChannelPermissionError):
            error = _localized_permissions(interaction, error)
        await self.bot.tree.on_error(interaction, error)  # type: ignore[arg-type]

    async def on_rate(self, interaction: discord.Interaction, episode_id: int, stars: int) -> None:
        """Acknowledge at once, then record the vote; the service edits the starter message one edit at a time
        per episode, from the database, so concurrent votes never leave a stale average on it."""
        await interaction.response.defer()
        try:
            starter = await self.service.rate(episode_id, interaction.user.id, stars)
        except Exception as error:
            await self.button_failed(interaction, error)
            return
        await interaction.followup.send(
            text(interaction, "episodes.rated", stars=stars, rating=rating_line(
                lambda key, **p: text(interaction, key, **p), starter.rating)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def on_join(self, interaction: discord.Interaction, episode_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await self.service.join(episode_id, interaction.user.id)
        except Exception as error:
            await self.button_failed(interaction, error)
            return
        key = "episodes.join_locked" if result.outcome == "locked" else "episodes.joined"
        await interaction.followup.send(text(interaction, key, thread=f"<#{result.thread.thread_id}>"),
                                        ephemeral=True, allowed_mentions=NO_MENTIONS)


def _show_name(show: Show) -> str:
    return f"{show.title} ({show.original_title})" if show.original_title else show.title


def _airs(interaction: discord.Interaction, airs_at: datetime | None) -> str:
    if airs_at is None:
        return text(interaction, "episodes.starter.unscheduled")
    return f"<t:{int(airs_at.timestamp())}:F>"


def _import_problems(interaction: discord.Interaction, error: ScheduleImportError) -> str:
    lines = [text(interaction, "episodes.import.line", line=problem.line,
                  problem=text(interaction, f"episodes.{problem.message_key}", detail=problem.detail))
             for problem in error.problems[:MAX_IMPORT_PROBLEMS_SHOWN]]
    if len(error.problems) > MAX_IMPORT_PROBLEMS_SHOWN:
        lines.append(text(interaction, "episodes.import.more", count=len(error.problems) - MAX_IMPORT_PROBLEMS_SHOWN))
    return "\n".join(lines)[:1500]


def _thread_reply(interaction: discord.Interaction, show: Show, episode, result: ThreadResult) -> str:
    return text(interaction, f"episodes.thread.{result.outcome}", thread=f"<#{result.thread.thread_id}>",
                show=show.short_name, episode=episode_label(episode.season, episode.number))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(EpisodesCog(bot))
