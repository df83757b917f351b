"""Shared fixtures: the fake Discord and the real bot running against it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from db.database import Database
from db.migrate import migrate
from tests.e2e.harness import TEST_TOKEN, BotRunner
from tests.fakediscord.server import FakeDiscord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake Discord with the default guild; fails the test if it saw a problem.

    Unlike `tests.fakediscord.fixtures.fake_discord` it does not point discord.py at the fake: the bot must do
    that itself from DISCORD_API_BASE, as in production (`bot/discord_endpoints.py`; nothing to restore after).
    """
    server = FakeDiscord(token=TEST_TOKEN)
    await server.start()
    server.add_guild()
    try:
        yield server
        server.assert_clean()
        assert_mentions_always_explicit(server)
    finally:
        await server.stop()


def _message_payloads(body):
    """Message-shaped payloads in a request body: the body itself, an interaction callback's data, a forum post."""
    if not isinstance(body, dict):
        return []
    found = [body]
    for key in ("data", "message"):
        if isinstance(body.get(key), dict):
            found.append(body[key])
    return [p for p in found if p.get("content")]


def assert_mentions_always_explicit(server: FakeDiscord) -> None:
    """Every message the bot sent with text named exactly whom it may ping (a rule of docs/ARCHITECTURE.md).

    `allowed_mentions` must be present and must not let Discord parse mentions from the text (`parse` empty):
    only users and roles listed by id may be pinged, so nothing from a feed or a member can ping anyone.
    """
    loose = [
        f"{r.method} {r.template}: {payload.get('allowed_mentions')}"
        for r in server.requests
        for payload in _message_payloads(r.json)
        if (payload.get("allowed_mentions") or {}).get("parse", ["missing"]) != []
    ]
    assert loose == [], f"messages sent without safe allowed_mentions: {loose}"


@pytest.fixture
async def migrated_db(tmp_path) -> AsyncIterator[Database]:
    """A freshly migrated SQLite file of this test (closed at its end)."""
    db = Database(tmp_path / "codeblue.db")
    await db.connect()
    await migrate(db)
    yield db
    await db.close()


@pytest.fixture
async def runner(fake, tmp_path) -> AsyncIterator[BotRunner]:
    bot_runner = BotRunner(fake, tmp_path / "codeblue.db")
    try:
        yield bot_runner
    finally:
        await bot_runner.stop()


@pytest.fixture
async def bot(runner):
    return await runner.start()


@pytest.fixture(autouse=True)
def _quiet_discord_logs():
    logging.getLogger("discord").setLevel(logging.INFO)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
