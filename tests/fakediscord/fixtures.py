"""Pytest fixtures for the fake Discord, independent of the bot (import them into tests/conftest.py).

- `fake_discord`: a started `FakeDiscord` with the default guild (`fake_discord.default_guild`); discord.py's
  REST base and gateway point at it for the test. On teardown it runs `assert_clean()` (unknown routes,
  unanswered / twice / late interactions, limit violations fail the test) and stops the server, closing every
  socket.
- `point_discord_at(fake)`: the same wiring, for tests that build their own fake.

The bot itself reads DISCORD_API_BASE and asks GET /gateway/bot; wiring both here keeps tests of the fake alone
working too. Both go through `bot.discord_endpoints`, the one place that sets discord.py's process-wide addresses;
whoever starts next sets them again, so nothing is restored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.discord_endpoints import use_endpoints

from .server import FakeDiscord


def point_discord_at(fake: FakeDiscord) -> FakeDiscord:
    """Point discord.py's REST base and default gateway at `fake`."""
    use_endpoints(fake.api_base, fake.gateway_url)
    return fake


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild()
    try:
        yield point_discord_at(fake)
        fake.assert_clean()
    finally:
        await fake.stop()
    assert not fake.gateway.connections, "gateway sockets still open after stop"
