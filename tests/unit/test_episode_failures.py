"""How episode-opening failures are classified and worded: kinds for retries and notices, and air times
rendered as Discord timestamps by the cog (the service hands over the datetime)."""

from datetime import UTC, datetime

import discord

from bot.errors import UserFacingError
from bot.services.episodes import NotAiredError
from cogs.episodes.failures import ChannelPermissionError, failure_kind, failure_reason

AIRS = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def say(key: str, **params: object) -> str:
    return key + "".join(f" {name}={value}" for name, value in sorted(params.items()))


def test_failure_kinds():
    assert failure_kind(ChannelPermissionError(5, ["manage_threads", "embed_links"])) == (
        "missing_permissions:embed_links,manage_threads")
    assert failure_kind(UserFacingError("episodes.no_channel")) == "no_channel"
    assert failure_kind(NotAiredError("S1E1", AIRS)) == "not_aired"
    assert failure_kind(TimeoutError()) == "discord_unavailable"
    assert failure_kind(RuntimeError("boom")) == "unexpected"


def test_an_air_time_is_worded_as_a_discord_timestamp():
    assert failure_reason(say, NotAiredError("S1E1", AIRS)) == (
        f"episodes.not_aired episode=S1E1 when={discord.utils.format_dt(AIRS, 'F')}")
    assert discord.utils.format_dt(AIRS, "F") == f"<t:{int(AIRS.timestamp())}:F>"


def test_missing_permissions_are_named_in_the_readers_language():
    assert failure_reason(say, ChannelPermissionError(5, ["manage_threads"])) == (
        "episodes.channel_missing channel=<#5> permissions=permissions.manage_threads")
