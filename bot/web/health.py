"""`/healthz`: is this bot process doing its job? JSON for probes and people; 503 when any check fails.

Checks: the database answers, the gateway is connected (and its heartbeat latency), the scheduler runs, the last
completed feed poll is recent (none yet is fine right after start-up, for `poll_grace`), and the version.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

DATABASE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class HealthSources:
    database_ok: Callable[[], Awaitable[bool]]
    gateway: Callable[[], tuple[bool, float]]  # connected, heartbeat latency in seconds (inf: unknown)
    scheduler_running: Callable[[], bool]
    last_poll_at: Callable[[], datetime | None]
    started_at: datetime
    clock: Callable[[], datetime]
    version: str
    poll_stale_after: timedelta = timedelta(minutes=5)


async def health_report(sources: HealthSources) -> tuple[bool, dict[str, Any]]:
    try:
        database = await asyncio.wait_for(sources.database_ok(), DATABASE_TIMEOUT_SECONDS)
    except Exception:
        database = False
    connected, latency = sources.gateway()
    scheduler = sources.scheduler_running()
    now = sources.clock()
    last_poll = sources.last_poll_at()
    since = last_poll or sources.started_at
    poll_ok = now - since <= sources.poll_stale_after
    report: dict[str, Any] = {
        "status": "ok",
        "version": sources.version,
        "database": {"ok": database},
        "gateway": {"ok": connected, "latency_ms": round(latency * 1000, 1) if math.isfinite(latency) else None},
        "scheduler": {"ok": scheduler},
        "news_poll": {
            "ok": poll_ok,
            "last_completed_at": last_poll.isoformat() if last_poll else None,
            "age_seconds": round((now - last_poll).total_seconds(), 1) if last_poll else None,
        },
    }
    healthy = database and connected and scheduler and poll_ok
    if not healthy:
        report["status"] = "unhealthy"
    return healthy, report


def health_handler(sources: HealthSources) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(_request: web.Request) -> web.Response:
        healthy, report = await health_report(sources)
        return web.json_response(report, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})

    return healthz
