"""What a Discord error answer to a news post means: give up, retry, and whether the message may exist anyway."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from cogs.news import post_error


def http_error(cls: type[discord.HTTPException], status: int) -> discord.HTTPException:
    return cls(SimpleNamespace(status=status, reason="x"), {"message": "m", "code": 0})


@pytest.mark.parametrize(("cls", "status", "permanent", "maybe_posted"), [
    (discord.Forbidden, 403, True, False),
    (discord.NotFound, 404, True, False),
    (discord.HTTPException, 400, True, False),
    (discord.HTTPException, 413, True, False),
    (discord.HTTPException, 429, False, False),  # rate limited beyond discord.py's retries: nothing posted, retry
    (discord.HTTPException, 408, False, False),
    (discord.DiscordServerError, 500, False, True),  # Discord may have stored it before failing
    (discord.DiscordServerError, 503, False, True),
])
def test_post_error_classification(cls, status, permanent, maybe_posted):
    error = post_error(http_error(cls, status))
    assert (error.permanent, error.maybe_posted) == (permanent, maybe_posted)
