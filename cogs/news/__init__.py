"""/news: feeds, keywords, presets, test and check commands, and the news poll job.

The polling, matching, dedupe and crash-safe delivery live in `bot.services.news`; this package turns commands
into service calls (here), renders posts, notices and replies (`render`), posts to Discord (`poster`, the
service's `NewsPoster`) and pages the feed list (`feed_list`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import CodeBlueBot
from bot.domain.feed_presets import preset_shows
from bot.errors import UserFacingError
from bot.services.news import NewsService, PollSummary, build_news_service
from bot.ui import (
    CHANNEL_NEEDS,
    NO_MENTIONS,
    Interaction,
    channel_family,
    guild_id_of,
    missing_permissions,
    permission_label,
    text,
)

from .checks import CHECK_COOLDOWN_SECONDS, check_cooldown_key
from .feed_list import FeedListButton, show_feed_list
from .options import (
    NO_PING,
    THREAD_CHOICES,
    check_edit_threads,
    check_news_channel_threads,
    parse_ping,
    parse_thread,
    ping_autocomplete,
    require_feed_threads,
    require_thread_permissions,
    server_thread_channels,
)
from .poster import DiscordNewsPoster, post_error
from .render import cut, edit_reply, feed_choice_name, keyword_list, keyword_scope, message_link, test_reply, why_reply
from .websub_routes import WEBSUB_PATH, WebSubRoutes

__all__ = ["DiscordNewsPoster", "NewsCog", "post_error", "setup", "split_keywords"]

log = logging.getLogger(__name__)

POLL_JOB_ID = "news:poll"
POLL_TICK_SECONDS = 30
PRESET_CHOICES = [app_commands.Choice(name=show.title, value=show.key) for show in preset_shows()]
NewsChannel = discord.TextChannel | discord.ForumChannel


def split_keywords(raw: str | None) -> list[str]:
    """`/news feed add keywords:`: comma-separated, except a regex (`re:`/`-re:`), which is taken whole."""
    if not raw or not raw.strip():
        return []
    value = raw.strip()
    if value.lower().startswith(("re:", "-re:")):
        return [value]
    return [part.strip() for part in value.split(",") if part.strip()]


def _subscription_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserFacingError("news.feed.unknown") from None


class NewsCog(commands.Cog):
    news = app_commands.Group(
        name="news",
        description="News alerts from RSS and Atom feeds",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    feed = app_commands.Group(name="feed", description="Follow, pause and list news feeds", parent=news)
    keywords = app_commands.Group(name="keywords", description="Which news items are posted", parent=news)

    def __init__(self, bot: CodeBlueBot, service: NewsService) -> None:
        self.bot = bot
        self.service = service
        self._tasks: set[asyncio.Task[object]] = set()
        self.last_poll: PollSummary | None = None  # what the last run of the news:poll job did (feeds, posts...)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FeedListButton)
        if self.bot.web is not None:  # WebSub callbacks: the hub's verification of intent and its pushes
            routes = WebSubRoutes(self.service, self._background)
            self.bot.web.add_get(WEBSUB_PATH, routes.verify)
            self.bot.web.add_post(WEBSUB_PATH, routes.push)
        # Crash reconciliation and overdue polls happen in the first tick, seconds after start-up: feeds overdue
        # while the bot was down are simply polled then (nothing is lost: entries stay in the feed).
        self.bot.scheduler.add_job(
            self._tick, "interval", seconds=POLL_TICK_SECONDS, id=POLL_JOB_ID, replace_existing=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=3), max_instances=1, coalesce=True,
        )

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(FeedListButton)
        scheduler = self.bot.scheduler
        if scheduler.get_job(POLL_JOB_ID):
            scheduler.remove_job(POLL_JOB_ID)
        for task in list(self._tasks):
            task.cancel()
        self.service.close()

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or left: that server's feeds are paused (not deleted: the bot may be added back; an admin resumes
        them then) and its queued stories dropped."""
        try:
            await self.service.leave_guild(guild.id)
        except Exception:
            log.exception("could not pause the news feeds of guild %s", guild.id)

    async def _tick(self) -> None:
        try:
            await self.bot.wait_until_ready()
            self.last_poll = await self.service.tick()
        except Exception:
            log.exception("news tick failed")

    def _background(self, coro: Coroutine[object, None, object]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # The override narrows discord.py's client type variable to this bot (see FeedListButton): hence the ignore.
    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        """Checked again on our side: default permissions can be overridden by server admins."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def check_channel_change(self, interaction: Interaction, kind: str, channel: object) -> None:
        """Asked by `/config channel` before it saves: a new news channel must allow the alert threads of the feeds
        that post there (cogs do not import each other; the config cog asks every cog that has this method)."""
        if kind == "news":
            await check_news_channel_threads(interaction, self.service, channel)

    # -- helpers ------------------------------------------------------------------------------------------------
    async def _target_channel(self, interaction: Interaction, channel: NewsChannel | None) -> NewsChannel:
        """Where a feed posts: the given channel or the news channel, refused when the bot cannot post there."""
        guild = interaction.guild
        if guild is None:
            raise app_commands.NoPrivateMessage()
        if channel is None:
            settings = await self.bot.settings_service.get(guild.id)
            found = guild.get_channel(settings.news_channel_id) if settings.news_channel_id else None
            if not isinstance(found, NewsChannel):
                raise UserFacingError("news.feed.no_channel")
            channel = found
        needs = CHANNEL_NEEDS["news"][channel_family(channel)]
        missing = missing_permissions(channel.permissions_for(guild.me), needs)
        if missing:
            raise UserFacingError("news.feed.channel_missing", channel=channel.mention,
                                  permissions=", ".join(permission_label(interaction, n) for n in missing))
        return channel

    async def feed_autocomplete(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        choices = []
        for item in await self.service.list_feeds(guild_id_of(interaction)):
            label = item.feed.title or item.feed.url
            if needle in label.casefold() or needle in item.feed.url.casefold():
                choices.append(app_commands.Choice(name=feed_choice_name(item), value=str(item.subscription.id)))
        return choices[:25]

    # -- /news feed ---------------------------------------------------------------------------------------------
    @feed.command(name="add", description="Follow an RSS or Atom feed (its current items are not posted)")
    @app_commands.describe(url="The feed's address (http or https)",
                           keywords="Keywords for this feed only, comma-separated (else the server's keywords)",
                           channel="Where to post (default: the server's news channel)",
                           post_newest="Also post the feed's newest item now",
                           ping="Role pinged for this feed's alerts, or none to post quietly (default: the news role)",
                           thread="Give each alert its own discussion thread (text channels)")
    @app_commands.autocomplete(ping=ping_autocomplete)
    @app_commands.choices(thread=THREAD_CHOICES)
    async def feed_add(self, interaction: Interaction, url: str, keywords: str | None = None,
                       channel: NewsChannel | None = None, post_newest: bool = False, ping: str | None = None,
                       thread: app_commands.Choice[str] | None = None) -> None:
        target = await self._target_channel(interaction, channel)
        options = {"ping_role_id": parse_ping(interaction, ping), "thread": parse_thread(thread)}
        await require_feed_threads(interaction, options["thread"], target)  # not given: the server's setting
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.add_feed(
            guild_id_of(interaction), url, created_by=interaction.user.id,
            channel_id=channel.id if channel is not None else None,
            keywords=split_keywords(keywords), post_newest=post_newest, **options,
        )
        reply = text(interaction, "news.feed.added", title=result.title or url[:100], entries=result.entries,
                     channel=target.mention)
        if result.queued_newest:
            reply += "\n" + text(interaction, "news.feed.added_newest")
            self._background(self.service.deliver_pending())
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @feed.command(name="edit", description="Change where and how a feed posts, without removing it")
    @app_commands.describe(feed="The feed", channel="Where to post",
                           ping="Role pinged for this feed's alerts, none to post quietly, default for the news role",
                           thread="Give each alert its own discussion thread (text channels)",
                           keywords="This feed's own keywords, comma-separated (replace the old ones; none: clear)")
    @app_commands.autocomplete(feed=feed_autocomplete, ping=ping_autocomplete)
    @app_commands.choices(thread=THREAD_CHOICES)
    async def feed_edit(self, interaction: Interaction, feed: str, channel: NewsChannel | None = None,
                        ping: str | None = None, thread: app_commands.Choice[str] | None = None,
                        keywords: str | None = None) -> None:
        subscription_id = _subscription_id(feed)
        changes: dict[str, object] = {"ping_role_id": parse_ping(interaction, ping), "thread": parse_thread(thread)}
        target = await self._target_channel(interaction, channel) if channel is not None else None
        if target is not None:
            changes["channel_id"] = target.id
        await check_edit_threads(interaction, self.service, subscription_id, target, changes["thread"])
        if keywords is not None:
            changes["keywords"] = [] if keywords.strip().casefold() in NO_PING else split_keywords(keywords)
        item = await self.service.edit_feed(guild_id_of(interaction), subscription_id, **changes)
        options = await self.service.subscription_options([subscription_id])
        await interaction.response.send_message(edit_reply(interaction, item, options.get(subscription_id)),
                                                ephemeral=True, allowed_mentions=NO_MENTIONS)

    @news.command(name="threads", description="Give every news alert in a text channel its own discussion thread")
    @app_commands.describe(thread="on: each alert gets a thread (feeds can override it with /news feed edit)")
    @app_commands.choices(thread=THREAD_CHOICES[:2])
    async def threads(self, interaction: Interaction, thread: app_commands.Choice[str]) -> None:
        if thread.value == "on":
            require_thread_permissions(interaction, await server_thread_channels(interaction, self.service))
        await self.bot.settings_service.update(guild_id_of(interaction), news_threads=thread.value == "on")
        await interaction.response.send_message(text(interaction, f"news.threads.{thread.value}"), ephemeral=True)

    @news.command(name="why", description="What happened to a story, and why")
    @app_commands.describe(link="The story's link, or words of its title")
    async def why(self, interaction: Interaction, link: str) -> None:
        if not link.strip():
            raise UserFacingError("news.why.empty")
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.service.why(guild_id_of(interaction), link[:500])
        channel_id = report.channel_id
        if channel_id is None and report.outcome != "unknown":  # the story goes (went) to the news channel
            channel_id = (await self.bot.settings_service.get(guild_id_of(interaction))).news_channel_id
            report = replace(report, channel_id=channel_id)
        if report.message_id and isinstance(self.bot.get_channel(channel_id or 0), discord.ForumChannel):
            channel_id = report.message_id  # a forum post: its starter message is in the post's thread
        await interaction.followup.send(
            why_reply(interaction, report, message_link(report.guild_id, channel_id, report.message_id)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @feed.command(name="remove", description="Stop following a feed")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_remove(self, interaction: Interaction, feed: str) -> None:
        await self.service.remove_feed(guild_id_of(interaction), _subscription_id(feed))
        await interaction.response.send_message(text(interaction, "news.feed.removed"), ephemeral=True)

    @feed.command(name="pause", description="Pause a feed (its items are skipped while paused)")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_pause(self, interaction: Interaction, feed: str) -> None:
        await self.service.set_paused(guild_id_of(interaction), _subscription_id(feed), True)
        await interaction.response.send_message(text(interaction, "news.feed.paused"), ephemeral=True)

    @feed.command(name="resume", description="Resume a paused feed")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_resume(self, interaction: Interaction, feed: str) -> None:
        subscription_id = _subscription_id(feed)
        await interaction.response.defer(ephemeral=True, thinking=True)  # resuming fetches the feed once
        await self.service.set_paused(guild_id_of(interaction), subscription_id, False)
        await interaction.followup.send(text(interaction, "news.feed.resumed"), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)

    @feed.command(name="list", description="The feeds this server follows and how they are doing")
    async def feed_list(self, interaction: Interaction) -> None:
        await show_feed_list(interaction, self.service, 0, edit=False)

    # -- /news keywords -----------------------------------------------------------------------------------------
    @keywords.command(name="add", description="Add a keyword, \"quoted phrase\", -exclusion or re:regex")
    @app_commands.describe(keyword="One keyword or quoted phrase; -word excludes; re:pattern is a regex",
                           feed="Only for this feed (replaces server-wide keywords; their exclusions still apply)")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_add(self, interaction: Interaction, keyword: str, feed: str | None = None) -> None:
        sub_id = _subscription_id(feed) if feed else None
        await self.service.add_keyword(guild_id_of(interaction), keyword, sub_id)
        await interaction.response.send_message(
            text(interaction, "news.keyword.added", keyword=cut(keyword.strip(), 100),
                 scope=keyword_scope(interaction, feed)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @keywords.command(name="remove", description="Remove a keyword")
    @app_commands.describe(keyword="The keyword as it was added", feed="The feed it was added for")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_remove(self, interaction: Interaction, keyword: str, feed: str | None = None) -> None:
        sub_id = _subscription_id(feed) if feed else None
        await self.service.remove_keyword(guild_id_of(interaction), keyword, sub_id)
        await interaction.response.send_message(
            text(interaction, "news.keyword.removed", keyword=cut(keyword.strip(), 100),
                 scope=keyword_scope(interaction, feed)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @keywords.command(name="list", description="The keywords that decide which items are posted")
    @app_commands.describe(feed="A feed's own keywords (default: the server-wide ones)")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_list(self, interaction: Interaction, feed: str | None = None) -> None:
        sub_id = _subscription_id(feed) if feed else None
        records = await self.service.list_keywords(guild_id_of(interaction), sub_id)
        await interaction.response.send_message(keyword_list(interaction, records, keyword_scope(interaction, feed)),
                                                ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /news preset, test, check ------------------------------------------------------------------------------
    @news.command(name="preset", description="Follow a show's Google News searches in English and Korean")
    @app_commands.describe(show="The show", channel="Where to post (default: the server's news channel)")
    @app_commands.choices(show=PRESET_CHOICES)
    async def preset(self, interaction: Interaction, show: app_commands.Choice[str],
                     channel: NewsChannel | None = None) -> None:
        target = await self._target_channel(interaction, channel)
        await require_feed_threads(interaction, None, target)  # preset feeds follow the server's setting
        result = await self.service.add_preset(guild_id_of(interaction), show.value, created_by=interaction.user.id,
                                               channel_id=channel.id if channel is not None else None)
        reply = text(interaction, "news.preset.added", count=len(result.added), show=show.name,
                     channel=target.mention, feeds=cut(", ".join(result.added) or "-", 1200))
        if result.already:
            reply += "\n" + text(interaction, "news.preset.already", feeds=cut(", ".join(result.already), 500))
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @news.command(name="test", description="Fetch a feed once and show what would be posted (posts nothing)")
    @app_commands.describe(url="The feed's address")
    async def test(self, interaction: Interaction, url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.service.test_feed(guild_id_of(interaction), url)
        await interaction.followup.send(test_reply(interaction, report), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)

    @news.command(name="check", description="Check this server's feeds now")
    @app_commands.checks.cooldown(1, CHECK_COOLDOWN_SECONDS, key=check_cooldown_key)
    async def check(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.service.check_guild(guild_id_of(interaction))
        await interaction.followup.send(
            text(interaction, "news.check.done", feeds=summary.feeds, new=summary.new_entries, posted=summary.posted,
                 failed=summary.failed),
            ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: CodeBlueBot) -> None:
    service = build_news_service(
        bot.db,
        bot.http_session,
        DiscordNewsPoster(bot),
        bot.settings_service,
        clock=bot.clock,
        allow_private=bot.settings.allow_private_feeds,
        parse_processes=bot.settings.feed_parse_processes,
        interval=timedelta(minutes=bot.settings.feed_interval_minutes),
        in_guild=lambda guild_id: bot.get_guild(guild_id) is not None,
        metrics=bot.metrics,
        # WebSub only when the hub can reach the web companion: it serves the callback.
        public_url=bot.settings.public_url if bot.web is not None else None,
    )
    await bot.add_cog(NewsCog(bot, service))
