"""Many servers at once (the scale benchmark's findings, kept): start-up creates server settings in batches and
welcomes only servers that added the bot while it was offline; channels are found by id in O(1) across servers and
stay right as they are created and deleted; servers are moved out of the garbage collector's reach."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket

import discord
import pytest

from bot.client import GATEWAY_RECEIVE_BUFFER
from tests.fakediscord.state import ChannelType

SERVERS = 300
POST_MESSAGE = ("POST", "/channels/{channel_id}/messages")


async def test_a_start_with_many_servers_creates_their_settings_in_batches_and_welcomes_only_new_ones(fake, runner):
    fake.guilds_per_shard = 100  # 3 shards
    fake.max_concurrency = 3
    for n in range(SERVERS - 1):
        fake.add_guild(f"Fans {n}", default_layout=False)
    bot = await runner.start(timeout=30)
    assert bot.shard_count == 3 and len(bot.guilds) == SERVERS

    async def settled() -> dict:  # the last arrivals' batch may still be writing when READY comes
        while True:
            row = await bot.db.fetch_one(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT created_at) AS batches FROM guild_settings")
            if row["n"] >= SERVERS:
                return row
            await asyncio.sleep(0.05)

    stamps = await asyncio.wait_for(settled(), 10)
    assert stamps["n"] == SERVERS
    assert stamps["batches"] <= 10, "servers arriving together get their settings in one transaction"
    assert fake.requests_to(*POST_MESSAGE) == [], "a first start (no last-online moment) welcomes nobody"

    await runner.stop()
    newcomer = fake.add_guild("Joined While Offline", default_layout=False)
    mark = fake.mark()
    bot = await runner.start(timeout=30)
    welcome = await fake.wait_for_request(*POST_MESSAGE, since=mark)
    assert welcome.params["channel_id"] == str(newcomer.channel("general").id)
    assert welcome.json["allowed_mentions"] == {"parse": []}

    async def guide_recorded() -> None:  # written once Discord's answer reaches the bot, after the fake logged it
        while (await bot.settings_service.get(newcomer.id)).guide_posted_at is None:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(guide_recorded(), 10)
    await runner.restart()
    assert [r.params["channel_id"] for r in fake.requests_to(*POST_MESSAGE, since=mark)] == [
        str(newcomer.channel("general").id)], "one guide, to the newcomer only, and not again after a restart"


async def test_channels_are_found_by_id_across_servers_and_after_changes(fake, runner):
    guilds = [fake.default_guild] + [fake.add_guild(f"Fans {n}") for n in range(20)]
    bot = await runner.start()
    for guild in guilds:
        for name in ("news", "episode-discussion", "Watch Party VC"):
            channel = guild.channel(name)
            found = bot.get_channel(channel.id)
            assert found is not None and found.guild.id == guild.id and found.name == name
    assert bot.get_channel(123) is None

    last = guilds[-1]
    created = asyncio.ensure_future(bot.wait_for("guild_channel_create", timeout=5))
    new = fake.add_channel(last, "spoilers", ChannelType.GUILD_TEXT)
    await created
    assert bot.get_channel(new.id).guild.id == last.id

    news = last.channel("news")
    deleted = asyncio.ensure_future(bot.wait_for("guild_channel_delete", timeout=5))
    fake.delete_channel(news)
    await deleted
    assert bot.get_channel(news.id) is None

    gone = asyncio.ensure_future(bot.wait_for("guild_remove", timeout=5))
    fake.remove_guild(guilds[1])
    await gone
    assert bot.get_channel(guilds[1].channel("news").id) is None


async def test_garbage_collection_pauses_until_ready_and_leaves_the_servers_alone_after(fake, runner):
    gc.unfreeze()
    await runner.start()
    assert gc.isenabled(), "collection resumes at READY"
    assert gc.get_freeze_count() > 0, "what start-up built is out of the collector's reach"
    gc.unfreeze()


async def test_a_start_that_fails_leaves_garbage_collection_on(fake, runner):
    fake.max_guilds_per_session = 0  # Discord closes the session: sharding required, the bot stops
    runner.env = {"CODEBLUE_SHARDS": "1"}
    with pytest.raises(discord.ConnectionClosed):
        await runner.start()
    assert gc.isenabled()
    with contextlib.suppress(discord.ConnectionClosed):  # the runner still holds the failed run
        await runner.stop()


async def test_every_shard_reads_the_gateway_through_a_small_receive_buffer(fake, runner):
    """discord.py parses every gateway frame already read in one event-loop step: the socket's small receive
    buffer caps how many GUILD_CREATEs one read can bring (docs/SCALING.md), on every shard."""
    fake.guilds_per_shard = 1
    fake.add_guild("Second")
    bot = await runner.start()
    assert bot.shard_count == 2
    for shard_id in range(2):
        websocket = bot.get_shard(shard_id)._parent.ws.socket
        sock = websocket.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * GATEWAY_RECEIVE_BUFFER  # Linux doubles
    assert len(bot.get_guild(fake.default_guild.id).channels) > 0, "and the servers arrived whole"
