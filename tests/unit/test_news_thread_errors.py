"""What a Discord error answer to opening a news alert's thread means: a refusal or a gone message is not retried,
a failure that may pass is."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from cogs.news.poster import thread_error


def http_error(cls: type[discord.HTTPException], status: int) -> discord.HTTPException:
    return cls(SimpleNamespace(status=status, reason="x"), {"message": "m", "code": 0})


@pytest.mark.parametrize(("cls", "status", "reason", "permanent"), [
    (discord.Forbidden, 403, "forbidden", True),  # no Create Public Threads permission: admins are told once
    (discord.NotFound, 404, "message_missing", True),
    (discord.HTTPException, 400, "rejected: m", True),
    (discord.HTTPException, 429, "unavailable: 429", False),
    (discord.HTTPException, 408, "unavailable: 408", False),
    (discord.DiscordServerError, 500, "unavailable: 500", False),
    (discord.DiscordServerError, 503, "unavailable: 503", False),
])
def test_thread_error_classification(cls, status, reason, permanent):
    error = thread_error(http_error(cls, status))
    assert (error.reason, error.permanent, error.maybe_posted) == (reason, permanent, False)
