"""What the episode commands share: the service, the moderator check, air-time parsing and autocompletion."""

from __future__ import annotations

from datetime import datetime

from discord import app_commands
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.domain.episodes import MAX_EPISODE, MAX_SEASON, ScheduleValueError, episode_label, parse_air_time
from bot.domain.timeparse import WhenError, parse_when
from bot.errors import UserFacingError
from bot.services.episodes import Episode, EpisodeService, Show
from bot.ui import Interaction, guild_id_of, is_moderator, text

from .render import season_choice, show_name

MAX_CHOICES = 25
MODERATORS = {"audience": "moderator"}  # /help lists these only to moderators
Season = app_commands.Range[int, 1, MAX_SEASON]
EpisodeNumber = app_commands.Range[int, 1, MAX_EPISODE]


class EpisodeCogBase(commands.Cog):
    """A cog of the episodes extension; every one shares the extension's `EpisodeService`.

    Admin commands accept Manage Server or the server's moderator role (checked here, on the server side).
    """

    def __init__(self, bot: CodeBlueBot, service: EpisodeService) -> None:
        self.bot = bot
        self.service = service

    async def require_moderator(self, interaction: Interaction) -> None:
        if not await self.is_moderator(interaction):
            raise UserFacingError("episodes.moderators_only")

    async def is_moderator(self, interaction: Interaction) -> bool:
        settings = await self.bot.settings_service.get(guild_id_of(interaction))
        return is_moderator(interaction, settings.moderator_role_id)

    async def read_airs(self, guild_id: int, value: str) -> datetime:
        """ISO `2025-01-24 17:00` (server zone, or with an offset/zone), else the watch-party formats."""
        zone = await self.service.lookup.zone(guild_id)
        try:
            return parse_air_time(value, default_zone=zone)
        except ScheduleValueError:
            pass
        try:
            return parse_when(value, zone=zone, now=self.bot.clock()).at
        except WhenError as error:
            raise UserFacingError("episodes.bad_airs", value=value[:60],
                                  reason=error.reading or error.code) from None

    async def _moderator_scope(self, interaction: Interaction) -> bool:
        """Whether the command being completed is a moderators' one that this member may not use (no choices)."""
        command = interaction.command
        if command is None:
            return False
        audience = [getattr(command, "extras", {}).get("audience")]
        parent = getattr(command, "parent", None)
        while parent is not None:
            audience.append(parent.extras.get("audience"))
            parent = parent.parent
        return "moderator" in audience and not await self.is_moderator(interaction)

    async def show_autocomplete(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Shows by title (original title first for Korean members); a typed key or title keeps working."""
        if await self._moderator_scope(interaction):
            return []
        needle = current.casefold().strip()
        korean = str(interaction.locale).startswith("ko")
        choices = []
        for show in await self.service.lookup.shows(guild_id_of(interaction)):
            names = (show.key, show.title, show.short_name, show.original_title or "")
            if not needle or any(needle in name.casefold() for name in names):
                label = show_name(show)
                if korean and show.original_title:
                    label = f"{show.original_title} ({show.title})"
                choices.append(app_commands.Choice(name=label[:100], value=show.key))
        return choices[:MAX_CHOICES]

    async def _completion_show(self, interaction: Interaction) -> Show | None:
        key = getattr(interaction.namespace, "show", None)
        if not key:
            return None
        try:
            return await self.service.lookup.show(guild_id_of(interaction), str(key))
        except UserFacingError:
            return None

    async def season_autocomplete(self, interaction: Interaction, current: int | str) -> list[app_commands.Choice[int]]:
        """The show's seasons with their premiere and episode count, in the member's language; `/show season
        add` offers the next number first. Members see the seasons that have aired episodes."""
        show = await self._completion_show(interaction)
        if show is None or await self._moderator_scope(interaction):
            return []
        moderator = await self.is_moderator(interaction)
        summaries = await self.service.seasons.summaries(show)

        def say(key: str, **params: object) -> str:
            return text(interaction, key, **params)
        choices = [app_commands.Choice(name=season_choice(say, s)[:100], value=s.number) for s in summaries
                   if (moderator or s.aired) and (not str(current) or str(current) in str(s.number))]
        if interaction.command is not None and interaction.command.qualified_name == "show season add":
            following = max((s.number for s in summaries), default=0) + 1
            choices = [app_commands.Choice(name=say("episodes.season.new", season=following), value=following)
                       ] if following <= MAX_SEASON else []
        return choices[:MAX_CHOICES]

    async def _autocomplete_episodes(self, interaction: Interaction) -> list[Episode]:
        show = await self._completion_show(interaction)
        if show is None:
            return []
        season = getattr(interaction.namespace, "season", None)
        return await self.service.lookup.episodes(show, season if isinstance(season, int) else None)

    async def episode_ref_autocomplete(self, interaction: Interaction,
                                       current: str) -> list[app_commands.Choice[str]]:
        """Episodes by label and title, scoped to what the member may act on: members see aired episodes and
        those with threads, moderators every episode; `/episode lock` lists episodes that have a thread."""
        if await self._moderator_scope(interaction):
            return []
        needle = current.casefold().replace(" ", "")
        episodes = await self._autocomplete_episodes(interaction)
        threads = await self.service.lookup.with_threads(episodes)
        command = interaction.command.qualified_name if interaction.command else ""
        moderator = await self.is_moderator(interaction)
        choices = []
        for episode in episodes:
            if command == "episode lock" and episode.id not in threads:
                continue
            if not moderator and episode.id not in threads and not self.service.lookup.has_aired(episode):
                continue
            label = episode_label(episode.season, episode.number)
            name = f"{label} · {episode.title}" if episode.title else label
            if not self.service.lookup.has_aired(episode):
                name += " · " + (text(interaction, "episodes.choice.airs", date=episode.airs_at.strftime("%Y-%m-%d"))
                                 if episode.airs_at else text(interaction, "episodes.starter.unscheduled"))
            if not needle or needle in name.casefold().replace(" ", "") or needle == str(episode.number):
                choices.append(app_commands.Choice(name=name[:100], value=label))
        return choices[:MAX_CHOICES]

    async def episode_number_autocomplete(self, interaction: Interaction,
                                          current: int | str) -> list[app_commands.Choice[int]]:
        if await self._moderator_scope(interaction):
            return []
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


