"""/watchparty create, list, edit, cancel and calendar (file, subscribe, reset); the cog is the service's
`PartyPoster`."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.domain.timeparse import EXAMPLES_EN, EXAMPLES_KO, WhenError, reading_text
from bot.errors import UserFacingError
from bot.i18n import language_for
from bot.services.watchparties import (
    MAX_REPEAT_WEEKLY,
    DmLedger,
    Party,
    PartyRequest,
    ReminderNotDelivered,
    Rsvp,
    watch_party_service,
)
from bot.ui import NO_MENTIONS, Interaction, guild_id_of, is_moderator, notify_admins, text
from bot.web import links

from . import render
from .announcements import Announcements
from .buttons import PartyButton, show_list_page
from .events import ScheduledEvents
from .notices import DISCORD_FAILURES, PartyNotices, error_text
from .timezone import timezone_autocomplete

log = logging.getLogger(__name__)


def _when_refusal(interaction: Interaction, error: WhenError) -> UserFacingError:
    language = language_for(interaction.locale)
    examples = ", ".join(f"`{e}`" for e in (EXAMPLES_KO if language == "ko" else EXAMPLES_EN))
    return UserFacingError(f"watchparty.when.{error.code}", reading=reading_text(error, language) or "—",
                           examples=examples)


class WatchPartyCog(commands.Cog):
    watchparty = app_commands.Group(name="watchparty", description="Watch an episode together", guild_only=True)

    def __init__(self, bot: CodeBlueBot, *, retry_delay: timedelta) -> None:
        self.bot = bot
        self.notices = PartyNotices(bot)
        # The service reaches Discord through this cog (its PartyPoster), handed over at construction.
        self.service = watch_party_service(bot.db, bot.settings_service, bot.scheduler, self, clock=bot.clock,
                                           retry_delay=retry_delay, metrics=bot.metrics)
        self.announcements = Announcements(bot, self.service, PartyButton)
        self.events = ScheduledEvents(bot, self.service)

    async def cog_load(self) -> None:
        await self.service.reminders.rebuild()

    async def cog_unload(self) -> None:
        self.service.reminders.unschedule_all()

    # -- PartyPoster ----------------------------------------------------------------------------------
    async def wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    def serves_guild(self, guild_id: int) -> bool:
        return self.bot.get_guild(guild_id) is not None

    async def send_reminder(self, party: Party, offset: timedelta, recipients: Sequence[Rsvp], *,
                            late: bool, dms: DmLedger, channel: bool = True) -> None:
        await self.notices.send_reminder(party, offset, recipients, late=late, dms=dms, channel=channel)

    async def find_reminder(self, party: Party, offset: timedelta, since: datetime | None) -> bool:
        return await self.notices.find_reminder(party, offset, since)

    async def reminder_undelivered(self, party: Party, error: str) -> None:
        await self.notices.reminder_undelivered(party, error)

    async def party_ended(self, party: Party) -> None:
        await self.bot.wait_until_ready()
        await self.announcements.refresh(party)
        await self.events.close(party)

    # -- /watchparty create ---------------------------------------------------------------------------
    @watchparty.command(name="create", description="Schedule a watch party")
    @app_commands.describe(
        title="What you will watch together", when="e.g. tomorrow 9pm, sat 20:00, 내일 오후 9시",
        description="More details", show="The show", episode="Episode number",
        timezone="Read `when` in this zone instead of yours", duration="Length in minutes (default 60)",
        voice_channel="Voice channel for the party", repeat_weekly="Create this many weekly parties",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def create(
        self, interaction: Interaction, title: app_commands.Range[str, 1, 100], when: str,
        description: app_commands.Range[str, 1, 1000] | None = None,
        show: app_commands.Range[str, 1, 100] | None = None,
        episode: app_commands.Range[int, 0, 9999] | None = None, timezone: str | None = None,
        duration: app_commands.Range[int, 1, 1440] = 60, voice_channel: discord.VoiceChannel | None = None,
        repeat_weekly: app_commands.Range[int, 1, MAX_REPEAT_WEEKLY] = 1,
    ) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(guild_id)
        configured = self.bot.get_channel(settings.watchparty_channel_id) if settings.watchparty_channel_id else None
        target = configured or interaction.channel
        if not isinstance(target, discord.abc.Messageable):  # e.g. a forum or a category set as the channel
            raise UserFacingError("watchparty.create.cannot_post",
                                  channel=render.channel_mention(settings.watchparty_channel_id or 0))
        request = PartyRequest(
            guild_id=guild_id, channel_id=target.id, host_id=interaction.user.id, title=title, when=when,
            timezone=timezone, description=description, show=show, episode=episode, duration_minutes=duration,
            voice_channel_id=voice_channel.id if voice_channel else None, repeat_weekly=repeat_weekly,
        )
        try:
            created = await self.service.create(request)
        except WhenError as exc:
            raise _when_refusal(interaction, exc) from None
        parties: list[Party] = []
        posted: list[discord.Message] = []
        for party in created.parties:
            try:
                content = await self.announcements.content(party)
                message = await target.send(embed=content.embed, view=content.view, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                await self._roll_back(created.parties, posted)
                raise UserFacingError("watchparty.create.cannot_post",
                                      channel=render.channel_mention(target.id)) from None
            posted.append(message)
            await self.service.set_message(party.id, message.id)
            parties.append((await self.service.get(party.id)) or party)
        events_ok = True
        for party in parties:
            events_ok = await self.events.create(party, interaction.guild) and events_ok
        lines = [text(interaction, "watchparty.create.done", title=title, count=len(parties),
                      zone=created.when.zone_name)]
        lines += [text(interaction, "watchparty.create.line", id=p.id, when=render.when_text(p.starts_at),
                       link=render.party_link(p)) for p in parties]
        if created.when.zone_abbreviation:  # the text named an abbreviation: say which zone it stands for
            lines.append(text(interaction, "timezone.abbreviation", abbreviation=created.when.zone_abbreviation,
                              tz=created.when.zone_name))
        if not events_ok:
            lines.append(text(interaction, "watchparty.create.no_events"))
        await interaction.followup.send("\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _roll_back(self, parties: Sequence[Party], posted: Sequence[discord.Message]) -> None:
        """A series could not be fully announced: discard every party and delete the announcements already
        posted, whose buttons would otherwise point at parties that no longer exist."""
        for party in parties:
            await self.service.discard(party.id)
        for message in posted:
            try:
                await message.delete()
            except discord.NotFound:
                pass
            except discord.HTTPException:
                log.warning("could not delete announcement %s of a discarded party", message.id, exc_info=True)

    # -- /watchparty list -----------------------------------------------------------------------------
    @watchparty.command(name="list", description="Upcoming watch parties")
    async def list_parties(self, interaction: Interaction) -> None:
        await show_list_page(interaction, self.service, 0, edit=False)

    # -- /watchparty edit -----------------------------------------------------------------------------
    async def _party_choices(self, interaction: Interaction, current: str, *,
                             own_only: bool) -> list[app_commands.Choice[int]]:
        guild_id = guild_id_of(interaction)
        settings = await self.bot.settings_service.get(guild_id)
        parties = await self.service.pickable(guild_id, interaction.user.id, query=current, own_only=own_only,
                                              is_moderator=is_moderator(interaction, settings.moderator_role_id))
        zone = (await self.service.timezones.member_zone(interaction.user.id, guild_id)).resolution.zone
        return [app_commands.Choice(name=render.party_choice(p, zone), value=p.id) for p in parties]

    async def managed_party_autocomplete(self, interaction: Interaction,
                                         current: str) -> list[app_commands.Choice[int]]:
        """The member's own upcoming parties (every party for moderators), by title."""
        return await self._party_choices(interaction, current, own_only=True)

    async def any_party_autocomplete(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await self._party_choices(interaction, current, own_only=False)

    @watchparty.command(name="edit", description="Change a watch party you host")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="The party: pick it from the list (or type its number)", title="New title",
                           when="New start, read in the party's time zone unless you name one",
                           duration="New length in minutes", voice_channel="New voice channel",
                           remove_voice_channel="True: the party no longer uses a voice channel")
    async def edit(
        self, interaction: Interaction, party_id: int, title: app_commands.Range[str, 1, 100] | None = None,
        when: str | None = None, duration: app_commands.Range[int, 1, 1440] | None = None,
        voice_channel: discord.VoiceChannel | None = None, remove_voice_channel: bool = False,
    ) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(guild_id)
        try:
            party = await self.service.edit(
                party_id, guild_id, interaction.user.id,
                is_moderator=is_moderator(interaction, settings.moderator_role_id), title=title, when=when,
                duration_minutes=duration, voice_channel_id=voice_channel.id if voice_channel else None,
                remove_voice_channel=remove_voice_channel)
        except WhenError as exc:
            raise _when_refusal(interaction, exc) from None
        await self.announcements.refresh(party)
        await self.events.sync(party)
        await interaction.followup.send(
            text(interaction, "watchparty.edit.done", id=party.id, title=party.title,
                 when=render.when_text(party.starts_at)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /watchparty cancel ---------------------------------------------------------------------------
    @watchparty.command(name="cancel", description="Cancel a watch party (host or moderators)")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="The party: pick it from the list (or type its number)")
    async def cancel(self, interaction: Interaction, party_id: int) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(guild_id)
        party, going = await self.service.cancel(party_id, guild_id, interaction.user.id,
                                                 is_moderator=is_moderator(interaction, settings.moderator_role_id))
        await self.announcements.refresh(party)
        await self.events.delete(party)
        if going:
            t = render.server_text(self.bot, party.guild_id)
            notice = t("watchparty.cancelled", title=party.title, start=render.timestamp(party.starts_at, "F"),
                       by=render.user_mention(interaction.user.id))
            try:
                await self.notices.notify(party, going, notice, notice)
            except (*DISCORD_FAILURES, ReminderNotDelivered) as exc:
                log.warning("could not tell party %s's guests about the cancellation", party.id, exc_info=True)
                await notify_admins(self.bot, party.guild_id,
                                    t("watchparty.cancel.notice_failed", title=party.title,
                                      channel=render.channel_mention(party.channel_id), error=error_text(exc)))
        await interaction.followup.send(text(interaction, "watchparty.cancel.done", id=party.id, title=party.title,
                                             count=len(going)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /watchparty calendar file | subscribe | reset -----------------------------------------------------
    calendar = app_commands.Group(name="calendar", description="Watch parties in your calendar app",
                                  parent=watchparty)

    @calendar.command(name="file", description="Get a calendar file (.ics) for one or all upcoming parties")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="One party (pick it from the list); leave empty for every upcoming party")
    async def calendar_file(self, interaction: Interaction, party_id: int | None = None) -> None:
        parties = await self.service.calendar_parties(guild_id_of(interaction), party_id)
        name = interaction.guild.name if interaction.guild else "Code Blue"
        data = render.calendar_file(parties, calendar_name=name, stamp=self.bot.clock())
        filename = f"watchparty-{party_id}.ics" if party_id is not None else "watchparties.ics"
        await interaction.response.send_message(
            text(interaction, "watchparty.calendar.done", count=len(parties)), ephemeral=True,
            file=discord.File(io.BytesIO(data), filename=filename))

    @calendar.command(name="subscribe", description="Calendar addresses that follow every edit and cancellation")
    async def calendar_subscribe(self, interaction: Interaction) -> None:
        public_url = self.bot.settings.public_url
        if public_url is None:
            raise UserFacingError("config.web.no_public_url")
        companion = self.bot.companion
        mine = await companion.token("member_calendar", interaction.user.id)
        server = await companion.token("guild_calendar", guild_id_of(interaction))
        await interaction.response.send_message(
            text(interaction, "watchparty.calendar.subscribe", mine_webcal=links.webcal_url(public_url, mine),
                 mine_https=links.calendar_url(public_url, mine), server_webcal=links.webcal_url(public_url, server),
                 server_https=links.calendar_url(public_url, server)),
            ephemeral=True, allowed_mentions=NO_MENTIONS, suppress_embeds=True)

    @calendar.command(name="reset", description="Replace your personal calendar address (the old one stops working)")
    async def calendar_reset(self, interaction: Interaction) -> None:
        token = await self.bot.companion.reset("member_calendar", interaction.user.id)
        public_url = self.bot.settings.public_url
        if public_url is None:
            reply = "\n".join((text(interaction, "watchparty.calendar.reset"),
                               text(interaction, "config.web.no_public_url")))
        else:
            reply = text(interaction, "watchparty.calendar.reset_link", webcal=links.webcal_url(public_url, token),
                         https=links.calendar_url(public_url, token))
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS,
                                                suppress_embeds=True)

    edit.autocomplete("party_id")(managed_party_autocomplete)
    cancel.autocomplete("party_id")(managed_party_autocomplete)
    calendar_file.autocomplete("party_id")(any_party_autocomplete)
