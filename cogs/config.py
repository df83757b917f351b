"""/config: per-server settings for admins (Manage Server), and the set-up guide when the bot joins."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.domain.reminders import OffsetsError, format_offsets, parse_offsets
from bot.domain.timezones import UnknownTimezone, resolve_timezone, timezone_choices
from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from bot.ui import (
    CHANNEL_NEEDS,
    NO_MENTIONS,
    Interaction,
    channel_family,
    guild_id_of,
    guild_of,
    guild_text,
    missing_permissions,
    permission_label,
    text,
)
from bot.web import links
from db.models import CHANNEL_KINDS, ROLE_KINDS, GuildSettings

log = logging.getLogger(__name__)

CHANNEL_CHOICES = [app_commands.Choice(name=kind, value=kind) for kind in CHANNEL_KINDS]
ROLE_CHOICES = [app_commands.Choice(name=kind, value=kind) for kind in ROLE_KINDS]
SPOILER_CHOICES = [app_commands.Choice(name=mode, value=mode) for mode in ("tracked", "everyone", "off")]
ON_OFF_CHOICES = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
ONLINE_MARK_MINUTES = 5
ARRIVAL_BATCH_SECONDS = 0.1  # servers arriving at start-up are handled together, at most this much later
ARCHIVE_CHOICES = [
    app_commands.Choice(name="1h", value=60),
    app_commands.Choice(name="24h", value=1440),
    app_commands.Choice(name="3d", value=4320),
    app_commands.Choice(name="1w", value=10080),
]


def _mention_channel(guild: discord.Guild, channel_id: int | None, none: str, gone: str) -> str:
    if not channel_id:
        return none
    return f"<#{channel_id}>" if guild.get_channel(channel_id) else f"<#{channel_id}> {gone}"


def _mention_role(guild: discord.Guild, role_id: int | None, none: str, gone: str) -> str:
    if not role_id:
        return none
    return f"<@&{role_id}>" if guild.get_role(role_id) else f"<@&{role_id}> {gone}"


class ConfigCog(commands.Cog):
    config = app_commands.Group(
        name="config",
        description="Configure Code Blue for this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    calendar = app_commands.Group(name="calendar", description="The server's calendar subscription", parent=config)

    def __init__(self, bot: CodeBlueBot, settings: SettingsService) -> None:
        self.bot = bot
        self.settings = settings
        self._offline_since: datetime | None = None
        self._arrivals: list[tuple[discord.Guild, asyncio.Future[None]]] = []
        self._arrivals_worker: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._offline_since = await self.settings.last_online()
        await self._mark_online()
        self.bot.scheduler.add_job(
            self._mark_online, "interval", minutes=ONLINE_MARK_MINUTES, id="bot:last-online", replace_existing=True
        )

    async def cog_unload(self) -> None:
        if self.bot.scheduler.get_job("bot:last-online"):
            self.bot.scheduler.remove_job("bot:last-online")
        await self._mark_online()

    async def _mark_online(self) -> None:
        try:
            await self.settings.mark_online(self.bot.clock())
        except Exception:
            log.exception("could not record that the bot is online")

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Checked again on our side: default permissions can be overridden by server admins."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    # -- /config show -------------------------------------------------------------------------------
    def settings_embed(self, interaction: Interaction, s: GuildSettings, page_url: str | None) -> discord.Embed:
        web = text(interaction, "config.web.off")
        if s.web_public:
            web = (text(interaction, "config.web.on_link", url=page_url) if page_url
                   else text(interaction, "config.web.on"))
        none = text(interaction, "config.not_set")
        gone = text(interaction, "config.gone")
        guild = guild_of(interaction)
        embed = discord.Embed(title=text(interaction, "config.show.title"), colour=discord.Colour.blue())
        channels = "\n".join(
            f"{text(interaction, f'config.kind.{kind}')}: {_mention_channel(guild, s.channel_id(kind), none, gone)}"
            for kind in CHANNEL_KINDS
        )
        roles = "\n".join(
            f"{text(interaction, f'config.kind.{kind}')}: {_mention_role(guild, s.role_id(kind), none, gone)}"
            for kind in ROLE_KINDS
        )
        embed.add_field(name=text(interaction, "config.show.channels"), value=channels, inline=False)
        embed.add_field(name=text(interaction, "config.show.roles"), value=roles, inline=False)
        embed.add_field(name=text(interaction, "config.show.timezone"), value=s.timezone, inline=True)
        embed.add_field(name=text(interaction, "config.show.reminders"), value=f"`{s.reminder_offsets}`", inline=True)
        embed.add_field(
            name=text(interaction, "config.show.archive"),
            value=text(interaction, "config.minutes", minutes=s.thread_archive_minutes),
            inline=True,
        )
        embed.add_field(
            name=text(interaction, "config.show.limits"),
            value=text(interaction, "config.limits_value", per_guild=s.max_parties_per_guild,
                       per_member=s.max_parties_per_member, title=s.max_party_title_length,
                       description=s.max_party_description_length),
            inline=False,
        )
        embed.add_field(name=text(interaction, "config.show.spoilers"),
                        value=text(interaction, f"config.spoilers.{s.spoiler_mode}"), inline=False)
        embed.add_field(name=text(interaction, "config.show.web"), value=web, inline=False)
        embed.set_footer(text=text(interaction, "config.show.footer"))
        return embed

    @config.command(name="show", description="Show every setting of this server")
    async def show(self, interaction: Interaction) -> None:
        settings, _ = await self.settings.ensure(guild_id_of(interaction))
        page_url = None
        if settings.web_public and self.bot.settings.public_url:
            token = await self.bot.companion.token("public_page", settings.guild_id)
            page_url = links.page_url(self.bot.settings.public_url, token)
        await interaction.response.send_message(embed=self.settings_embed(interaction, settings, page_url),
                                                ephemeral=True)

    # -- /config channel ----------------------------------------------------------------------------
    @config.command(name="channel", description="Choose the channel for news, discussions, watch parties or the log")
    @app_commands.describe(kind="What the channel is for", channel="The channel (discussions may use a forum)")
    @app_commands.choices(kind=CHANNEL_CHOICES)
    async def channel(
        self,
        interaction: Interaction,
        kind: app_commands.Choice[str],
        channel: discord.TextChannel | discord.ForumChannel,
    ) -> None:
        family = channel_family(channel)
        needs = CHANNEL_NEEDS[kind.value]
        if family not in needs:
            raise UserFacingError("config.channel.text_only", kind=text(interaction, f"config.kind.{kind.value}"))
        me = guild_of(interaction).me
        missing = missing_permissions(channel.permissions_for(me), needs[family])
        if missing:
            raise UserFacingError(
                "config.channel.missing",
                channel=channel.mention,
                permissions=", ".join(permission_label(interaction, name) for name in missing),
            )
        for cog in self.bot.cogs.values():  # another area may refuse it (news: alert threads it could not open)
            if (check := getattr(cog, "check_channel_change", None)) is not None:
                await check(interaction, kind.value, channel)
        await self.settings.set_channel(guild_id_of(interaction), kind.value, channel.id)
        await interaction.response.send_message(
            text(interaction, "config.channel.saved", kind=text(interaction, f"config.kind.{kind.value}"),
                 channel=channel.mention),
            ephemeral=True,
        )

    # -- /config role -------------------------------------------------------------------------------
    @config.command(name="role", description="Choose the role pinged for news or watch parties, or the moderators")
    @app_commands.describe(kind="What the role is for", role="The role")
    @app_commands.choices(kind=ROLE_CHOICES)
    async def role(self, interaction: Interaction, kind: app_commands.Choice[str], role: discord.Role) -> None:
        if role.is_default() or role.managed:
            raise UserFacingError("config.role.unusable", role=role.name)
        await self.settings.set_role(guild_id_of(interaction), kind.value, role.id)
        reply = text(interaction, "config.role.saved", kind=text(interaction, f"config.kind.{kind.value}"),
                     role=role.mention)
        pinged = kind.value in ("news_ping", "watchparty_ping")
        if pinged and not role.mentionable and not guild_of(interaction).me.guild_permissions.mention_everyone:
            reply += "\n" + text(interaction, "config.role.not_mentionable", role=role.mention)
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /config timezone ---------------------------------------------------------------------------
    @config.command(name="timezone", description="Set the server's time zone (used when members have none)")
    @app_commands.describe(tz="An IANA time zone such as Asia/Seoul or America/New_York")
    async def timezone(self, interaction: Interaction, tz: str) -> None:
        try:
            resolution = resolve_timezone(tz)
        except UnknownTimezone as exc:
            suggestions = ", ".join(f"`{name}`" for name in exc.suggestions[:3]) or "`Asia/Seoul`"
            raise UserFacingError("config.timezone.unknown", value=tz[:60], suggestions=suggestions) from None
        await self.settings.update(guild_id_of(interaction), timezone=resolution.name)
        local_now = datetime.now(resolution.zone).strftime("%H:%M")
        reply = text(interaction, "config.timezone.saved", tz=resolution.name, now=local_now)
        if resolution.abbreviation:
            reply += "\n" + text(interaction, "config.timezone.abbreviation", abbreviation=resolution.abbreviation,
                                 tz=resolution.name)
        await interaction.response.send_message(reply, ephemeral=True)

    @timezone.autocomplete("tz")
    async def timezone_autocomplete(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=name, value=name) for name in timezone_choices(current, limit=25)]

    # -- /config reminders --------------------------------------------------------------------------
    @config.command(name="reminders", description="When watch-party reminders go out, e.g. \"1d 1h 10m 0\"")
    @app_commands.describe(offsets="Times before the start: d, h, m; 0 means at the start")
    async def reminders(self, interaction: Interaction, offsets: str) -> None:
        try:
            parsed = parse_offsets(offsets)
        except OffsetsError as exc:
            raise UserFacingError("config.reminders.invalid", token=str(exc.token)[:40]) from None
        canonical = format_offsets(parsed)
        await self.settings.update(guild_id_of(interaction), reminder_offsets=canonical)
        await interaction.response.send_message(
            text(interaction, "config.reminders.saved", offsets=canonical), ephemeral=True
        )

    # -- /config threads ----------------------------------------------------------------------------
    @config.command(name="threads", description="How long episode threads stay open without messages")
    @app_commands.describe(archive_after="Auto-archive after this much inactivity")
    @app_commands.choices(archive_after=ARCHIVE_CHOICES)
    async def threads(self, interaction: Interaction, archive_after: app_commands.Choice[int]) -> None:
        await self.settings.update(guild_id_of(interaction), thread_archive_minutes=archive_after.value)
        duration = text(interaction, f"config.archive.m{archive_after.value}")
        await interaction.response.send_message(
            text(interaction, "config.threads.saved", duration=duration), ephemeral=True
        )

    # -- /config spoilers ---------------------------------------------------------------------------
    @config.command(name="spoilers", description="Who gets a spoiler warning before an episode's thread link")
    @app_commands.describe(mode="tracked: members who recorded progress (default); everyone; off")
    @app_commands.choices(mode=SPOILER_CHOICES)
    async def spoilers(self, interaction: Interaction, mode: app_commands.Choice[str]) -> None:
        await self.settings.update(guild_id_of(interaction), spoiler_mode=mode.value)
        await interaction.response.send_message(
            text(interaction, "config.spoilers.saved", mode=text(interaction, f"config.spoilers.{mode.value}")),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /config limits -----------------------------------------------------------------------------
    @config.command(name="limits", description="Limits for watch parties: how many, and how long their texts")
    @app_commands.describe(per_server="Upcoming parties in the whole server",
                           per_member="Upcoming parties one member hosts",
                           title_length="Longest party title, in characters",
                           description_length="Longest party description, in characters")
    async def limits(
        self,
        interaction: Interaction,
        per_server: app_commands.Range[int, 1, 500] | None = None,
        per_member: app_commands.Range[int, 1, 50] | None = None,
        title_length: app_commands.Range[int, 10, 100] | None = None,
        description_length: app_commands.Range[int, 0, 1000] | None = None,
    ) -> None:
        given = {
            "max_parties_per_guild": per_server,
            "max_parties_per_member": per_member,
            "max_party_title_length": title_length,
            "max_party_description_length": description_length,
        }
        values = {column: value for column, value in given.items() if value is not None}
        if not values:
            raise UserFacingError("config.limits.nothing")
        s = await self.settings.update(guild_id_of(interaction), **values)
        await interaction.response.send_message(
            text(interaction, "config.limits.saved", per_guild=s.max_parties_per_guild,
                 per_member=s.max_parties_per_member, title=s.max_party_title_length,
                 description=s.max_party_description_length),
            ephemeral=True,
        )

    # -- /config web, /config calendar reset -----------------------------------------------------------------------
    @config.command(name="web", description="Turn the server's public fan page on or off")
    @app_commands.describe(public="A page anyone can open: parties, ratings and news, never member names (off)")
    @app_commands.choices(public=ON_OFF_CHOICES)
    async def web(self, interaction: Interaction, public: app_commands.Choice[str]) -> None:
        on = public.value == "on"
        token = await self.bot.companion.set_public(guild_id_of(interaction), on)
        public_url = self.bot.settings.public_url
        if not on:
            reply = text(interaction, "config.web.turned_off")
        elif public_url:
            reply = text(interaction, "config.web.turned_on_link", url=links.page_url(public_url, token))
        else:
            reply = text(interaction, "config.web.turned_on") + "\n" + text(interaction, "config.web.no_public_url")
        await interaction.response.send_message(reply, ephemeral=True)

    @calendar.command(name="reset", description="Replace the server's calendar address (the old one stops working)")
    async def calendar_reset(self, interaction: Interaction) -> None:
        token = await self.bot.companion.reset("guild_calendar", guild_id_of(interaction))
        public_url = self.bot.settings.public_url
        if public_url:
            reply = text(interaction, "config.calendar.reset_link", url=links.calendar_url(public_url, token))
        else:
            reply = text(interaction, "config.calendar.reset") + "\n" + text(interaction, "config.web.no_public_url")
        await interaction.response.send_message(reply, ephemeral=True)

    # -- joining a server ---------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        settings, _ = await self.settings.ensure(guild.id)
        if settings.guide_posted_at is None:
            await self.post_guide(guild)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server that added the bot while it was offline arrives as a plain GUILD_CREATE: welcome it too.

        "While offline" means the bot's own member joined after the last moment this bot was known online; with no
        such moment (a new or restored database) nothing is posted, so a restore never spams every server.
        At start-up thousands of servers arrive at once: they are handled in batches (one transaction creates the
        missing settings of a whole batch; only servers that joined while offline are looked up one by one). The
        handler returns when its server's batch is done, and a failure reaches every handler of the batch.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals.append((guild, done))
        if self._arrivals_worker is None or self._arrivals_worker.done():
            self._arrivals_worker = asyncio.create_task(self._welcome_arrivals(), name="codeblue-guild-arrivals")
        await done

    async def _welcome_arrivals(self) -> None:
        """The first server at once; then, while more keep arriving, whatever arrived within ARRIVAL_BATCH_SECONDS."""
        batch: list[tuple[discord.Guild, asyncio.Future[None]]] = []
        first = True
        try:
            while self._arrivals:
                if not first:
                    await asyncio.sleep(ARRIVAL_BATCH_SECONDS)
                first = False
                batch, self._arrivals = self._arrivals, []
                try:
                    await self._welcome([guild for guild, _ in batch])
                except Exception as error:  # told to every waiting handler: bot.on_error decides how to log it
                    for _, done in batch:
                        done.set_exception(error)
                else:
                    for _, done in batch:
                        done.set_result(None)
                batch = []
        finally:
            for _, done in batch + self._arrivals:
                if not done.done():
                    done.cancel()

    async def _welcome(self, guilds: list[discord.Guild]) -> None:
        await self.settings.ensure_many([guild.id for guild in guilds])
        offline_since = self._offline_since
        if offline_since is None:
            return
        joined_while_offline = [guild for guild in guilds
                                if guild.me is not None and guild.me.joined_at is not None
                                and guild.me.joined_at > offline_since]
        if not joined_while_offline:
            return
        unwelcomed = await self.settings.without_guide([guild.id for guild in joined_while_offline])
        for guild in joined_while_offline:
            if guild.id in unwelcomed:
                await self.post_guide(guild)

    async def post_guide(self, guild: discord.Guild) -> None:
        """The set-up guide: to the system channel if the bot may write there, else a DM to the owner."""
        content = guild_text(self.bot, guild, "guide.text", server=guild.name)
        channel = guild.system_channel
        try:
            if channel is not None and not missing_permissions(channel.permissions_for(guild.me),
                                                               ("view_channel", "send_messages")):
                await channel.send(content, allowed_mentions=NO_MENTIONS)
            else:
                owner: discord.Member | discord.User | None = guild.owner
                if owner is None and guild.owner_id is not None:
                    owner = await self.bot.fetch_user(guild.owner_id)
                if owner is None:
                    log.warning("guild %s has no system channel the bot may use and no known owner", guild.id)
                    return
                await owner.send(content, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not post the set-up guide for guild %s", guild.id, exc_info=True)
            return
        await self.settings.update(guild.id, guide_posted_at=datetime.now(UTC).isoformat())


async def setup(bot: CodeBlueBot) -> None:
    await bot.add_cog(ConfigCog(bot, bot.settings_service))
