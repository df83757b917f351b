"""Pytest fixtures for the local feed server. Use them from a conftest or test module with
``feed_server = fixtures.feed_server`` (after ``from tests.feeds import fixtures``), which keeps ruff's F811 quiet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.feeds.server import FeedServer


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A running FeedServer on 127.0.0.1 (a free port), closed after the test."""
    server = FeedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
