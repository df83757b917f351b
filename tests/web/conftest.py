"""The real bot with its web companion on a free local port, against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from multidict import CIMultiDict

from bot.client import CodeBlueBot
from tests.e2e.harness import BotRunner, free_port


@dataclass
class WebBot:
    runner: BotRunner
    bot: CodeBlueBot
    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str, **kwargs: object) -> tuple[int, CIMultiDict[str], bytes]:
        async with self.http.get(self.base + path, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, response.headers.copy(), await response.read()


@pytest.fixture
async def web(fake, tmp_path) -> AsyncIterator[WebBot]:
    port = free_port()
    runner = BotRunner(fake, tmp_path / "codeblue.db",
                       env={"CODEBLUE_WEB_PORT": str(port), "CODEBLUE_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    try:
        bot = await runner.start()
        async with aiohttp.ClientSession() as http:
            yield WebBot(runner, bot, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.stop()

