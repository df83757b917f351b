"""Sharding against the fake Discord: servers split across shards, per-shard reconnects, Discord's limits."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.fakediscord.state import shard_of

THREE = 3


def _three_shards(fake) -> list:
    """The default server plus one server on each other shard of three; GET /gateway/bot recommends three."""
    fake.guilds_per_shard = 1
    fake.max_concurrency = THREE
    fake.identify_interval = 5.0  # Discord's rule, enforced: the bot must not identify a bucket twice in 5 s
    taken = shard_of(fake.default_guild.id, THREE)
    others = [fake.add_guild(f"Fans {n}", shard=(n, THREE)) for n in range(THREE) if n != taken]
    return [fake.default_guild, *others]


async def test_every_shard_gets_its_servers_and_commands_work_in_each(fake, runner):
    guilds = _three_shards(fake)
    bot = await runner.start(timeout=20)
    assert bot.shard_count == THREE
    sessions = fake.gateway.live_sessions
    assert sorted(s.shard for s in sessions) == [(n, THREE) for n in range(THREE)]
    for session in sessions:
        creates = [int(p["d"]["id"]) for p in session.log if p["t"] == "GUILD_CREATE"]
        assert creates == [g.id for g in guilds if shard_of(g.id, THREE) == session.shard[0]]
    assert {g.id for g in bot.guilds} == {g.id for g in guilds}
    for guild in guilds:
        ix = await fake.slash(guild, guild.member("fan1"), "help")
        assert (await ix.response()).ephemeral
        assert bot.get_guild(guild.id).shard_id == shard_of(guild.id, THREE)
    assert bot.gateway_connected


async def test_one_shard_reconnecting_leaves_the_others_and_start_up_alone(fake, runner):
    _three_shards(fake)
    bot = await runner.start(timeout=20)
    identifies, resumes, syncs = fake.gateway.identify_count, fake.gateway.resume_count, fake.sync_count
    others = {s.session_id: s.connection for s in fake.gateway.live_sessions if s.shard[0] != 1}
    posts = len(fake.requests_to("POST", "/channels/{channel_id}/messages"))

    resumed = asyncio.ensure_future(bot.wait_for("shard_resumed", check=lambda shard_id: shard_id == 1, timeout=15))
    await fake.gateway.disconnect_shard(1)
    await resumed
    assert fake.gateway.resume_count == resumes + 1 and bot.gateway_connected

    assert fake.gateway.identify_count == identifies, "a resumed shard does not identify again"
    assert {s.session_id: s.connection for s in fake.gateway.live_sessions if s.shard[0] != 1} == others
    assert fake.sync_count == syncs
    assert len(fake.requests_to("POST", "/channels/{channel_id}/messages")) == posts, "no start-up posts again"


async def test_too_many_servers_for_the_shards_set_stops_with_one_line(fake, tmp_path):
    fake.max_guilds_per_session = 1
    fake.add_guild("A second server")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CODEBLUE_"))}
    env.update(DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base, CODEBLUE_DB=str(tmp_path / "bot.db"),
               CODEBLUE_WEB_PORT="off", CODEBLUE_SHARDS="1")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    text = stderr.decode()
    assert process.returncode == 2, text
    assert "CODEBLUE_SHARDS" in text.strip().splitlines()[-1] and "Traceback" not in text


async def test_auto_sharding_identifies_within_discords_rate_limit(fake, runner):
    fake.guilds_per_shard = 1
    fake.max_concurrency = 1
    fake.identify_interval = 5.0
    taken = shard_of(fake.default_guild.id, 2)
    fake.add_guild("Fans 2", shard=(1 - taken, 2))
    bot = await runner.start(timeout=30)
    assert bot.shard_count == 2 and fake.gateway.identify_count == 2
    assert not fake.take_violations("identify_rate_limit")
