"""The web companion's aiohttp application and its lifecycle inside the bot process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.metrics import CONTENT_TYPE, Metrics
from bot.web.health import HealthSources, health_handler
from bot.web.security import RateLimiter, middlewares

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 16 * 1024
Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


class WebServer:
    """The companion's routes (more may be added until it starts, e.g. by cogs in `cog_load`), then serving."""

    def __init__(self, host: str, port: int, *, health: HealthSources, metrics: Metrics,
                 limiter: RateLimiter | None = None, routes: list[Route] | None = None) -> None:
        self.host = host
        self.requested_port = port
        self._post_resources: set[web.AbstractResource] = set()
        self.app = web.Application(middlewares=middlewares(limiter or RateLimiter(), self._accepts_post),
                                   client_max_size=MAX_REQUEST_BYTES)
        self.app.router.add_get("/healthz", health_handler(health))
        self.app.router.add_get("/metrics", self._metrics_handler(metrics))
        for path, handler in routes or ():
            self.add_get(path, handler)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def add_get(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.app.router.add_get(path, handler)

    def add_post(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        """A route that accepts POST (with a body): its handler must authenticate what it receives."""
        route = self.app.router.add_post(path, handler)
        if route.resource is not None:
            self._post_resources.add(route.resource)

    def _accepts_post(self, request: web.Request) -> bool:
        return request.match_info.route.resource in self._post_resources

    @staticmethod
    def _metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_request: web.Request) -> web.Response:
            response = web.Response(body=metrics.render(), headers={"Cache-Control": "no-store"})
            response.headers["Content-Type"] = CONTENT_TYPE
            return response

        return handler

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.requested_port
        log.info("web companion listening on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
