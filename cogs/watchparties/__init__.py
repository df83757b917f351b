"""/watchparty and /timezone: the Discord side of watch parties (logic in bot.services.watchparties).

The cog is also the service's `PartyPoster`: reminder posts and DMs, end-of-party edits.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.timeparse import EXAMPLES_EN, EXAMPLES_KO, WhenError, reading_text
from bot.domain.timezones import timezone_choices
from bot.errors import UserFacingError
from bot.i18n import language_for
from bot.services.watchparties import (
    MAX_REPEAT_WEEKLY,
    PartyRequest,
    ReminderNotDelivered,
    WatchPartyService,
    party_link,
    watch_party_service,
)
from bot.ui import NO_MENTIONS, guild_text, is_moderator, notify_admins, text

from . import render

log = logging.getLogger(__name__)
CONTENT_LIMIT = 2000
UNKNOWN_MESSAGE = 10008  # Discord's error code for a deleted message


# What a post to Discord can fail with: an answer (HTTPException) or no answer (network failure, timeout).
DISCORD_FAILURES = (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError)


def _is_network_failure(error: BaseException) -> bool:
    """Discord unreachable or failing (no answer, or a 5xx), as opposed to refusing (a 4xx: permissions, closed
    DMs) which a retry would not change."""
    if isinstance(error, discord.HTTPException):
        return error.status >= 500
    return isinstance(error, DISCORD_FAILURES)


def _not_delivered(error: BaseException) -> bool:
    """Whether a failed post certainly was not delivered, so that sending it again cannot post it twice.

    - No connection was made (aiohttp.ClientConnectorError: DNS, refused, TLS): nothing reached Discord.
    - A 5xx answer: Discord says it failed. (discord.py has already re-sent 500/502/504 by itself before we see
      one, so treating a 5xx as "may have posted" would buy no at-most-once guarantee anyway.)
    A timeout or a connection lost after the request was sent (ServerDisconnectedError, ClientOSError, a bare
    OSError) may have posted: those are never retried (at most once: one missed reminder beats two)."""
    if isinstance(error, discord.HTTPException):
        return error.status >= 500
    return isinstance(error, aiohttp.ClientConnectorError)


def _error_text(error: BaseException) -> str:
    if isinstance(error, discord.HTTPException):
        return f"{error.status} {error.text}"[:200]
    return (type(error).__name__ + (f": {error}" if str(error) else ""))[:200]


def _service(client: Any) -> WatchPartyService:
    cog = client.get_cog("WatchPartyCog")
    if cog is None:
        raise UserFacingError("watchparty.unavailable")
    return cog.service


class PartyButton(discord.ui.DynamicItem[discord.ui.Button], template=render.PARTY_CUSTOM_ID):
    """An RSVP or DM-toggle button; its custom id carries the party id, so it works after a restart."""

    def __init__(self, party_id: int, action: str, *, label: str | None = None,
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(custom_id=f"wp:{party_id}:{action}", label=label, style=style,
                                           disabled=disabled))
        self.party_id = party_id
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> PartyButton:
        return cls(int(match["party"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("WatchPartyCog")  # type: ignore[attr-defined]
        await cog.on_party_button(interaction, self.party_id, self.action)


class ListPageButton(discord.ui.DynamicItem[discord.ui.Button], template=render.LIST_CUSTOM_ID):
    """◀ / ▶ on a /watchparty list page; the custom id carries the page to show."""

    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "◀" if direction == "prev" else "▶"
        super().__init__(discord.ui.Button(custom_id=f"wpl:{page}:{direction}", label=label,
                                           style=discord.ButtonStyle.secondary, disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> ListPageButton:
        return cls(int(match["page"]), match["direction"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("WatchPartyCog")  # type: ignore[attr-defined]
        await cog.show_list_page(interaction, self.page, edit=True)


async def _timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=name, value=name) for name in timezone_choices(current, limit=25)]


def _when_refusal(interaction: discord.Interaction, error: WhenError) -> UserFacingError:
    language = language_for(interaction.locale)
    examples = ", ".join(f"`{e}`" for e in (EXAMPLES_KO if language == "ko" else EXAMPLES_EN))
    return UserFacingError(f"watchparty.when.{error.code}", reading=reading_text(error, language) or "—",
                           examples=examples)


class WatchPartyCog(commands.Cog):
    timezone = app_commands.Group(name="timezone", description="Your time zone for watch-party times")
    watchparty = app_commands.Group(name="watchparty", description="Watch an episode together", guild_only=True)

    def __init__(self, bot: Any, service: WatchPartyService) -> None:
        self.bot = bot
        self.service = service
        service.poster = self
        # One lock per party for "write -> read -> edit the announcement", so updates reach Discord in the order
        # their state was read and a slow edit never overwrites a newer one (entries vanish when unused).
        self._announcement_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PartyButton, ListPageButton)
        await self.service.rebuild()

    async def cog_unload(self) -> None:
        self.service.unschedule_all()
        self.bot.remove_dynamic_items(PartyButton, ListPageButton)

    # -- helpers --------------------------------------------------------------------------------------
    def _guild_t(self, guild_id: int) -> render.Text:
        return functools.partial(guild_text, self.bot, self.bot.get_guild(guild_id))

    def _announcement_lock(self, party_id: int) -> asyncio.Lock:
        lock = self._announcement_locks.get(party_id)
        if lock is None:
            lock = self._announcement_locks[party_id] = asyncio.Lock()
        return lock

    async def _render(self, party: Any, rsvps: Sequence[Any] | None = None) -> dict[str, Any]:
        t = self._guild_t(party.guild_id)
        if rsvps is None:
            rsvps = await self.service.rsvps(party.id)
        return {"embed": render.party_embed(t, party, rsvps), "view": render.party_view(t, party, rsvps, PartyButton)}

    async def _refresh_announcement(self, party: Any) -> None:
        """Bring the announcement in line with the party as it is now; a failure is only logged."""
        try:
            await self._update_announcement(party.id)
        except discord.HTTPException:
            log.warning("could not update the announcement of party %s", party.id, exc_info=True)

    async def _update_announcement(self, party_id: int, write: Callable[[], Awaitable[Any]] | None = None) -> None:
        """write -> read -> edit under the party's lock, so the edit shows the newest state. A deleted
        announcement (404 Unknown Message) of a scheduled party is posted again in its channel and the new message
        id stored, so its buttons and reminders' links work again. Raises what `write` raises, or the edit's
        HTTPException."""
        async with self._announcement_lock(party_id):
            if write is not None:
                await write()
            party = await self.service.get(party_id)  # the state as it is now, inside the lock
            if party is None or not party.message_id:
                return
            channel = self.bot.get_partial_messageable(party.channel_id, guild_id=party.guild_id)
            content = await self._render(party)
            try:
                await channel.get_partial_message(party.message_id).edit(**content)
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE or party.status != "scheduled":
                    raise
                message = await channel.send(**content, allowed_mentions=NO_MENTIONS)
                await self.service.set_message(party.id, message.id)
                log.info("announcement of party %s was deleted; posted again as %s", party.id, message.id)

    def _can_manage_events(self, guild: discord.Guild | None) -> bool:
        if guild is None:
            return False
        permissions = guild.me.guild_permissions
        return permissions.manage_events or permissions.create_events

    def _event_fields(self, party: Any, guild: discord.Guild) -> dict[str, Any]:
        show = render.show_text(self._guild_t(party.guild_id), party)
        description = "\n".join(x for x in (show, party.description, party_link(party)) if x)[:1000]
        fields: dict[str, Any] = {"name": party.title, "start_time": party.starts_at, "end_time": party.ends_at,
                                  "description": description, "privacy_level": discord.PrivacyLevel.guild_only}
        voice = guild.get_channel(party.voice_channel_id) if party.voice_channel_id else None
        if isinstance(voice, discord.VoiceChannel | discord.StageChannel):
            fields.update(entity_type=discord.EntityType.voice if isinstance(voice, discord.VoiceChannel)
                          else discord.EntityType.stage_instance, channel=voice)
        else:
            channel = guild.get_channel(party.channel_id)
            fields.update(entity_type=discord.EntityType.external,
                          location=f"#{channel.name}" if channel else party_link(party))
        return fields

    async def _create_event(self, party: Any, guild: discord.Guild) -> bool:
        """Create the party's scheduled event; False when the bot may not (no Manage Events)."""
        if not self._can_manage_events(guild):
            return False
        try:
            event = await guild.create_scheduled_event(**self._event_fields(party, guild))
        except discord.Forbidden:
            return False
        except discord.HTTPException:
            log.warning("could not create the scheduled event of party %s", party.id, exc_info=True)
            return True
        await self.service.set_scheduled_event(party.id, event.id)
        return True

    async def _sync_event(self, party: Any) -> None:
        """Bring the scheduled event in line with an edited party (creating it if it is missing and allowed)."""
        guild = self.bot.get_guild(party.guild_id)
        if guild is None:
            return
        if not party.scheduled_event_id:
            await self._create_event(party, guild)
            return
        fields = self._event_fields(party, guild)
        payload: dict[str, Any] = {
            "name": fields["name"], "description": fields["description"],
            "scheduled_start_time": party.starts_at.isoformat(), "scheduled_end_time": party.ends_at.isoformat(),
            "entity_type": fields["entity_type"].value,
        }
        if "channel" in fields:
            payload.update(channel_id=fields["channel"].id, entity_metadata=None)
        else:
            payload.update(channel_id=None, entity_metadata={"location": fields["location"]})
        try:
            await self.bot.http.edit_scheduled_event(party.guild_id, party.scheduled_event_id, **payload)
        except discord.HTTPException:
            log.warning("could not update the scheduled event of party %s", party.id, exc_info=True)

    async def _delete_event(self, party: Any) -> None:
        if not party.scheduled_event_id:
            return
        try:
            await self.bot.http.delete_scheduled_event(party.guild_id, party.scheduled_event_id)
        except discord.NotFound:
            pass
        except discord.HTTPException:
            log.warning("could not delete the scheduled event of party %s", party.id, exc_info=True)
        await self.service.set_scheduled_event(party.id, None)

    async def _notify(self, party: Any, people: Sequence[Any], channel_text: str, dm_text: str,
                      role_id: int | None = None) -> None:
        """Post `channel_text` mentioning the role and the members who want channel pings (exactly those may be
        pinged), split if the mentions do not fit one message; DM the others. The two paths are independent: the
        DMs go out even when the channel post fails; a closed DM only skips that member.

        Raises ReminderNotDelivered when nothing was delivered and every network failure was one that cannot have
        delivered anything (`_not_delivered`), so trying it all again cannot post twice; otherwise the channel
        post's error, if it failed. A DM lost to a network failure while something else was delivered is only
        logged: retrying would repeat what was delivered."""
        posted: list[int] = []
        channel_error: BaseException | None = None
        network_errors: list[BaseException] = []
        try:
            await self._post_with_mentions(party, [r.user_id for r in people if not r.dm_reminders], channel_text,
                                           role_id, posted)
        except DISCORD_FAILURES as exc:
            channel_error = exc
            if _is_network_failure(exc):
                network_errors.append(exc)
        dms_sent = 0
        for user_id in (r.user_id for r in people if r.dm_reminders):
            try:
                user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
                await user.send(dm_text, allowed_mentions=NO_MENTIONS)
                dms_sent += 1
            except DISCORD_FAILURES as exc:
                if _is_network_failure(exc):
                    network_errors.append(exc)
                log.info("could not DM user %s about party %s: %r", user_id, party.id, exc)
        if network_errors and not posted and not dms_sent and all(_not_delivered(e) for e in network_errors):
            raise ReminderNotDelivered(_error_text(network_errors[0]))
        if channel_error is not None:
            raise channel_error

    async def _post_with_mentions(self, party: Any, user_ids: Sequence[int], channel_text: str,
                                  role_id: int | None, posted: list[int] | None = None) -> None:
        """Post the text with the mentions, in as many messages as the mentions need; the ids of the messages
        posted are appended to `posted` as they go (so a caller knows what was delivered when a later one fails)."""
        channel = self.bot.get_partial_messageable(party.channel_id, guild_id=party.guild_id)
        prefix = [f"<@&{role_id}>"] if role_id else []
        chunks: list[tuple[list[int], str]] = []
        users: list[int] = []
        line = " ".join(prefix)
        for user_id in user_ids:
            mention = f"<@{user_id}>"
            budget = CONTENT_LIMIT - (len(channel_text) + 1 if not chunks else 0)
            if len(line) + len(mention) + 1 > budget:
                chunks.append((users, line))
                users, line = [], ""
            users.append(user_id)
            line = f"{line} {mention}".strip()
        chunks.append((users, line))
        for index, (chunk_users, mentions) in enumerate(chunks):
            content = f"{mentions}\n{channel_text}" if index == 0 else mentions
            if not content.strip():
                continue
            allowed = discord.AllowedMentions(
                everyone=False, replied_user=False,
                users=[discord.Object(u) for u in chunk_users],
                roles=[discord.Object(role_id)] if role_id and index == 0 else False,
            )
            message = await channel.send(content.strip(), allowed_mentions=allowed)
            if posted is not None:
                posted.append(message.id)

    # -- PartyPoster ----------------------------------------------------------------------------------
    async def wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    def serves_guild(self, guild_id: int) -> bool:
        return self.bot.get_guild(guild_id) is not None

    async def send_reminder(self, party: Any, offset: timedelta, recipients: Sequence[Any], *, late: bool) -> None:
        await self.bot.wait_until_ready()
        t = self._guild_t(party.guild_id)
        settings = await self.bot.settings_service.get(party.guild_id)
        key = "watchparty.reminder.now" if not offset else "watchparty.reminder.soon"
        body = t(key, title=party.title, start=render.timestamp(party.starts_at, "F"),
                 relative=render.timestamp(party.starts_at, "R"), link=party_link(party))
        if late:
            body = t("watchparty.reminder.late") + " " + body
        try:
            await self._notify(party, recipients, body, body, settings.watchparty_ping_role_id)
        except ReminderNotDelivered:
            raise  # Discord unreachable: the service tries again shortly, nobody to tell yet
        except DISCORD_FAILURES as exc:
            await notify_admins(self.bot, party.guild_id,
                                t("watchparty.reminder.failed", title=party.title, channel=f"<#{party.channel_id}>",
                                  error=_error_text(exc)))
            raise

    async def party_ended(self, party: Any) -> None:
        await self.bot.wait_until_ready()
        await self._refresh_announcement(party)
        await self._close_event(party)

    async def _close_event(self, party: Any) -> None:
        """The party is over: an event members started (ACTIVE) becomes COMPLETED; one that never started
        (SCHEDULED, which Discord does not let become COMPLETED) is deleted; a finished one is left alone."""
        if not party.scheduled_event_id:
            return
        guild_id, event_id = party.guild_id, party.scheduled_event_id
        try:
            event = await self.bot.http.get_scheduled_event(guild_id, event_id, with_user_count=False)
            status = discord.EventStatus(int(event["status"]))
            if status is discord.EventStatus.active:
                await self.bot.http.edit_scheduled_event(guild_id, event_id,
                                                         status=discord.EventStatus.completed.value)
            elif status is discord.EventStatus.scheduled:
                await self.bot.http.delete_scheduled_event(guild_id, event_id)
                await self.service.set_scheduled_event(party.id, None)
        except discord.NotFound:
            await self.service.set_scheduled_event(party.id, None)
        except discord.HTTPException:
            log.warning("could not close the scheduled event of party %s", party.id, exc_info=True)

    # -- buttons --------------------------------------------------------------------------------------
    async def on_party_button(self, interaction: discord.Interaction, party_id: int, action: str) -> None:
        """Acknowledge at once (Discord allows 3 s, and the per-party lock may be busy with a burst of clicks),
        then write the answer and edit the announcement under the lock. Every failure is answered as a followup by
        the tree's error handler: a UserFacingError in its words, anything else as "something went wrong (ref X)"."""
        try:
            if action == "dm":
                enabled = await self.service.toggle_dm(party_id, interaction.user.id)  # one quick write, no lock
                await interaction.response.send_message(
                    text(interaction, "watchparty.rsvp.dm_on" if enabled else "watchparty.rsvp.dm_off"),
                    ephemeral=True)
                return
            await interaction.response.defer()  # deferred update: the announcement is edited below

            async def write() -> None:
                await self.service.rsvp(party_id, interaction.user.id, interaction.user.display_name, action)

            try:
                await self._update_announcement(party_id, write)
            except discord.HTTPException:
                log.warning("could not update the announcement of party %s", party_id, exc_info=True)
                raise UserFacingError("watchparty.rsvp.not_shown") from None
        except Exception as error:
            await self.bot.tree.on_error(interaction, error)  # type: ignore[arg-type]

    # -- /timezone ------------------------------------------------------------------------------------
    @timezone.command(name="set", description="Set your time zone (e.g. Asia/Seoul, America/New_York, KST)")
    @app_commands.describe(tz="An IANA time zone or a common abbreviation")
    @app_commands.autocomplete(tz=_timezone_autocomplete)
    async def timezone_set(self, interaction: discord.Interaction, tz: str) -> None:
        resolution = await self.service.set_member_timezone(interaction.user.id, tz)
        now = discord.utils.utcnow().astimezone(resolution.zone)
        reply = text(interaction, "timezone.saved", tz=resolution.name, now=f"{now:%H:%M}")
        if resolution.abbreviation:
            reply += "\n" + text(interaction, "timezone.abbreviation", abbreviation=resolution.abbreviation,
                                 tz=resolution.name)
        await interaction.response.send_message(reply, ephemeral=True)

    @timezone.command(name="show", description="Show the time zone used for your watch-party times")
    async def timezone_show(self, interaction: discord.Interaction) -> None:
        zone = await self.service.member_zone(interaction.user.id, interaction.guild_id)
        now = discord.utils.utcnow().astimezone(zone.resolution.zone)
        await interaction.response.send_message(
            text(interaction, f"timezone.show.{zone.source}", tz=zone.resolution.name, now=f"{now:%H:%M}"),
            ephemeral=True)

    # -- /watchparty create ---------------------------------------------------------------------------
    @watchparty.command(name="create", description="Schedule a watch party")
    @app_commands.describe(
        title="What you will watch together", when="e.g. tomorrow 9pm, sat 20:00, 내일 오후 9시",
        description="More details", show="The show", episode="Episode number",
        timezone="Read `when` in this zone instead of yours", duration="Length in minutes (default 60)",
        voice_channel="Voice channel for the party", repeat_weekly="Create this many weekly parties",
    )
    @app_commands.autocomplete(timezone=_timezone_autocomplete)
    async def create(
        self, interaction: discord.Interaction, title: app_commands.Range[str, 1, 100], when: str,
        description: app_commands.Range[str, 1, 1000] | None = None,
        show: app_commands.Range[str, 1, 100] | None = None,
        episode: app_commands.Range[int, 0, 9999] | None = None, timezone: str | None = None,
        duration: app_commands.Range[int, 1, 1440] = 60, voice_channel: discord.VoiceChannel | None = None,
        repeat_weekly: app_commands.Range[int, 1, MAX_REPEAT_WEEKLY] = 1,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(interaction.guild_id)
        target = (self.bot.get_channel(settings.watchparty_channel_id) if settings.watchparty_channel_id else None) \
            or interaction.channel
        request = PartyRequest(
            guild_id=interaction.guild_id, channel_id=target.id, host_id=interaction.user.id, title=title, when=when,
            timezone=timezone, description=description, show=show, episode=episode, duration_minutes=duration,
            voice_channel_id=voice_channel.id if voice_channel else None, repeat_weekly=repeat_weekly,
        )
        try:
            created = await self.service.create(request)
        except WhenError as exc:
            raise _when_refusal(interaction, exc) from None
        parties = []
        posted: list[discord.Message] = []
        for party in created.parties:
            try:
                message = await target.send(**await self._render(party), allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                await self._roll_back(created.parties, posted)
                raise UserFacingError("watchparty.create.cannot_post", channel=target.mention) from None
            posted.append(message)
            await self.service.set_message(party.id, message.id)
            parties.append(await self.service.get(party.id))
        events_ok = True
        for party in parties:
            events_ok = await self._create_event(party, interaction.guild) and events_ok
        lines = [text(interaction, "watchparty.create.done", title=title, count=len(parties),
                      zone=created.when.zone_name)]
        lines += [text(interaction, "watchparty.create.line", id=p.id, when=render.when_text(p.starts_at),
                       link=party_link(p)) for p in parties]
        if created.when.zone_abbreviation:  # the text named an abbreviation: say which zone it stands for
            lines.append(text(interaction, "timezone.abbreviation", abbreviation=created.when.zone_abbreviation,
                              tz=created.when.zone_name))
        if not events_ok:
            lines.append(text(interaction, "watchparty.create.no_events"))
        await interaction.followup.send("\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _roll_back(self, parties: Sequence[Any], posted: Sequence[discord.Message]) -> None:
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
    async def list_parties(self, interaction: discord.Interaction) -> None:
        await self.show_list_page(interaction, 0, edit=False)

    async def show_list_page(self, interaction: discord.Interaction, page: int, *, edit: bool) -> None:
        parties, pages = await self.service.upcoming_page(interaction.guild_id, page)
        page = min(page, pages - 1)
        going = [sum(1 for r in await self.service.rsvps(p.id) if r.status == "going") for p in parties]
        embed = render.list_embed(functools.partial(text, interaction), parties, going, page, pages)
        view = discord.ui.View(timeout=None)
        view.add_item(ListPageButton(max(page - 1, 0), "prev", disabled=page == 0))
        view.add_item(ListPageButton(min(page + 1, pages - 1), "next", disabled=page >= pages - 1))
        if edit:
            await interaction.response.edit_message(embed=embed, view=view)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    # -- /watchparty edit -----------------------------------------------------------------------------
    @watchparty.command(name="edit", description="Change a watch party you host")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="The party number (see /watchparty list)", title="New title",
                           when="New start, read in the party's time zone unless you name one",
                           duration="New length in minutes", voice_channel="New voice channel",
                           remove_voice_channel="True: the party no longer uses a voice channel")
    async def edit(
        self, interaction: discord.Interaction, party_id: int, title: app_commands.Range[str, 1, 100] | None = None,
        when: str | None = None, duration: app_commands.Range[int, 1, 1440] | None = None,
        voice_channel: discord.VoiceChannel | None = None, remove_voice_channel: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(interaction.guild_id)
        try:
            _, party = await self.service.edit(
                party_id, interaction.guild_id, interaction.user.id,
                is_moderator=is_moderator(interaction, settings.moderator_role_id), title=title, when=when,
                duration_minutes=duration, voice_channel_id=voice_channel.id if voice_channel else None,
                remove_voice_channel=remove_voice_channel)
        except WhenError as exc:
            raise _when_refusal(interaction, exc) from None
        await self._refresh_announcement(party)
        await self._sync_event(party)
        await interaction.followup.send(
            text(interaction, "watchparty.edit.done", id=party.id, title=party.title,
                 when=render.when_text(party.starts_at)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /watchparty cancel ---------------------------------------------------------------------------
    @watchparty.command(name="cancel", description="Cancel a watch party (host or moderators)")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="The party number (see /watchparty list)")
    async def cancel(self, interaction: discord.Interaction, party_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = await self.bot.settings_service.get(interaction.guild_id)
        party, going = await self.service.cancel(party_id, interaction.guild_id, interaction.user.id,
                                                 is_moderator=is_moderator(interaction, settings.moderator_role_id))
        await self._refresh_announcement(party)
        await self._delete_event(party)
        if going:
            t = self._guild_t(party.guild_id)
            notice = t("watchparty.cancelled", title=party.title, start=render.timestamp(party.starts_at, "F"),
                       by=f"<@{interaction.user.id}>")
            try:
                await self._notify(party, going, notice, notice)
            except (*DISCORD_FAILURES, ReminderNotDelivered) as exc:
                log.warning("could not tell party %s's guests about the cancellation", party.id, exc_info=True)
                await notify_admins(self.bot, party.guild_id,
                                    t("watchparty.cancel.notice_failed", title=party.title,
                                      channel=f"<#{party.channel_id}>", error=_error_text(exc)))
        await interaction.followup.send(text(interaction, "watchparty.cancel.done", id=party.id, title=party.title,
                                             count=len(going)), ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /watchparty calendar -------------------------------------------------------------------------
    @watchparty.command(name="calendar", description="Get a calendar file (.ics) for one or all upcoming parties")
    @app_commands.rename(party_id="id")
    @app_commands.describe(party_id="One party's number; leave empty for every upcoming party")
    async def calendar(self, interaction: discord.Interaction, party_id: int | None = None) -> None:
        name = interaction.guild.name if interaction.guild else "Code Blue"
        data, count = await self.service.calendar(interaction.guild_id, party_id, calendar_name=name)
        filename = f"watchparty-{party_id}.ics" if party_id is not None else "watchparties.ics"
        await interaction.response.send_message(
            text(interaction, "watchparty.calendar.done", count=count), ephemeral=True,
            file=discord.File(io.BytesIO(data), filename=filename))


async def setup(bot: Any) -> None:
    service = watch_party_service(bot.db, bot.settings_service, bot.scheduler, clock=bot.clock)
    await bot.add_cog(WatchPartyCog(bot, service))
