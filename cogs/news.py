"""/news: feeds, keywords, presets, test and check commands, and the Discord side of news posts.

The polling, matching, dedupe and crash-safe delivery live in `bot.services.news`; this cog renders posts and
notices (`DiscordNewsPoster`) and turns commands into service calls.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.services.news import FeedTestReport, NewsPost, NewsService, PostError, build_news_service
from bot.ui import (
    CHANNEL_NEEDS,
    NO_MENTIONS,
    channel_family,
    guild_text,
    missing_permissions,
    notify_admins,
    permission_label,
    text,
)

log = logging.getLogger(__name__)

POLL_JOB_ID = "news:poll"
POLL_TICK_SECONDS = 30
PRESET_CHOICES = [app_commands.Choice(name="Trauma Code: Heroes on Call", value="trauma-code")]
FIELD_LIMIT = 1024
LIST_LIMIT = 3800  # characters of one /news feed list page's fields (Discord's embed limit is 6,000 in all)
LIST_PAGE_FEEDS = 10
LIST_CUSTOM_ID = r"nfl:(?P<page>[0-9]+):(?P<direction>prev|next)"


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _stamp(epoch: int | None, none: str) -> str:
    return f"<t:{epoch}:R>" if epoch else none


def news_allowed_mentions(role_id: int | None) -> discord.AllowedMentions:
    """Only the news role may be pinged: never @everyone/@here, users or another role named in a feed."""
    roles: list[discord.Object] | bool = [discord.Object(role_id)] if role_id else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def split_keywords(raw: str | None) -> list[str]:
    """`/news feed add keywords:`: comma-separated, except a regex (`re:`/`-re:`), which is taken whole."""
    if not raw or not raw.strip():
        return []
    value = raw.strip()
    if value.lower().startswith(("re:", "-re:")):
        return [value]
    return [part.strip() for part in value.split(",") if part.strip()]


# Answers that prove nothing was posted but may pass: rate limited beyond discord.py's own retries, request timeout.
TEMPORARY_REFUSALS = frozenset({408, 429})


def post_error(exc: discord.HTTPException) -> PostError:
    """What an HTTP error answer means for a news post: 403/404/other 4xx permanent; 408/429 temporary and
    nothing was posted; 5xx temporary, and Discord may have accepted the message anyway."""
    if isinstance(exc, discord.Forbidden):
        return PostError("forbidden", permanent=True)
    if isinstance(exc, discord.NotFound):
        return PostError("channel_missing", permanent=True)
    if exc.status in TEMPORARY_REFUSALS:
        return PostError(f"unavailable: {exc.status}", permanent=False)
    if 400 <= exc.status < 500:
        return PostError(f"rejected: {exc.text[:100]}", permanent=True)
    return PostError(f"unavailable: {exc.status}", permanent=False, maybe_posted=True)


class DiscordNewsPoster:
    """What the news service needs from Discord: send a post, find one after a crash, tell the admins."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel:
        channel = self.bot.get_channel(channel_id)
        if channel is not None:
            return channel  # type: ignore[return-value]
        try:
            return await self.bot.fetch_channel(channel_id)  # type: ignore[return-value]
        except discord.NotFound:
            raise PostError("channel_missing", permanent=True) from None
        except discord.Forbidden:
            raise PostError("forbidden", permanent=True) from None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}", permanent=False) from None

    def embed(self, post: NewsPost, guild: discord.Guild | None) -> discord.Embed:
        link = post.link if post.link and post.link.startswith(("http://", "https://")) else None
        embed = discord.Embed(title=_cut(post.title or "-", 256), url=link, colour=discord.Colour.red())
        if post.summary:
            embed.description = _cut(post.summary, 4000)
        if post.source:
            embed.add_field(name=guild_text(self.bot, guild, "news.post.source"), value=_cut(post.source, 256))
        if post.published is not None:
            embed.add_field(name=guild_text(self.bot, guild, "news.post.published"),
                            value=f"{discord.utils.format_dt(post.published, 'F')} "
                                  f"({discord.utils.format_dt(post.published, 'R')})")
        if post.thumbnail and post.thumbnail.startswith(("http://", "https://")):
            embed.set_thumbnail(url=post.thumbnail)
        return embed

    async def post(self, post: NewsPost) -> int:
        channel = await self._channel(post.channel_id)
        guild = getattr(channel, "guild", None)
        embed = self.embed(post, guild)
        content = f"<@&{post.role_id}>" if post.role_id else None
        mentions = news_allowed_mentions(post.role_id)
        try:
            if isinstance(channel, discord.ForumChannel):
                name = _cut(post.title or guild_text(self.bot, guild, "news.post.untitled"), 100)
                created = await channel.create_thread(name=name, content=content,
                                                      embed=embed, allowed_mentions=mentions)
                return created.message.id
            if not isinstance(channel, discord.TextChannel | discord.Thread):
                raise PostError("not_text_channel", permanent=True)
            message = await channel.send(content, embed=embed, allowed_mentions=mentions)
            return message.id
        except discord.HTTPException as exc:
            raise post_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The request may have reached Discord before the connection failed: the service checks first.
            raise PostError(f"unavailable: {exc}"[:200], permanent=False, maybe_posted=True) from None

    async def find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        try:
            return await self._find_posted(channel_id, link, title, since)
        except discord.HTTPException as exc:
            raise post_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PostError(f"unavailable: {exc}"[:200], permanent=False) from None

    async def _find_posted(self, channel_id: int, link: str | None, title: str, since: datetime) -> int | None:
        channel = await self._channel(channel_id)
        if isinstance(channel, discord.ForumChannel):
            name = _cut(title or guild_text(self.bot, channel.guild, "news.post.untitled"), 100)
            for thread in channel.threads:
                if thread.name == name and thread.created_at and thread.created_at >= since:
                    return thread.id  # a forum post's starter message has the thread's id
            return None
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return None
        async for message in channel.history(limit=50, after=since):
            if message.author.id == self.bot.user.id and any(
                (link and e.url == link) or (not link and e.title == _cut(title or "-", 256)) for e in message.embeds
            ):
                return message.id
        return None

    async def notify(self, guild_id: int, key: str, **params: object) -> bool:
        guild = self.bot.get_guild(guild_id)
        return await notify_admins(self.bot, guild_id, _cut(guild_text(self.bot, guild, key, **params), 2000))


def feed_list_pages(fields: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """(name, value) fields packed into pages of at most LIST_PAGE_FEEDS feeds and LIST_LIMIT characters."""
    pages: list[list[tuple[str, str]]] = [[]]
    size = 0
    for name, value in fields:
        cost = len(name) + len(value)
        if pages[-1] and (len(pages[-1]) >= LIST_PAGE_FEEDS or size + cost > LIST_LIMIT):
            pages.append([])
            size = 0
        pages[-1].append((name, value))
        size += cost
    return pages


class FeedListButton(discord.ui.DynamicItem[discord.ui.Button], template=LIST_CUSTOM_ID):
    """◀ / ▶ on a /news feed list page; the custom id carries the page to show (works after a restart)."""

    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "◀" if direction == "prev" else "▶"
        super().__init__(discord.ui.Button(custom_id=f"nfl:{page}:{direction}", label=label,
                                           style=discord.ButtonStyle.secondary, disabled=disabled))
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> FeedListButton:
        return cls(int(match["page"]), match["direction"])

    async def callback(self, interaction: discord.Interaction) -> None:
        # A DynamicItem's errors are only logged by discord.py, leaving the click unanswered: route them to the
        # tree's handler, which answers ephemerally.
        try:
            if not interaction.permissions.manage_guild:
                raise app_commands.MissingPermissions(["manage_guild"])
            cog = interaction.client.get_cog("NewsCog")  # type: ignore[attr-defined]
            await cog.show_feed_list(interaction, self.page, edit=True)
        except Exception as error:
            await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]


class NewsCog(commands.Cog):
    news = app_commands.Group(
        name="news",
        description="News alerts from RSS and Atom feeds",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    feed = app_commands.Group(name="feed", description="Follow, pause and list news feeds", parent=news)
    keywords = app_commands.Group(name="keywords", description="Which news items are posted", parent=news)

    def __init__(self, bot: commands.Bot, service: NewsService) -> None:
        self.bot = bot
        self.service = service
        self._tasks: set[asyncio.Task] = set()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FeedListButton)
        # Crash reconciliation and overdue polls happen in the first tick, seconds after start-up: feeds overdue
        # while the bot was down are simply polled then (nothing is lost: entries stay in the feed).
        self.bot.scheduler.add_job(  # type: ignore[attr-defined]
            self._tick, "interval", seconds=POLL_TICK_SECONDS, id=POLL_JOB_ID, replace_existing=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=3), max_instances=1, coalesce=True,
        )

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(FeedListButton)
        scheduler = self.bot.scheduler  # type: ignore[attr-defined]
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
            await self.service.tick()
        except Exception:
            log.exception("news tick failed")

    def _background(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Checked again on our side: default permissions can be overridden by server admins."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    # -- helpers ------------------------------------------------------------------------------------------------
    async def _target_channel(self, interaction: discord.Interaction,
                              channel: discord.TextChannel | discord.ForumChannel | None) -> discord.abc.GuildChannel:
        if channel is None:
            settings = await self.bot.settings_service.get(interaction.guild_id)  # type: ignore[attr-defined]
            found = interaction.guild.get_channel(settings.news_channel_id) if settings.news_channel_id else None
            if found is None:
                raise UserFacingError("news.feed.no_channel")
            channel = found  # type: ignore[assignment]
        needs = CHANNEL_NEEDS["news"][channel_family(channel)]
        missing = missing_permissions(channel.permissions_for(interaction.guild.me), needs)
        if missing:
            raise UserFacingError("news.feed.channel_missing", channel=channel.mention,
                                  permissions=", ".join(permission_label(interaction, n) for n in missing))
        return channel

    @staticmethod
    def _subscription_id(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise UserFacingError("news.feed.unknown") from None

    async def feed_autocomplete(self, interaction: discord.Interaction, current: str):
        needle = current.casefold()
        choices = []
        for item in await self.service.list_feeds(interaction.guild_id):
            label = item.feed.title or item.feed.url
            if needle in label.casefold() or needle in item.feed.url.casefold():
                choices.append(app_commands.Choice(name=_cut(f"{label} — {item.feed.url}", 100),
                                                   value=str(item.subscription.id)))
        return choices[:25]

    # -- /news feed ---------------------------------------------------------------------------------------------
    @feed.command(name="add", description="Follow an RSS or Atom feed (its current items are not posted)")
    @app_commands.describe(url="The feed's address (http or https)",
                           keywords="Keywords for this feed only, comma-separated (else the server's keywords)",
                           channel="Where to post (default: the server's news channel)",
                           post_newest="Also post the feed's newest item now")
    async def feed_add(self, interaction: discord.Interaction, url: str, keywords: str | None = None,
                       channel: discord.TextChannel | discord.ForumChannel | None = None,
                       post_newest: bool = False) -> None:
        target = await self._target_channel(interaction, channel)
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.add_feed(
            interaction.guild_id, url, created_by=interaction.user.id,
            channel_id=channel.id if channel is not None else None,
            keywords=split_keywords(keywords), post_newest=post_newest,
        )
        reply = text(interaction, "news.feed.added", title=result.title or url[:100], entries=result.entries,
                     channel=target.mention)
        if result.queued_newest:
            reply += "\n" + text(interaction, "news.feed.added_newest")
            self._background(self.service.deliver_pending())
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @feed.command(name="remove", description="Stop following a feed")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_remove(self, interaction: discord.Interaction, feed: str) -> None:
        await self.service.remove_feed(interaction.guild_id, self._subscription_id(feed))
        await interaction.response.send_message(text(interaction, "news.feed.removed"), ephemeral=True)

    @feed.command(name="pause", description="Pause a feed (its items are skipped while paused)")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_pause(self, interaction: discord.Interaction, feed: str) -> None:
        await self.service.set_paused(interaction.guild_id, self._subscription_id(feed), True)
        await interaction.response.send_message(text(interaction, "news.feed.paused"), ephemeral=True)

    @feed.command(name="resume", description="Resume a paused feed")
    @app_commands.describe(feed="The feed")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def feed_resume(self, interaction: discord.Interaction, feed: str) -> None:
        subscription_id = self._subscription_id(feed)
        await interaction.response.defer(ephemeral=True, thinking=True)  # resuming fetches the feed once
        await self.service.set_paused(interaction.guild_id, subscription_id, False)
        await interaction.followup.send(text(interaction, "news.feed.resumed"), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)

    @feed.command(name="list", description="The feeds this server follows and how they are doing")
    async def feed_list(self, interaction: discord.Interaction) -> None:
        await self.show_feed_list(interaction, 0, edit=False)

    async def show_feed_list(self, interaction: discord.Interaction, page: int, *, edit: bool) -> None:
        """One page of the server's feeds (◀ ▶ when there are several), within Discord's embed limits."""
        items = await self.service.list_feeds(interaction.guild_id)
        if not items:
            if edit:
                await interaction.response.edit_message(content=text(interaction, "news.list.empty"), embed=None,
                                                        view=None)
            else:
                await interaction.response.send_message(text(interaction, "news.list.empty"), ephemeral=True)
            return
        pages = feed_list_pages([self._feed_field(interaction, item) for item in items])
        page = max(0, min(page, len(pages) - 1))
        embed = discord.Embed(title=text(interaction, "news.list.title"), colour=discord.Colour.red())
        for name, value in pages[page]:
            embed.add_field(name=name, value=value, inline=False)
        view = discord.ui.View(timeout=None)
        if len(pages) > 1:
            embed.set_footer(text=text(interaction, "news.list.footer", page=page + 1, pages=len(pages),
                                       feeds=len(items)))
            view.add_item(FeedListButton(max(page - 1, 0), "prev", disabled=page == 0))
            view.add_item(FeedListButton(min(page + 1, len(pages) - 1), "next", disabled=page >= len(pages) - 1))
        if edit:
            await interaction.response.edit_message(embed=embed, view=view)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @staticmethod
    def _feed_field(interaction: discord.Interaction, item) -> tuple[str, str]:
        feed, sub = item.feed, item.subscription
        never = text(interaction, "news.list.never")
        state = text(interaction, "news.list.paused" if sub.paused else "news.list.active")
        lines = [
            f"<{_cut(feed.url, 300)}> · {state}",
            text(interaction, "news.list.checked", when=_stamp(feed.last_checked_at, never),
                 new=_stamp(feed.last_new_item_at, never)),
        ]
        if sub.channel_id:
            lines.append(text(interaction, "news.list.channel", channel=f"<#{sub.channel_id}>"))
        if feed.last_error:
            lines.append(text(interaction, "news.list.error", failures=feed.consecutive_failures,
                              error=_cut(feed.last_error, 200)))
        return _cut(f"#{sub.id} {feed.title or feed.url}", 256), _cut("\n".join(lines), FIELD_LIMIT)

    # -- /news keywords -----------------------------------------------------------------------------------------
    def _scope(self, interaction: discord.Interaction, feed: str | None) -> str:
        return text(interaction, "news.keyword.scope_feed") if feed else text(interaction, "news.keyword.scope_server")

    @keywords.command(name="add", description="Add a keyword, \"quoted phrase\", -exclusion or re:regex")
    @app_commands.describe(keyword="One keyword or quoted phrase; -word excludes; re:pattern is a regex",
                           feed="Only for this feed (replaces server-wide keywords; their exclusions still apply)")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_add(self, interaction: discord.Interaction, keyword: str, feed: str | None = None) -> None:
        sub_id = self._subscription_id(feed) if feed else None
        await self.service.add_keyword(interaction.guild_id, keyword, sub_id)
        await interaction.response.send_message(
            text(interaction, "news.keyword.added", keyword=_cut(keyword.strip(), 100),
                 scope=self._scope(interaction, feed)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @keywords.command(name="remove", description="Remove a keyword")
    @app_commands.describe(keyword="The keyword as it was added", feed="The feed it was added for")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_remove(self, interaction: discord.Interaction, keyword: str, feed: str | None = None) -> None:
        sub_id = self._subscription_id(feed) if feed else None
        await self.service.remove_keyword(interaction.guild_id, keyword, sub_id)
        await interaction.response.send_message(
            text(interaction, "news.keyword.removed", keyword=_cut(keyword.strip(), 100),
                 scope=self._scope(interaction, feed)),
            ephemeral=True, allowed_mentions=NO_MENTIONS)

    @keywords.command(name="list", description="The keywords that decide which items are posted")
    @app_commands.describe(feed="A feed's own keywords (default: the server-wide ones)")
    @app_commands.autocomplete(feed=feed_autocomplete)
    async def keywords_list(self, interaction: discord.Interaction, feed: str | None = None) -> None:
        sub_id = self._subscription_id(feed) if feed else None
        records = await self.service.list_keywords(interaction.guild_id, sub_id)
        scope = self._scope(interaction, feed)
        if not records:
            reply = text(interaction, "news.keyword.none", scope=scope)
        else:
            listed = ", ".join(f"`{r.raw.replace('`', 'ˋ')}`" for r in records)
            reply = _cut(text(interaction, "news.keyword.list", scope=scope, keywords=listed), 2000)
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- /news preset, test, check ------------------------------------------------------------------------------
    @news.command(name="preset", description="Follow a show's Google News searches in English and Korean")
    @app_commands.describe(show="The show", channel="Where to post (default: the server's news channel)")
    @app_commands.choices(show=PRESET_CHOICES)
    async def preset(self, interaction: discord.Interaction, show: app_commands.Choice[str],
                     channel: discord.TextChannel | discord.ForumChannel | None = None) -> None:
        target = await self._target_channel(interaction, channel)
        result = await self.service.add_preset(interaction.guild_id, show.value, created_by=interaction.user.id,
                                               channel_id=channel.id if channel is not None else None)
        reply = text(interaction, "news.preset.added", count=len(result.added), show=show.name,
                     channel=target.mention, feeds=_cut(", ".join(result.added) or "-", 1200))
        if result.already:
            reply += "\n" + text(interaction, "news.preset.already", feeds=_cut(", ".join(result.already), 500))
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @news.command(name="test", description="Fetch a feed once and show what would be posted (posts nothing)")
    @app_commands.describe(url="The feed's address")
    async def test(self, interaction: discord.Interaction, url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.service.test_feed(interaction.guild_id, url)
        await interaction.followup.send(self._test_reply(interaction, report), ephemeral=True,
                                        allowed_mentions=NO_MENTIONS)

    def _test_reply(self, interaction: discord.Interaction, report: FeedTestReport) -> str:
        lines = [text(interaction, "news.test.summary", title=_cut(report.title or "-", 200), entries=report.entries,
                      matching=len(report.matching), excluded=report.excluded)]
        for item in report.matching:
            keyword = item.keyword or text(interaction, "news.test.everything")
            lines.append(text(interaction, "news.test.item", title=_cut(item.title, 150), keyword=_cut(keyword, 60)))
        return _cut("\n".join(lines), 2000)

    @news.command(name="check", description="Check this server's feeds now")
    async def check(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.service.check_guild(interaction.guild_id)
        await interaction.followup.send(
            text(interaction, "news.check.done", feeds=summary.feeds, new=summary.new_entries, posted=summary.posted,
                 failed=summary.failed),
            ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: commands.Bot) -> None:
    service = build_news_service(
        bot.db,  # type: ignore[attr-defined]
        bot.http_session,  # type: ignore[attr-defined]
        DiscordNewsPoster(bot),
        bot.settings_service,  # type: ignore[attr-defined]
        clock=bot.clock,  # type: ignore[attr-defined]
        allow_private=bot.settings.allow_private_feeds,  # type: ignore[attr-defined]
        parse_processes=bot.settings.feed_parse_processes,  # type: ignore[attr-defined]
        interval=timedelta(minutes=bot.settings.feed_interval_minutes),  # type: ignore[attr-defined]
        in_guild=lambda guild_id: bot.get_guild(guild_id) is not None,
    )
    await bot.add_cog(NewsCog(bot, service))
