"""What episode discussions look like in Discord: embeds, reply texts, mentions and timestamps (no state, no
Discord calls). The only place of the episodes area that writes Discord markup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import discord

from bot.domain.episodes import RatingSummary, ScheduleImportError, episode_label, rating_bar
from bot.services.episodes import (
    Episode,
    EpisodeThread,
    PremiereInfo,
    PresetChanges,
    RatingsTable,
    SeasonSummary,
    Show,
    StarterInfo,
    ThreadResult,
)
from bot.ui import Interaction, text

MAX_TABLE_LINES = 60
MAX_IMPORT_PROBLEMS_SHOWN = 10

Say = Callable[..., str]
"""(key, **params) -> the catalog message in the audience's language."""


def channel_link(channel_id: int) -> str:
    """A clickable link to a channel or thread."""
    return f"<#{channel_id}>"


def air_time(moment: datetime) -> str:
    """An air time, shown in each reader's own time zone and language."""
    return discord.utils.format_dt(moment, "F")


def relative_time(moment: datetime) -> str:
    """`in 5 minutes`, in each reader's language."""
    return discord.utils.format_dt(moment, "R")


def show_name(show: Show) -> str:
    return f"{show.title} ({show.original_title})" if show.original_title else show.title


def airs_text(interaction: Interaction, airs_at: datetime | None) -> str:
    if airs_at is None:
        return text(interaction, "episodes.starter.unscheduled")
    return air_time(airs_at)


def thread_reply(interaction: Interaction, show: Show, episode: Episode, result: ThreadResult) -> str:
    return text(interaction, f"episodes.thread.{result.outcome}", thread=channel_link(result.thread.thread_id),
                show=show.short_name, episode=episode_label(episode.season, episode.number))


def import_problems(interaction: Interaction, error: ScheduleImportError) -> str:
    lines = [text(interaction, "episodes.import.line", line=problem.line,
                  problem=text(interaction, f"episodes.{problem.message_key}", detail=problem.detail))
             for problem in error.problems[:MAX_IMPORT_PROBLEMS_SHOWN]]
    if len(error.problems) > MAX_IMPORT_PROBLEMS_SHOWN:
        lines.append(text(interaction, "episodes.import.more", count=len(error.problems) - MAX_IMPORT_PROBLEMS_SHOWN))
    return "\n".join(lines)[:1500]


def rating_line(say: Say, summary: RatingSummary) -> str:
    if not summary.count or summary.average is None:
        return say("episodes.starter.no_votes")
    return say("episodes.starter.rating_value", average=f"{summary.average:.2f}", votes=summary.count,
               bar=rating_bar(summary.average))


def _neighbour(say: Say, neighbour: tuple[Episode, EpisodeThread | None] | None) -> str:
    if neighbour is None:
        return say("episodes.starter.none")
    episode, thread = neighbour
    label = episode_label(episode.season, episode.number)
    if thread is None:
        return say("episodes.starter.not_open", episode=label)
    return f"{label}: {channel_link(thread.thread_id)}"


def starter_embed(say: Say, starter: StarterInfo) -> discord.Embed:
    """The thread's first message: episode, air time, the spoiler rule, neighbours and the live rating."""
    show, episode = starter.show, starter.episode
    title = f"{show.title} · {episode_label(episode.season, episode.number)}"
    if episode.title:
        title += f" — {episode.title}"
    lines = []
    if show.original_title:
        lines.append(f"*{show.original_title}*")
    lines.append(say("episodes.starter.spoiler_rule"))
    embed = discord.Embed(title=title[:256], description="\n".join(lines), colour=discord.Colour.red())
    airs = (f"{air_time(episode.airs_at)} ({relative_time(episode.airs_at)})" if episode.airs_at
            else say("episodes.starter.unscheduled"))
    embed.add_field(name=say("episodes.starter.airs"), value=airs, inline=False)
    embed.add_field(name=say("episodes.starter.previous"), value=_neighbour(say, starter.previous), inline=True)
    embed.add_field(name=say("episodes.starter.next"), value=_neighbour(say, starter.next), inline=True)
    embed.add_field(name=say("episodes.starter.rating"), value=rating_line(say, starter.rating), inline=False)
    embed.set_footer(text=say("episodes.starter.footer"))
    return embed


def ratings_embed(interaction: Interaction, table: RatingsTable) -> discord.Embed:
    def say(key: str, **params: object) -> str:
        return text(interaction, key, **params)

    lines = []
    for episode, summary in table.rows[:MAX_TABLE_LINES]:
        label = episode_label(episode.season, episode.number)
        average = f"{summary.average:.2f}" if summary.count and summary.average is not None else "–"
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


def premiere_text(say: Say, premiere: datetime | None) -> str:
    """A premiere as members read it: a timestamp counting down, or "to be announced"."""
    if premiere is None:
        return say("episodes.season.tba")
    return f"{air_time(premiere)} ({relative_time(premiere)})"


def premiere_embed(say: Say, info: PremiereInfo) -> discord.Embed:
    """The countdown announcement: the premiere as a relative timestamp (it counts down by itself), then the
    season's episode threads as they open; marked when the date is withdrawn or the season removed."""
    show, season = info.show, info.season
    title = say("episodes.premiere.title", show=show.title, season=season.number)
    if info.state == "removed":
        description = say("episodes.premiere.removed", season=season.number)
    elif info.state == "withdrawn" or season.premiere_at is None:
        description = say("episodes.premiere.withdrawn", season=season.number)
    else:
        description = say("episodes.premiere.countdown", season=season.number, when=air_time(season.premiere_at),
                          relative=relative_time(season.premiere_at),
                          platform=show.platform or show.title)
    embed = discord.Embed(title=title[:256], description=description[:4096], colour=discord.Colour.red())
    if show.original_title:
        embed.set_author(name=show.original_title[:256])
    if season.episode_count:
        embed.add_field(name=say("episodes.premiere.episodes"), value=str(season.episode_count), inline=True)
    if info.threads:
        lines = [f"{episode_label(e.season, e.number)}: {channel_link(t.thread_id)}" for e, t in info.threads]
        embed.add_field(name=say("episodes.premiere.threads"), value="\n".join(lines)[:1024], inline=False)
    return embed


def season_line(say: Say, summary: SeasonSummary) -> str:
    """`Season 2 · premieres <t:…> · 10 episodes` (a picker shows it as plain text: see season_choice)."""
    return say("episodes.season.line", season=summary.number, premiere=premiere_text(say, summary.premiere_at),
               count=summary.episode_count)


def season_choice(say: Say, summary: SeasonSummary) -> str:
    """A season in a picker (no markup: pickers show text as it is)."""
    if summary.premiere_at is None:
        when = say("episodes.season.tba")
    else:
        when = summary.premiere_at.strftime("%Y-%m-%d")
    return say("episodes.season.choice", season=summary.number, premiere=when, count=summary.episode_count)


def preset_changes(say: Say, changes: PresetChanges) -> str:
    """What re-installing a preset changed, one line per kind of change."""
    def labels(keys: list[tuple[int, int]]) -> str:
        shown = ", ".join(episode_label(*key) for key in keys[:20])
        return shown + (" …" if len(keys) > 20 else "")

    if not changes.any:
        return say("episodes.preset.unchanged")
    lines = [say("episodes.preset.new_season", season=n) for n in changes.new_seasons]
    lines += [say("episodes.preset.premiere_moved", season=n) for n in changes.premieres]
    if changes.added:
        lines.append(say("episodes.preset.added", count=len(changes.added), episodes=labels(changes.added)))
    if changes.moved:
        lines.append(say("episodes.preset.moved", episodes=labels(changes.moved)))
    if changes.retitled:
        lines.append(say("episodes.preset.retitled", episodes=labels(changes.retitled)))
    if changes.removed:
        lines.append(say("episodes.preset.removed", episodes=labels(changes.removed)))
    return "\n".join(f"• {line}" for line in lines)
