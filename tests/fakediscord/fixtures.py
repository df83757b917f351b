"""Pytest fixtures for the fake Discord, independent of the bot (import them into tests/conftest.py).

- `fake_discord`: a started `FakeDiscord` with the default guild (`fake_discord.default_guild`); discord.py's
  `Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY` point at it for the test and are restored afterwards. On
  teardown it runs `assert_clean()` (unknown routes, unanswered / twice / late interactions, limit violations fail
  the test) and stops the server, closing every socket.
- `point_discord_at(fake)`: the same wiring as a context manager, for tests that build their own fake.

The bot itself reads DISCORD_API_BASE and asks GET /gateway/bot; wiring both here keeps tests of the fake alone
(and bots that skip that step) working too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import discord.gateway
import discord.http
import pytest
import yarl

from .server import FakeDiscord


@contextlib.contextmanager
def point_discord_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at `fake`; restore the originals afterwards."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild()
    try:
        with point_discord_at(fake):
            yield fake
        fake.assert_clean()
    finally:
        await fake.stop()
    assert not fake.gateway.connections, "gateway sockets still open after stop"
