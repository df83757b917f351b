"""A small local WebSub hub for tests (aiohttp): takes subscribe/unsubscribe requests, verifies intent with a GET
to the subscriber's callback, and publishes content to verified subscribers with a signed POST.

Usage::

    hub = LocalHub(lease_seconds=3600); await hub.start()
    feed_server.serve("/feed", with_hub(rss2("Feed", items), hub.url, topic))    # the feed advertises the hub
    await hub.wait_for_subscriber(topic)                                        # after the bot's first poll
    statuses = await hub.publish(topic, body)                                   # signed with each hub.secret
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class HubSubscriber:
    topic: str
    callback: str
    secret: str | None
    lease_seconds: int


@dataclass
class HubRequest:
    """One subscribe/unsubscribe request as the hub received it, and how its verification went."""

    form: dict[str, str]
    verified: bool | None = None  # None: not verified yet
    answer: tuple[int, str] | None = None


@dataclass
class LocalHub:
    lease_seconds: int = 3600
    verify_intent: bool = True  # False: requests are accepted (202) but never verified (a stuck hub)
    subscribers: dict[tuple[str, str], HubSubscriber] = field(default_factory=dict)
    requests: list[HubRequest] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub"

    async def _handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("hub.mode") not in ("subscribe", "unsubscribe") or not form.get("hub.callback") \
                or not form.get("hub.topic"):
            return web.Response(status=400, text="bad request")
        record = HubRequest(form)
        self.requests.append(record)
        if not self.verify_intent:
            return web.Response(status=202)
        task = asyncio.create_task(self._verify(record))  # verification of intent happens after the 202
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _verify(self, record: HubRequest) -> None:
        assert self._http is not None
        form = record.form
        challenge = secrets.token_hex(8)
        params = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"], "hub.challenge": challenge}
        if form["hub.mode"] == "subscribe":
            params["hub.lease_seconds"] = str(self.lease_seconds)
        async with self._http.get(form["hub.callback"], params=params) as response:
            body = await response.text()
            record.answer = (response.status, body)
        record.verified = response.status == 200 and body == challenge
        key = (form["hub.topic"], form["hub.callback"])
        if record.verified and form["hub.mode"] == "subscribe":
            self.subscribers[key] = HubSubscriber(form["hub.topic"], form["hub.callback"], form.get("hub.secret"),
                                                  self.lease_seconds)
        elif record.verified:
            self.subscribers.pop(key, None)
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate, timeout: float = 5.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(wait(), timeout)

    def verified(self, mode: str, topic: str) -> list[HubRequest]:
        return [r for r in self.requests if r.verified and r.form["hub.mode"] == mode and r.form["hub.topic"] == topic]

    async def publish(self, topic: str, body: bytes, *, content_type: str = "application/rss+xml",
                      sign_with: str | None = None, header: str = "X-Hub-Signature-256",
                      algorithm: str = "sha256", signature: str | None = None) -> list[int]:
        """POST `body` to every verified subscriber of `topic`, signed with its secret (or `sign_with`, or the
        literal `signature`); the HTTP statuses they answered."""
        assert self._http is not None
        statuses = []
        for subscriber in [s for s in self.subscribers.values() if s.topic == topic]:
            headers = {"Content-Type": content_type,
                       "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}
            secret = sign_with if sign_with is not None else subscriber.secret
            if signature is not None:
                headers[header] = signature
            elif secret is not None:
                digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
                headers[header] = f"{algorithm}={digest}"
            async with self._http.post(subscriber.callback, data=body, headers=headers) as response:
                statuses.append(response.status)
        return statuses


def with_hub(feed: bytes, hub: str, topic: str) -> bytes:
    """RSS 2.0 bytes (tests.feeds.builders.rss2) that advertise a WebSub hub and their own URL (atom:link)."""
    links = (f'<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" href="{hub}"/>'
             f'<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="self" href="{topic}"/>\n')
    return feed.replace(b"<channel>\n", b"<channel>\n" + links.encode(), 1)
