"""One way to wait in the fake: re-check a condition each time an `asyncio.Event` fires, with a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(event: asyncio.Event, check: Callable[[], T | None], timeout: float) -> T:
    """Return the first truthy `check()`, re-checked whenever `event` is set; TimeoutError after `timeout`."""

    async def loop() -> T:
        while not (result := check()):
            event.clear()
            await event.wait()
        return result

    return await asyncio.wait_for(loop(), timeout)
