"""The WebSub callback on the web companion: `GET /websub/<token>` (the hub's verification of intent) and
`POST /websub/<token>` (pushed content, authenticated by its HMAC signature in the news service)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine

from aiohttp import web

from bot.services.news import NewsService

WEBSUB_PATH = "/websub/{token}"


class WebSubRoutes:
    def __init__(self, service: NewsService,
                 background: Callable[[Coroutine[object, None, object]], None]) -> None:
        self.service = service
        self.background = background

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        challenge = await self.service.websub.verify(
            request.match_info["token"], query.get("hub.mode", ""), query.get("hub.topic", ""),
            query.get("hub.challenge", ""), query.get("hub.lease_seconds"))
        if challenge is None:
            return web.Response(status=404, text="unknown subscription")
        return web.Response(status=200, text=challenge, content_type="text/plain")

    async def push(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: request.headers[name] for name in ("X-Hub-Signature-256", "X-Hub-Signature")
                   if name in request.headers}
        outcome = await self.service.websub.push(request.match_info["token"], body,
                                                 request.headers.get("Content-Type"), headers)
        if outcome.ingested:
            self.background(self.service.after_push())
        return web.Response(status=outcome.status)
