"""`codeblue run` and `codeblue sync` as real processes against the fake Discord."""

import asyncio
import os
import signal
import socket
import sqlite3
import sys

import aiohttp
import pytest

from tests.e2e.harness import free_port


def _env(fake, db_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CODEBLUE_"))}
    env.update(DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base, CODEBLUE_DB=str(db_path), **extra)
    return env


async def _start(fake, tmp_path, *args, **extra):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=tmp_path, env=_env(fake, tmp_path / "bot.db", **extra),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_connects_serves_the_web_companion_and_stops_cleanly_on_signal(fake, tmp_path, sig):
    port = free_port()
    process = await _start(fake, tmp_path, "run", CODEBLUE_WEB_PORT=str(port))
    try:
        await fake.wait_for_identify(1, timeout=30)
        await fake.wait_for_request("PUT", "/applications/{application_id}/commands", timeout=30)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["gateway"]["ok"] is True
        process.send_signal(sig)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    conn = sqlite3.connect(tmp_path / "bot.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] >= 2
        assert conn.execute("SELECT value FROM bot_state WHERE key = 'command_tree_hash:global'").fetchone()
    finally:
        conn.close()


async def test_a_busy_web_port_stops_the_bot_with_one_line(fake, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await _start(fake, tmp_path, "run", CODEBLUE_WEB_PORT=str(port))
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert "CODEBLUE_WEB_PORT" in lines[-1] and "Traceback" not in stderr.decode()


async def test_sync_command_to_one_guild(fake, tmp_path):
    guild = fake.default_guild
    process = await _start(fake, tmp_path, "sync", "--guild", str(guild.id))
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "config" in fake.commands(guild)
    assert fake.commands() == {}, "a guild sync must not touch global commands"
    assert fake.gateway.identify_count == 0, "sync needs no gateway connection"
