"""What every response of the web companion gets, as aiohttp middlewares.

- Only GET and HEAD (anything else: 405): the companion shows, it never changes anything. The one exception is
  a POST route registered on purpose (`WebServer.add_post`, e.g. a WebSub hub's deliveries), which verifies its
  own senders and may carry a body up to the server's size limit.
- A per-address rate limit (token bucket; 429 with Retry-After). Behind a reverse proxy every request comes from the
  proxy, so `X-Forwarded-For` is honoured, but only when the peer is a loopback address (a proxy on the same host).
- Security headers on every answer: a strict Content-Security-Policy, nosniff, no referrer, no framing.
- No stack trace ever leaves the process: an unexpected error is logged with a reference and answered with a
  plain 500 that shows only the reference.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ALLOWED_METHODS = frozenset({"GET", "HEAD"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
MAX_TRACKED_ADDRESSES = 10_000


class RateLimiter:
    """A token bucket per client address: `burst` requests at once, refilled at `per_second`."""

    def __init__(self, burst: int = 60, per_second: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, address: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = self.clock()
        tokens, last = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.per_second
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > MAX_TRACKED_ADDRESSES:
            self._buckets.popitem(last=False)  # the least recently seen address
        return wait


def client_address(request: web.Request) -> str:
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and _is_loopback(peer):
        return forwarded.split(",")[-1].strip() or peer
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def plain(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8", headers=headers)


def middlewares(limiter: RateLimiter, post_paths: Callable[[web.Request], bool]) -> list[Middleware]:
    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await _answer(request, handler)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        posting = request.method == "POST" and post_paths(request)
        if request.method not in ALLOWED_METHODS and not posting:
            return plain(405, "method not allowed", Allow="GET, HEAD")
        if not posting and (request.content_length or request.body_exists):
            return plain(413, "requests carry no body here")
        wait = limiter.allow(client_address(request))
        if wait:
            return plain(429, "too many requests", **{"Retry-After": str(max(1, round(wait)))})
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return plain(exc.status, exc.reason.lower())
            raise
        except Exception:
            reference = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
            log.exception("web request %s %s failed [ref %s]", request.method, request.path, reference)
            return plain(500, f"internal error (ref {reference})")

    return [headers]
