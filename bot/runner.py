"""Running the bot until asked to stop: shared by `codeblue run` and the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.client import CodeBlueBot
from bot.config import Settings
from bot.services.feed_fetch import GuardedResolver

log = logging.getLogger(__name__)
USER_AGENT = "CodeBlue (https://github.com/codeblue-bot/codeblue, 0.1) discord-fan-bot"


def new_http_session(
    settings: Settings | None = None, *, resolver: aiohttp.abc.AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The one HTTP session for feeds and other outside calls (discord.py keeps its own).

    Unless the settings allow private feeds, the connector resolves names through `GuardedResolver`, so the
    address aiohttp connects to is checked too, not only the one the fetcher looked up before (DNS rebinding).
    Without settings the guarded (safe) session is built. `resolver`: the name lookup to guard (tests).
    """
    allow_private = settings is not None and settings.allow_private_feeds
    if allow_private:
        connector = aiohttp.TCPConnector(resolver=resolver) if resolver is not None else aiohttp.TCPConnector()
    else:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(resolver))
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        timeout=aiohttp.ClientTimeout(total=30, connect=10),
    )


async def run_bot(
    settings: Settings,
    *,
    stop: asyncio.Event,
    on_created: Callable[[CodeBlueBot], None] | None = None,
    **bot_options: Any,
) -> None:
    """Run until `stop` is set or the connection ends for good; errors from start-up propagate."""
    async with new_http_session(settings) as session:
        bot = CodeBlueBot(settings, session=session, **bot_options)
        if on_created is not None:
            on_created(bot)
        async with bot:
            runner = asyncio.create_task(bot.start(settings.token or ""), name="codeblue-bot")
            stopper = asyncio.create_task(stop.wait(), name="codeblue-stop")
            try:
                await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                if not runner.done():
                    log.info("stopping")
                    await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopper
            await runner
