"""The web server's own rules, on a server with test routes: POST only where registered, no stack traces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.metrics import Metrics
from bot.web import HealthSources, WebServer
from tests.e2e.harness import free_port


async def _ok() -> bool:
    return True


@pytest.fixture
async def server() -> AsyncIterator[tuple[WebServer, str]]:
    now = datetime.now(UTC)
    health = HealthSources(database_ok=_ok, gateway=lambda: (True, 0.01), scheduler_running=lambda: True,
                           last_poll_at=lambda: None, started_at=now, clock=lambda: now, version="test")
    web_server = WebServer("127.0.0.1", free_port(), health=health, metrics=Metrics())

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    web_server.add_post("/hook", echo)
    web_server.add_get("/broken", broken)
    await web_server.start()
    try:
        yield web_server, f"http://127.0.0.1:{web_server.port}"
    finally:
        await web_server.stop()


async def test_post_only_where_registered(server):
    _, base = server
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/hook", data=b"payload") as response:
            assert response.status == 200 and await response.read() == b"payload"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        async with http.post(base + "/healthz", data=b"x") as response:
            assert response.status == 405
        async with http.get(base + "/healthz", data=b"x") as response:
            assert response.status == 413
        async with http.post(base + "/hook", data=b"x" * (64 * 1024)) as response:
            assert response.status == 413


async def test_an_unexpected_error_shows_a_reference_not_a_traceback(server, caplog):
    _, base = server
    async with aiohttp.ClientSession() as http, http.get(base + "/broken") as response:
        body = await response.text()
    assert response.status == 500
    assert body.startswith("internal error (ref ") and "secret" not in body and "Traceback" not in body
    reference = body.split("ref ")[1].rstrip(")\n")
    assert any(reference in record.getMessage() and record.exc_info for record in caplog.records)
