"""Per-feed options of `/news feed add` and `/news feed edit`: `ping:<role|none>` and `thread:on|off|server`, and
the permissions alert threads need in a text channel."""

from __future__ import annotations

import re
from collections.abc import Iterable

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.services.news import UNCHANGED, NewsService
from bot.ui import Interaction, missing_permissions, permission_label, text

from .render import cut

NO_PING = ("none", "no", "off", "0", "없음", "안함")
SERVER_PING = ("default", "server", "기본", "서버")
THREAD_CHOICES = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off"),
                  app_commands.Choice(name="server", value="server")]
_ROLE_ID = re.compile(r"<@&(\d+)>|(\d+)")
# An alert thread in a text channel is opened on the alert (Create Public Threads) and gets the story's link
# (Send Messages in Threads). Forum channels get a post per story anyway: nothing more to check there.
THREAD_NEEDS = ("create_public_threads", "send_messages_in_threads")
THREAD_MISSING = "news.feed.thread_missing"
SERVER_THREAD_MISSING = "news.feed.thread_missing_server"  # the threads come from `/news threads on`


def parse_ping(interaction: Interaction, raw: str | None) -> object:
    """None (option not given) -> UNCHANGED; "none" -> 0 (quiet); "default" -> None (the news role); else a role of
    this server by mention, id or name. An unknown role is refused."""
    if raw is None:
        return UNCHANGED
    value = raw.strip()
    if value.casefold() in NO_PING:
        return 0
    if value.casefold() in SERVER_PING:
        return None
    guild = interaction.guild
    role: discord.Role | None = None
    if guild is not None:
        match = _ROLE_ID.fullmatch(value)
        if match:
            role = guild.get_role(int(match.group(1) or match.group(2)))
        else:
            role = next((r for r in guild.roles if r.name.casefold() == value.casefold()), None)
    if role is None or role.is_default():
        raise UserFacingError("news.feed.bad_ping", ping=cut(value, 100))
    return role.id


def parse_thread(choice: app_commands.Choice[str] | None) -> object:
    if choice is None:
        return UNCHANGED
    return {"on": True, "off": False}.get(choice.value)


async def ping_autocomplete(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    needle = current.casefold()
    choices = [app_commands.Choice(name=text(interaction, "news.feed.ping_none"), value="none"),
               app_commands.Choice(name=text(interaction, "news.feed.ping_default"), value="default")]
    if interaction.guild is not None:
        choices += [app_commands.Choice(name=cut("@" + role.name, 100), value=str(role.id))
                    for role in interaction.guild.roles
                    if not role.is_default() and not role.managed and needle in role.name.casefold()]
    return choices[:25]


def require_thread_permissions(interaction: Interaction, channels: Iterable[object],
                               key: str = THREAD_MISSING) -> None:
    """Refuse (before anything is written) when alerts would get threads in a text channel of `channels` where the
    bot cannot open them (`key`: the explanation; SERVER_THREAD_MISSING when they would get threads because
    server-wide threads are on). Forum channels, and channels that are gone (None), are not checked."""
    guild = interaction.guild
    if guild is None:
        return
    for channel in channels:
        if not isinstance(channel, discord.TextChannel):
            continue
        missing = missing_permissions(channel.permissions_for(guild.me), THREAD_NEEDS)
        if missing:
            raise UserFacingError(key, channel=channel.mention,
                                  permissions=", ".join(permission_label(interaction, n) for n in missing))


async def server_threads_on(interaction: Interaction) -> bool:
    """Server-wide alert threads (`/news threads on`), which the feeds on `thread:server` follow."""
    guild = interaction.guild
    return guild is not None and (await interaction.client.settings_service.get(guild.id)).news_threads


async def require_feed_threads(interaction: Interaction, thread: object, channel: object) -> None:
    """A feed whose alerts go to `channel` with `thread` (True: on; None or UNCHANGED, as on add: the server's
    setting; False: off) must be able to get the threads it would have there."""
    if thread is True:
        require_thread_permissions(interaction, [channel])
    elif thread is not False and isinstance(channel, discord.TextChannel) and await server_threads_on(interaction):
        require_thread_permissions(interaction, [channel], SERVER_THREAD_MISSING)


async def check_edit_threads(interaction: Interaction, service: NewsService, subscription_id: int,
                             target: discord.abc.GuildChannel | None, thread: object) -> None:
    """`/news feed edit`: the feed's alerts must be able to get their threads in the channel it posts in afterwards
    when `thread:on` or `thread:server` is given, or when it is moved (`target`) with a stored setting that gives
    threads (on, or the server's while server-wide threads are on). An edit of other options checks nothing."""
    guild = interaction.guild
    if guild is None or (thread is UNCHANGED and target is None):
        return
    if thread is UNCHANGED:
        options = (await service.subscription_options([subscription_id])).get(subscription_id)
        if options is None:
            return  # an unknown feed is refused by the edit itself
        thread = options.thread
    if thread is False:
        return
    if target is None:  # where the feed posts now: its own channel or the news channel
        item = next((i for i in await service.list_feeds(guild.id) if i.subscription.id == subscription_id), None)
        if item is None:
            return  # an unknown feed is refused by the edit itself
        channel_id = item.subscription.channel_id or (
            await interaction.client.settings_service.get(guild.id)).news_channel_id
        await require_feed_threads(interaction, thread, guild.get_channel(channel_id or 0))
        return
    await require_feed_threads(interaction, thread, target)


async def check_news_channel_threads(interaction: Interaction, service: NewsService, channel: object) -> None:
    """`/config channel kind:news`: the feeds without a channel of their own move with the news channel; refused
    where their alerts would get threads the bot cannot open there (feeds on `thread:on`, and feeds on
    `thread:server` while server-wide threads are on)."""
    guild = interaction.guild
    if guild is None or not isinstance(channel, discord.TextChannel):
        return
    items = [i for i in await service.list_feeds(guild.id) if not i.subscription.channel_id]
    options = await service.subscription_options([i.subscription.id for i in items])
    threads = {getattr(options.get(i.subscription.id), "thread", None) for i in items}
    if True in threads:
        require_thread_permissions(interaction, [channel])
    if None in threads and await server_threads_on(interaction):
        require_thread_permissions(interaction, [channel], SERVER_THREAD_MISSING)


async def server_thread_channels(interaction: Interaction, service: NewsService) -> list[object]:
    """`/news threads on`: the channels whose alerts would get threads: the news channel and the channels of the
    feeds that follow the server's setting (`thread:server`)."""
    guild = interaction.guild
    if guild is None:
        return []
    news_channel_id = (await interaction.client.settings_service.get(guild.id)).news_channel_id
    items = await service.list_feeds(guild.id)
    options = await service.subscription_options([i.subscription.id for i in items])
    ids = [news_channel_id] + [i.subscription.channel_id for i in items
                               if getattr(options.get(i.subscription.id), "thread", None) is None]
    return [guild.get_channel(channel_id) for channel_id in dict.fromkeys(ids) if channel_id]
