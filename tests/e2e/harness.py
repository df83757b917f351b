"""Runs the real bot (the same `run_bot` that `codeblue run` uses) against the fake Discord.

`BotRunner.start()` returns when the bot is READY; `restart()` stops it and starts a new process-like
instance on the same database, for "survives a restart" tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import discord

from bot.client import CodeBlueBot
from bot.config import parse_settings
from bot.runner import run_bot

# Shaped like a real bot token (three dot-separated parts), since the bot checks its shape.
TEST_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GfAkEd.fake-discord-token-for-tests-only-xyz"


def free_port() -> int:
    """A local TCP port nothing listens on right now (for the web companion under test)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotRunner:
    def __init__(self, fake: Any, db_path: Path, *, clock: Callable[[], datetime] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.fake = fake
        self.db_path = db_path
        self.clock = clock
        self.env = env or {}
        self.bot: CodeBlueBot | None = None
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self.starts = 0

    def settings(self):
        env = {
            "DISCORD_TOKEN": self.fake.token,
            "CODEBLUE_DB": str(self.db_path),
            "DISCORD_API_BASE": self.fake.api_base,
            "CODEBLUE_ALLOW_PRIVATE_FEEDS": "1",
            "CODEBLUE_LOG_LEVEL": "DEBUG",
            "CODEBLUE_WEB_PORT": "off",  # tests that use the web companion give it a free port
            **self.env,
        }
        return parse_settings(env)

    async def start(self, timeout: float = 10) -> CodeBlueBot:
        created: asyncio.Future[CodeBlueBot] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        options: dict[str, Any] = {"guild_ready_timeout": 0.1}
        if self.clock is not None:
            options["clock"] = self.clock
        self._task = asyncio.create_task(
            run_bot(self.settings(), stop=self._stop, on_created=created.set_result, **options), name="bot-under-test"
        )
        bot = await asyncio.wait_for(asyncio.shield(created), timeout)
        waiter = asyncio.ensure_future(bot.wait_until_ready())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raises the start-up error
            raise AssertionError("the bot stopped during start-up")
        if waiter not in done:
            waiter.cancel()
            raise AssertionError(f"the bot was not READY within {timeout}s")
        self.bot = bot
        self.starts += 1
        return bot

    async def stop(self) -> None:
        if self._task is None:
            return
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, 10)
        finally:
            self._task = None
            self.bot = None

    async def restart(self) -> CodeBlueBot:
        await self.stop()
        return await self.start()

    async def kill(self) -> None:
        """Stop without the clean shutdown path (a crash): cancel the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
                await self._task
            self._task = None
            self.bot = None
