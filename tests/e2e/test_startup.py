"""The real bot against the fake Discord: start-up wiring, command sync, restart, shutdown."""

import asyncio
import logging
from datetime import UTC, datetime

import discord
import pytest
from apscheduler.events import EVENT_SCHEDULER_PAUSED

from db.database import Database
from db.guilds import BotStateRepository
from tests.e2e.harness import BotRunner


async def test_bot_connects_through_api_base_and_gateway_discovery(fake, bot):
    assert bot.is_ready()
    assert str(discord.http.Route.BASE) == fake.api_base
    assert fake.requests_to("GET", "/gateway/bot"), "the bot must ask /gateway/bot for the gateway"
    guild = bot.get_guild(fake.default_guild.id)
    assert guild is not None and guild.me is not None
    # Minimal intents: GUILDS only (1 << 0).
    assert fake.gateway.sessions[-1].intents == 1


async def test_commands_synced_once_then_only_when_changed(fake, runner):
    await runner.start()
    assert fake.sync_count == 1
    commands = fake.commands()
    assert {"config", "help"} <= set(commands)
    config = commands["config"]
    assert int(config["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert config["name_localizations"]["ko"] == "설정"
    assert config["contexts"] == [0] or config.get("dm_permission") is False
    channel = next(o for o in config["options"] if o["name"] == "channel")
    assert channel["name_localizations"]["ko"] == "채널"
    kind = next(o for o in channel["options"] if o["name"] == "kind")
    assert {c["value"] for c in kind["choices"]} == {"news", "discussion", "watchparty", "log"}
    assert next(c for c in kind["choices"] if c["value"] == "news")["name_localizations"]["ko"] == "뉴스"

    await runner.restart()
    assert fake.sync_count == 1, "an unchanged command tree must not be synced again"


async def test_dev_guild_sync_goes_to_that_guild(fake, tmp_path):
    guild = fake.default_guild
    dev = BotRunner(fake, tmp_path / "dev.db", env={"CODEBLUE_DEV_GUILD": str(guild.id)})
    try:
        await dev.start()
        assert "config" in fake.commands(guild)
        assert fake.command_syncs[-1][0] == guild.id
    finally:
        await dev.stop()


async def test_clean_shutdown_closes_database(fake, runner):
    bot = await runner.start()
    db = bot.db
    await runner.stop()
    assert bot.is_closed()
    assert db._conn is None
    assert not bot.scheduler.running


async def test_shutdown_lets_a_running_job_finish_its_write(fake, runner, tmp_path):
    """Stopping pauses the scheduler, then waits for jobs already running before Discord and the database close."""
    bot = await runner.start()
    started, paused, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    bot.scheduler.add_listener(lambda _event: paused.set(), EVENT_SCHEDULER_PAUSED)

    async def slow_job() -> None:
        started.set()
        await release.wait()
        await BotStateRepository(bot.db).set("shutdown-test", "written")

    bot.scheduler.add_job(slow_job, "date", run_date=datetime.now(UTC), id="test:slow-job")
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.wait_for(paused.wait(), 5)  # shutdown has begun while the job still runs
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 10)

    db = Database(tmp_path / "codeblue.db")
    await db.connect()
    try:
        assert await BotStateRepository(db).get("shutdown-test") == "written"
    finally:
        await db.close()


def test_mentions_check_catches_a_message_without_allowed_mentions():
    from types import SimpleNamespace

    from tests.conftest import assert_mentions_always_explicit

    ok = SimpleNamespace(method="POST", template="/channels/{channel_id}/messages",
                         json={"content": "hi", "allowed_mentions": {"parse": []}})
    callback = SimpleNamespace(method="POST", template="/interactions/{interaction_id}/{token}/callback",
                               json={"type": 4, "data": {"content": "@everyone"}})
    forum = SimpleNamespace(method="POST", template="/channels/{channel_id}/threads",
                            json={"name": "t", "message": {"content": "<@&1>", "allowed_mentions": {"parse": []}}})
    parsing = SimpleNamespace(method="POST", template="/channels/{channel_id}/messages",
                              json={"content": "hi", "allowed_mentions": {"parse": ["everyone"]}})
    assert_mentions_always_explicit(SimpleNamespace(requests=[ok, forum]))
    with pytest.raises(AssertionError, match="callback"):
        assert_mentions_always_explicit(SimpleNamespace(requests=[ok, callback]))
    with pytest.raises(AssertionError, match="everyone"):
        assert_mentions_always_explicit(SimpleNamespace(requests=[parsing]))


async def test_event_handler_after_shutdown_is_not_reported_as_an_error(fake, runner, caplog):
    """An event that arrives while the bot shuts down may find the database closed: logged quietly."""
    bot = await runner.start()
    handler = bot.get_cog("ConfigCog").on_guild_available
    guild = bot.get_guild(fake.default_guild.id)
    await runner.stop()
    caplog.clear()
    caplog.set_level(logging.INFO)
    await bot._run_event(handler, "on_guild_available", guild)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("during shutdown" in r.getMessage() for r in caplog.records)
