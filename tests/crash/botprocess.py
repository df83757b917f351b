"""The real bot as a subprocess (`python -m bot run`, as in production) that the crash suite kills with SIGKILL
and starts again on the same database.

Each start gets its own process group (so a kill also takes the feed-parsing workers) and its own log file; a
start returns when the bot's /healthz says the gateway is connected and the scheduler runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, fake: Any, workdir: Path, **env: str) -> None:
        self.fake = fake
        self.workdir = workdir
        self.db_path = workdir / "bot.db"
        self.extra_env = env
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.port = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CODEBLUE_"))}
        env.update(
            DISCORD_TOKEN=self.fake.token, DISCORD_API_BASE=self.fake.api_base, CODEBLUE_DB=str(self.db_path),
            CODEBLUE_ALLOW_PRIVATE_FEEDS="1", CODEBLUE_LOG_LEVEL="DEBUG", CODEBLUE_WEB_PORT=str(self.port),
            CODEBLUE_FEED_PARSE_PROCESSES="0", PYTHONPATH=str(ROOT), **self.extra_env,
        )
        return env

    async def start(self, timeout: float = 45) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        self.port = free_port()
        self.starts += 1
        log = (self.workdir / f"bot-{self.starts}.log").open("wb")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.workdir, env=self._env(), stdout=log, stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        await self._wait_healthy(timeout)

    async def _wait_healthy(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while loop.time() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        health = await response.json()
                        if health["gateway"]["ok"] and health.get("scheduler", {}).get("ok", True):
                            return
                except (aiohttp.ClientError, ValueError, KeyError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the bot was not healthy within {timeout}s:\n{self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL the bot's whole process group, wait for it, and for the fake to see the gateway closed."""
        assert self.process is not None and self.process.returncode is None
        os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        self.kills += 1
        await self.fake.wait_for_no_connection(timeout=10)

    async def restart(self) -> None:
        await self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> None:
        """A clean stop (SIGTERM) at the end of a run; killed if it does not stop in time."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def abort(self) -> None:
        """SIGKILL the bot if it still runs (a test that failed half-way leaves no process behind)."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / f"bot-{self.starts}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("bot-*.log")))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


# -- steps and readings the crash tests share (a member's view through the fake; the stored state) ----------------


async def answered(fake: Any, guild: Any, member: Any, command: str, **options: Any) -> Any:
    """Run a slash command and return what the member was shown (the followup of a deferred answer)."""
    ix = await fake.slash(guild, member, command, options=options)
    response = await ix.response(timeout=10)
    if response.type == 5:
        [followup] = await ix.followups(1, timeout=20)
        return followup
    return response.data


def party_id_of(message: dict[str, Any]) -> int:
    """The party id in a watch-party announcement's or reminder's embed footer ("... #<id> ...")."""
    return int(message["embeds"][0]["footer"]["text"].split("#")[1].split(" ")[0])


def reminder_posts(fake: Any, channel: Any) -> Counter[int]:
    """Reminder messages in the channel per party id (by the marker in their embed footer)."""
    found: Counter[int] = Counter()
    for message in fake.messages_in(channel):
        for embed in message.get("embeds") or []:
            text = (embed.get("footer") or {}).get("text") or ""
            if " reminder · r" in text:
                found[int(text.split("#")[1].split(" ")[0])] += 1
    return found


def dms_about(fake: Any, title: str) -> Counter[int]:
    """DMs whose text names this party, per recipient."""
    found: Counter[int] = Counter()
    for user_id, channel in fake.dm_channels.items():
        found[user_id] += sum(1 for m in fake.messages_in(channel) if title in (m.get("content") or ""))
    return found


async def kill_mid_click(bot: BotProcess, ix: Any, rng: Any) -> bool:
    """Kill the bot a few milliseconds into a click's handling; whether the member saw the click acknowledged."""
    await asyncio.sleep(rng.uniform(0.0, 0.05))
    await bot.kill()
    try:
        response = await ix.response(timeout=0.5)
    except (TimeoutError, AssertionError):
        return False
    return response.type == 6


def nth_post_to(channel: Any, n: int) -> Callable[[Any], bool]:
    """A predicate for the fake's `hold`: the `n`-th message posted to `channel` (counted from now)."""
    sent = 0

    def nth(request: Any) -> bool:
        nonlocal sent
        if request.params["channel_id"] != str(channel.id):
            return False
        sent += 1
        return sent == n
    return nth


def figures(capsys: Any, line: str) -> None:
    """Show a test's figures in the pytest output (even when it passes)."""
    with capsys.disabled():
        sys.stdout.write(line + "\n")


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (a reading of the database or the fake) until it holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
