"""Discord markup for news: post embeds, the feed list's fields, reply texts and the channel mentions of admin
notices (no state, no Discord calls)."""

from __future__ import annotations

from datetime import UTC, datetime

import discord

from bot.client import CodeBlueBot
from bot.services.news import (
    FeedTestReport,
    KeywordRecord,
    NewsPost,
    SubscriptionOptions,
    SubscriptionWithFeed,
    WhyReport,
)
from bot.ui import Interaction, guild_text, text

FIELD_LIMIT = 1024
MESSAGE_LIMIT = 2000
# Notice parameters the service gives as channel ids, and the catalog parameter each becomes as a mention.
NOTICE_CHANNELS = {"channel_id": "channel", "news_channel_id": "news_channel"}


def cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def channel_mention(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id else "-"


def role_mention(role_id: int | None) -> str | None:
    return f"<@&{role_id}>" if role_id else None


def relative_time(epoch: int | None, none: str) -> str:
    return discord.utils.format_dt(datetime.fromtimestamp(epoch, UTC), "R") if epoch else none


def notice_params(params: dict[str, object], guild_id: int | None = None) -> dict[str, object]:
    """A notice's parameters for the catalog: channel ids become mentions ("-" when there is none), `message_ids`
    (of messages in `channel_id`) become `messages`, their links."""
    rendered: dict[str, object] = {}
    for name, value in params.items():
        if name in NOTICE_CHANNELS:
            rendered[NOTICE_CHANNELS[name]] = channel_mention(value if isinstance(value, int) else None)
        elif name == "message_ids" and isinstance(value, tuple | list):
            channel_id = params.get("channel_id")
            links = [message_link(guild_id, channel_id if isinstance(channel_id, int) else None, m) for m in value]
            count = params.get("count")
            more = " …" if isinstance(count, int) and count > len(value) else ""  # more alerts than links
            rendered["messages"] = (" ".join(link for link in links if link) or "-") + more
        else:
            rendered[name] = value
    return rendered


def notice_text(client: CodeBlueBot, guild: discord.Guild | None, key: str, params: dict[str, object]) -> str:
    return cut(guild_text(client, guild, key, **notice_params(params, guild.id if guild else None)), MESSAGE_LIMIT)


def news_allowed_mentions(role_id: int | None) -> discord.AllowedMentions:
    """Only the news role may be pinged: never @everyone/@here, users or another role named in a feed."""
    roles: list[discord.Object] | bool = [discord.Object(role_id)] if role_id else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def _http(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


def embed_title(title: str) -> str:
    return cut(title or "-", 256)


def forum_post_name(client: CodeBlueBot, guild: discord.Guild | None, title: str) -> str:
    """A forum post's name for a story (the server's word for "News" when it has no title)."""
    return cut(title or guild_text(client, guild, "news.post.untitled"), 100)


def news_embed(client: CodeBlueBot, post: NewsPost, guild: discord.Guild | None) -> discord.Embed:
    embed = discord.Embed(title=embed_title(post.title), url=_http(post.link), colour=discord.Colour.red())
    if post.summary:
        embed.description = cut(post.summary, 4000)
    if post.source:
        embed.add_field(name=guild_text(client, guild, "news.post.source"), value=cut(post.source, 256))
    if post.published is not None:
        embed.add_field(name=guild_text(client, guild, "news.post.published"),
                        value=f"{discord.utils.format_dt(post.published, 'F')} "
                              f"({discord.utils.format_dt(post.published, 'R')})")
    thumbnail = _http(post.thumbnail)
    if thumbnail:
        embed.set_thumbnail(url=thumbnail)
    if post.updated:
        embed.set_footer(text=guild_text(client, guild, "news.post.updated"))
    return embed


def message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str | None:
    if not (guild_id and channel_id and message_id):
        return None
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def _when(epoch: int | None) -> str:
    if not epoch:
        return "-"
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{discord.utils.format_dt(moment, 'f')} ({discord.utils.format_dt(moment, 'R')})"


def why_reply(interaction: Interaction, report: WhyReport, link: str | None) -> str:
    """`/news why`: the story, then what happened to it and why. `link`: the message's (or the earlier alert's)."""
    story = cut(report.title or "-", 200)
    if report.link:
        story = f"[{story}](<{cut(report.link, 400)}>)"
    lines = [text(interaction, "news.why.story", story=story)]
    keywords = ", ".join(f"`{k.replace('`', 'ˋ')}`" for k in report.keywords) or "-"
    lines.append(text(interaction, f"news.why.{report.outcome}", keyword=cut(report.keyword or "-", 100),
                      link=link or "-", channel=channel_mention(report.channel_id),
                      reason=cut(report.reason or "-", 200),
                      when=_when(report.next_poll_at), feed=cut(report.feed or "-", 200),
                      keywords=cut(keywords, 1000)))
    return cut("\n".join(lines), MESSAGE_LIMIT)


def edit_reply(interaction: Interaction, item: SubscriptionWithFeed, options: SubscriptionOptions | None) -> str:
    """`/news feed edit`: how the feed posts now."""
    sub = item.subscription
    ping = ping_text(interaction, options.ping_role_id if options else None)
    threads = thread_text(interaction, options.thread if options else None)
    channel = channel_mention(sub.channel_id) if sub.channel_id else text(interaction, "news.feed.news_channel")
    return cut(text(interaction, "news.feed.edited", title=cut(item.feed.title or item.feed.url, 200),
                    channel=channel, ping=ping, thread=threads), MESSAGE_LIMIT)


def ping_text(interaction: Interaction, ping_role_id: int | None) -> str:
    if ping_role_id == 0:
        return text(interaction, "news.feed.ping_none")
    return role_mention(ping_role_id) or text(interaction, "news.feed.ping_default")


def thread_text(interaction: Interaction, thread: bool | None) -> str:
    return text(interaction, "news.feed.thread_server" if thread is None else
                "news.feed.thread_on" if thread else "news.feed.thread_off")


def feed_field(interaction: Interaction, item: SubscriptionWithFeed,
               options: SubscriptionOptions | None = None) -> tuple[str, str]:
    """One feed of `/news feed list`: (name, value) of its embed field."""
    feed, sub = item.feed, item.subscription
    never = text(interaction, "news.list.never")
    state = text(interaction, "news.list.paused" if sub.paused else "news.list.active")
    lines = [
        f"<{cut(feed.url, 300)}> · {state}",
        text(interaction, "news.list.checked", when=relative_time(feed.last_checked_at, never),
             new=relative_time(feed.last_new_item_at, never)),
    ]
    if sub.channel_id:
        lines.append(text(interaction, "news.list.channel", channel=channel_mention(sub.channel_id)))
    if options is not None and (options.ping_role_id is not None or options.thread is not None):
        lines.append(text(interaction, "news.list.options", ping=ping_text(interaction, options.ping_role_id),
                          thread=thread_text(interaction, options.thread)))
    if feed.last_error:
        lines.append(text(interaction, "news.list.error", failures=feed.consecutive_failures,
                          error=cut(feed.last_error, 200)))
    return cut(f"#{sub.id} {feed.title or feed.url}", 256), cut("\n".join(lines), FIELD_LIMIT)


def feed_choice_name(item: SubscriptionWithFeed) -> str:
    return cut(f"{item.feed.title or item.feed.url} — {item.feed.url}", 100)


def keyword_scope(interaction: Interaction, feed: str | None) -> str:
    return text(interaction, "news.keyword.scope_feed" if feed else "news.keyword.scope_server")


def keyword_list(interaction: Interaction, records: list[KeywordRecord], scope: str) -> str:
    if not records:
        return text(interaction, "news.keyword.none", scope=scope)
    listed = ", ".join(f"`{r.raw.replace('`', 'ˋ')}`" for r in records)
    return cut(text(interaction, "news.keyword.list", scope=scope, keywords=listed), MESSAGE_LIMIT)


def test_reply(interaction: Interaction, report: FeedTestReport) -> str:
    lines = [text(interaction, "news.test.summary", title=cut(report.title or "-", 200), entries=report.entries,
                  matching=report.would_post, excluded=report.excluded)]
    if report.would_post > len(report.matching):
        lines.append(text(interaction, "news.test.newest", shown=len(report.matching)))
    for item in report.matching:
        keyword = item.keyword or text(interaction, "news.test.everything")
        lines.append(text(interaction, "news.test.item", title=cut(item.title, 150), keyword=cut(keyword, 60)))
    return cut("\n".join(lines), MESSAGE_LIMIT)
