"""Embeds and reply texts for episode discussions (no state, no Discord calls)."""

from __future__ import annotations

from typing import Any

import discord

from bot.domain.episodes import episode_label, rating_bar
from bot.services.episodes import RatingsTable, StarterInfo
from bot.ui import guild_text, text

MAX_TABLE_LINES = 60


def timestamp(moment, style: str = "F") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def rating_line(say, summary) -> str:
    if not summary.count:
        return say("episodes.starter.no_votes")
    return say("episodes.starter.rating_value", average=f"{summary.average:.2f}", votes=summary.count,
               bar=rating_bar(summary.average))


def _neighbour(say, neighbour) -> str:
    if neighbour is None:
        return say("episodes.starter.none")
    episode, thread = neighbour
    label = episode_label(episode.season, episode.number)
    if thread is None:
        return say("episodes.starter.not_open", episode=label)
    return f"{label}: <#{thread.thread_id}>"


def starter_embed(client: Any, guild: discord.Guild | None, starter: StarterInfo) -> discord.Embed:
    """The thread's first message: episode, air time, the spoiler rule, neighbours and the live rating."""

    def say(key: str, **params: object) -> str:
        return guild_text(client, guild, key, **params)

    show, episode = starter.show, starter.episode
    title = f"{show.title} · {episode_label(episode.season, episode.number)}"
    if episode.title:
        title += f" — {episode.title}"
    lines = []
    if show.original_title:
        lines.append(f"*{show.original_title}*")
    lines.append(say("episodes.starter.spoiler_rule"))
    embed = discord.Embed(title=title[:256], description="\n".join(lines), colour=discord.Colour.red())
    airs = (f"{timestamp(episode.airs_at)} ({timestamp(episode.airs_at, 'R')})" if episode.airs_at
            else say("episodes.starter.unscheduled"))
    embed.add_field(name=say("episodes.starter.airs"), value=airs, inline=False)
    embed.add_field(name=say("episodes.starter.previous"), value=_neighbour(say, starter.previous), inline=True)
    embed.add_field(name=say("episodes.starter.next"), value=_neighbour(say, starter.next), inline=True)
    embed.add_field(name=say("episodes.starter.rating"), value=rating_line(say, starter.rating), inline=False)
    embed.set_footer(text=say("episodes.starter.footer"))
    return embed


def ratings_embed(interaction: discord.Interaction, table: RatingsTable) -> discord.Embed:
    def say(key: str, **params: object) -> str:
        return text(interaction, key, **params)

    lines = []
    for episode, summary in table.rows[:MAX_TABLE_LINES]:
        label = episode_label(episode.season, episode.number)
        average = f"{summary.average:.2f}" if summary.count else "–"
        votes = say("episodes.ratings.votes", votes=summary.count)
        line = f"`{label}` {rating_bar(summary.average)} **{average}** · {votes}"
        if episode.id == table.best:
            line += " 🏆"
        lines.append(line)
    if len(table.rows) > MAX_TABLE_LINES:
        lines.append(say("episodes.ratings.more", count=len(table.rows) - MAX_TABLE_LINES))
    embed = discord.Embed(title=say("episodes.ratings.title", show=table.show.title)[:256],
                          description="\n".join(lines)[:4096], colour=discord.Colour.gold())
    best = next((e for e, _ in table.rows if e.id == table.best), None)
    embed.set_footer(text=say("episodes.ratings.best", episode=episode_label(best.season, best.number))
                     if best else say("episodes.ratings.no_best"))
    return embed
