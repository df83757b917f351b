"""Waiting for "the moment it would have happened", for tests that assert something did NOT happen.

A fixed sleep before such an assertion is a guess: on a loaded machine the job that would have misbehaved may not
have run yet, and the test passes for the wrong reason (or a positive wait elsewhere times out). Instead wait
until the bot's scheduler has caught up: `moment` has passed, every job due by then has been submitted (no job
is left with an earlier next run time) and none is still running. Whatever was to happen by `moment` has then had
its chance; the caller asserts on what the fake Discord saw.

`until` is the positive wait: for something that must come (a state the bot reaches by itself), polling.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

POLL_SECONDS = 0.01


async def scheduler_caught_up(bot, moment: datetime | None = None, *, timeout: float = 15) -> None:
    """Return once `moment` (default: now) has passed and every job due by then has run to its end."""
    moment = moment or datetime.now(UTC)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout + max(0.0, (moment - datetime.now(UTC)).total_seconds())
    while True:
        now = datetime.now(UTC)
        due = [job.id for job in bot.scheduler.get_jobs()
               if job.next_run_time is not None and job.next_run_time <= moment]
        if now >= moment and not due and bot.running_jobs.count == 0:
            return
        if loop.time() > deadline:
            raise AssertionError(f"the scheduler did not catch up with {moment}: due {due}, "
                                 f"{bot.running_jobs.count} running")
        await asyncio.sleep(POLL_SECONDS)


def pending_jobs(bot, prefix: str) -> list[str]:
    """Ids of scheduled jobs starting with `prefix` (none: nothing more of that kind can happen by itself)."""
    return [job.id for job in bot.scheduler.get_jobs() if job.id.startswith(prefix)]


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 5) -> None:
    """Return once `condition()` (a plain or an async function) holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {getattr(condition, '__qualname__', condition)}")
        await asyncio.sleep(POLL_SECONDS)
