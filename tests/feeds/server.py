"""A local feed HTTP server for tests: routes held in memory and changeable while the server runs.

Usage::

    server = FeedServer(); await server.start()
    server.serve("/news.xml", rss2("News", items))            # ETag + Last-Modified, 304 on match
    server.serve_items("/live.xml", items); server.add_item("/live.xml", item)   # a feed that grows
    server.redirect("/old", "/news.xml"); server.slow("/slow", body, delay=2)
    server.oversize("/big", size=6_000_000); server.request_count("/news.xml")
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import abc, web

from tests.feeds.builders import BASE_TIME, Item, atom, google_news, rss1, rss2

RSS_TYPE = "application/rss+xml; charset=utf-8"
_RENDERERS: dict[str, Callable[[str, list[Item]], bytes]] = {
    "rss2": rss2,
    "atom": atom,
    "rss1": rss1,
    "google_news": google_news,
}


@dataclass
class Route:
    body: bytes = b""
    content_type: str | None = RSS_TYPE
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True
    gzip: bool = False
    delay: float = 0.0  # before the headers
    trickle_delay: float = 0.0  # between body chunks
    stream_size: int = 0  # > 0: stream this many bytes without Content-Length
    etag: str | None = None
    last_modified: datetime | None = None


@dataclass
class LiveFeed:
    kind: str
    title: str
    items: list[Item]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.live_feeds: dict[str, LiveFeed] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.not_modified: Counter[str] = Counter()  # 304 answers per path
        self.failing: dict[str, int] = {}  # path -> HTTP status answered instead of the route (see fail())
        self._counts: Counter[str] = Counter()
        self._clock = BASE_TIME
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    # --- routes ------------------------------------------------------------------------------------------------
    def serve(self, path: str, body: bytes | str, *, content_type: str | None = RSS_TYPE, **options) -> Route:
        """Serve ``body`` at ``path``; replacing a body gives it a new ETag and a later Last-Modified."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._clock += timedelta(minutes=1)
        route = Route(body=data, content_type=content_type, **options)
        route.etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        route.last_modified = self._clock
        self.routes[path] = route
        return route

    def serve_items(self, path: str, items: list[Item], *, kind: str = "rss2", title: str = "Live feed") -> Route:
        """A feed whose items can be added later with add_item; items are listed newest first."""
        self.live_feeds[path] = LiveFeed(kind, title, list(items))
        return self._render(path)

    def add_item(self, path: str, item: Item) -> Route:
        self.live_feeds[path].items.insert(0, item)
        return self._render(path)

    def _render(self, path: str) -> Route:
        live = self.live_feeds[path]
        return self.serve(path, _RENDERERS[live.kind](live.title, live.items))

    def redirect(self, path: str, location: str, *, status: int = 302) -> Route:
        return self.serve(path, b"", content_type=None, status=status, headers={"Location": location})

    def redirect_chain(self, prefix: str, hops: int, final: str) -> str:
        """``prefix``/0 -> ``prefix``/1 -> ... -> final; returns the first path."""
        for hop in range(hops):
            target = f"{prefix}/{hop + 1}" if hop + 1 < hops else final
            self.redirect(f"{prefix}/{hop}", target)
        return f"{prefix}/0"

    def slow(self, path: str, body: bytes, *, delay: float) -> Route:
        return self.serve(path, body, delay=delay)

    def oversize(self, path: str, *, size: int, declare_length: bool = False) -> Route:
        """``size`` bytes of a never-ending-looking feed; streamed without Content-Length unless declare_length."""
        if declare_length:
            return self.serve(path, b"<rss>" + b" " * size)
        return self.serve(path, b"", stream_size=size)

    def fail(self, path: str, status: int = 503) -> None:
        """Answer ``status`` at ``path`` until ``recover(path)``; the route (and a live feed) is kept."""
        self.failing[path] = status

    def recover(self, path: str) -> None:
        self.failing.pop(path, None)

    def request_count(self, path: str) -> int:
        return self._counts[path]

    def request_counts(self) -> Counter[str]:
        """Requests per path so far (a copy)."""
        return Counter(self._counts)

    # --- handler -----------------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self._counts[path] += 1
        self.requests.append((path, dict(request.headers)))
        if path in self.failing:
            return web.Response(status=self.failing[path], text="failing on purpose")
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.status != 200:
            return web.Response(status=route.status, headers=route.headers, body=route.body or None)
        headers = dict(route.headers)
        if route.conditional and route.etag and route.last_modified:
            headers["ETag"] = route.etag
            headers["Last-Modified"] = format_datetime(route.last_modified, usegmt=True)
            if self._not_modified(request, route):
                self.not_modified[path] += 1
                return web.Response(status=304, headers=headers)
        if route.content_type:
            headers["Content-Type"] = route.content_type
        if route.stream_size:
            return await self._stream(request, route, headers)
        body = route.body
        if route.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if route.trickle_delay:
            return await self._trickle(request, body, headers, route.trickle_delay)
        return web.Response(status=200, body=body, headers=headers)

    @staticmethod
    def _not_modified(request: web.Request, route: Route) -> bool:
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            return route.etag in [tag.strip() for tag in if_none_match.split(",")]
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_modified_since and route.last_modified:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            return since.tzinfo is not None and route.last_modified <= since
        return False

    @staticmethod
    async def _stream(request: web.Request, route: Route, headers: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"<!-- padding -->" * 4096
        sent = 0
        try:
            while sent < route.stream_size:
                piece = chunk[: route.stream_size - sent]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client gave up, as it should
        return response

    @staticmethod
    async def _trickle(request: web.Request, body: bytes, headers: dict[str, str], delay: float) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(body), 256):
                await response.write(body[start : start + 256])
                await asyncio.sleep(delay)
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return response


class LoopbackResolver(abc.AbstractResolver):
    """aiohttp resolver that sends every host name to 127.0.0.1, so tests can use names like feeds.test."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def static_resolver(table: dict[str, list[str]]):
    """A FeedFetcher resolver answering from ``table`` (host -> addresses); unknown hosts fail like DNS would."""

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return table[host]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown host {host}") from None

    return resolve


class RebindingDns:
    """Simulated DNS rebinding on a running event loop: ``host`` resolves to ``first`` (a public address) on the
    first lookup and to ``then`` (loopback: the feed server) on every later one. Other names resolve normally.

    It replaces ``loop.getaddrinfo``, which both the fetcher's own check (``system_resolver``) and aiohttp's
    default resolver call, so nothing in the code under test is swapped out. Use ``install(monkeypatch)``.
    """

    def __init__(self, host: str = "rebind.test", *, first: str = "93.184.216.34", then: str = "127.0.0.1") -> None:
        self.host = host
        self.first = first
        self.then = then
        self.lookups = 0
        self._real: Callable | None = None

    def install(self, monkeypatch) -> RebindingDns:
        loop = asyncio.get_running_loop()
        self._real = loop.getaddrinfo
        monkeypatch.setattr(loop, "getaddrinfo", self.getaddrinfo)
        return self

    async def getaddrinfo(self, host, port, *args, **kwargs):
        if host != self.host:
            assert self._real is not None
            return await self._real(host, port, *args, **kwargs)
        self.lookups += 1
        address = self.first if self.lookups == 1 else self.then
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]
