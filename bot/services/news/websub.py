"""WebSub push: subscribing to the hub a feed advertises, verifying intent, authenticating and ingesting pushes,
renewing leases and unsubscribing.

- Discovery: after each poll (`fetched`), a hub advertised in the feed (`<link rel="hub">`, also as `atom:link`)
  or in a `Link` header, with the topic from `rel="self"` (else the feed URL). Only when the web companion has a
  public URL (the hub must reach `<public url>/websub/<token>`).
- Subscribe: the row (token, fresh `hub.secret`, state `subscribing`) is written before the request, so the hub's
  verification GET, which may come before its answer, finds it. The GET is answered with the challenge only for the
  token's topic and a mode the bot asked for; the lease then starts. Renewal re-subscribes (same callback and
  secret) RENEW_BEFORE the lease ends; a request the hub never verified is sent again after RETRY_AFTER.
- Push: the body's HMAC (X-Hub-Signature-256, or X-Hub-Signature with sha256/384/512) with the subscription's
  secret is compared in constant time; anything else is refused and nothing is read from it. An authentic push is
  ingested exactly like a polled fetch (same feed lock, matching, dedupe, delivery rows: `news_seen_entries` and
  the deliveries' UNIQUE (guild, dedupe key) make a story pushed and then polled, or pushed twice, post once).
- Pushed feeds are still polled, at SAFETY_FACTOR x the interval.
- Unsubscribe: when no server follows the feed actively any more (removed or all paused).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape

import aiohttp

from bot.domain.feed_entries import ParsedFeed
from bot.services.feed_fetch import FeedUrlError, FetchResult, validate_feed_url
from bot.services.news.corrections import Corrections
from bot.services.news.ingest import Ingester
from bot.services.news.parsing import FeedParser, FeedProblem
from bot.services.news.schedule import FeedLocks, PollSchedule
from db.news import FeedRecord, NewsRepository
from db.news_features import WebSubRecord

log = logging.getLogger(__name__)

LEASE_SECONDS = 7 * 24 * 3600  # asked for; the hub decides
RENEW_BEFORE = 3600  # seconds before the lease ends (at most a tenth of the lease)
RETRY_AFTER = 3600  # a request the hub did not verify is sent again after this
SAFETY_FACTOR = 6  # pushed feeds are polled this many times less often
HUB_TIMEOUT = aiohttp.ClientTimeout(total=15)
SIGNATURE_ALGORITHMS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
MAX_LEASE = 365 * 24 * 3600
HEAD_BYTES = 65_536  # of a feed body searched for <link rel="hub">

_LINK_TAG = re.compile(rb"<(?:[a-z0-9]+:)?link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-z:-]+)\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE)
_HEADER_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[a-z]+\s*=\s*(?:\"[^\"]*\"|[^;,]*)\s*)*)", re.IGNORECASE)


def discover(body: bytes | None, link_header: str | None) -> tuple[str | None, str | None]:
    """(hub, self) advertised by a feed's Link header or its <link rel="hub"/"self"> elements."""
    found: dict[str, str] = {}
    for match in _HEADER_LINK.finditer(link_header or ""):
        url, params = match.group(1).strip(), match.group(2)
        rel = re.search(r"rel\s*=\s*\"?([^\";,]*)", params, re.IGNORECASE)
        for name in (rel.group(1).lower().split() if rel else []):
            found.setdefault(name, url)
    head = (body or b"")[:HEAD_BYTES]
    for marker in (b"<item", b"<entry"):  # hub links come before the entries: read only the feed's head
        position = head.find(marker)
        if position >= 0:
            head = head[:position]
    for tag in _LINK_TAG.findall(head):
        attrs = {k.lower().decode(): unescape(v[1:-1].decode("utf-8", "replace")) for k, v in _ATTR.findall(tag)}
        href = attrs.get("href", "").strip()
        for name in attrs.get("rel", "").lower().split():
            if href and name in ("hub", "self"):
                found.setdefault(name, href)
    return found.get("hub"), found.get("self")


def signature_valid(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """The push's HMAC signature (X-Hub-Signature-256, else X-Hub-Signature) matches, compared in constant time."""
    for header in ("X-Hub-Signature-256", "X-Hub-Signature"):
        value = headers.get(header) or headers.get(header.lower())
        if not value:
            continue
        method, _, digest = value.strip().partition("=")
        algorithm = SIGNATURE_ALGORITHMS.get(method.strip().lower())
        if algorithm is None or not digest:
            return False
        expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
        return hmac.compare_digest(expected, digest.strip().lower())
    return False


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What the callback answers: `status` (HTTP) and whether stories may wait to be posted (`ingested`)."""

    status: int
    ingested: bool = False


class WebSub:
    def __init__(self, repo: NewsRepository, session: aiohttp.ClientSession | None, schedule: PollSchedule,
                 locks: FeedLocks, parser: FeedParser, ingester: Ingester, corrections: Corrections, *,
                 public_url: str | None, allow_private: bool = False) -> None:
        self.repo = repo
        self.session = session
        self.schedule = schedule
        self.locks = locks
        self.parser = parser
        self.ingester = ingester
        self.corrections = corrections
        self.public_url = public_url.rstrip("/") if public_url else None
        self.allow_private = allow_private

    @property
    def enabled(self) -> bool:
        return self.public_url is not None and self.session is not None

    def callback(self, token: str) -> str:
        return f"{self.public_url}/websub/{token}"

    def safety_interval(self) -> int:
        return int(self.schedule.interval.total_seconds()) * SAFETY_FACTOR

    # -- after a poll -------------------------------------------------------------------------------------------
    async def fetched(self, feed: FeedRecord, parsed: ParsedFeed, result: FetchResult, now: int) -> None:
        """A full fetch: subscribe to the hub it advertises (a new or changed one); a pushed feed keeps the
        safety-net interval."""
        if not self.enabled:
            return
        record = await self.repo.get_websub(feed.id)
        hub, topic = discover(result.body, result.link_header)
        topic = topic or feed.url
        changed = record is None or record.state == "unsubscribing" or (record.hub, record.topic) != (hub, topic)
        if hub and changed:
            await self.subscribe(feed.id, topic, hub, now)
            record = await self.repo.get_websub(feed.id)
        if record is not None and record.state == "active":
            await self.repo.postpone_poll(feed.id, now + self.safety_interval())

    async def unchanged(self, feeds: Sequence[FeedRecord], now: int) -> None:
        """A poll's unchanged feeds (304s, same bodies): the pushed ones keep the safety-net interval. One read and
        one write for all of them, not one per feed (an all-304 cycle stays a few percent of a full poll)."""
        if not self.enabled or not feeds:
            return
        active = await self.repo.active_websub_feeds([feed.id for feed in feeds])
        await self.repo.postpone_polls(sorted(active), now + self.safety_interval())

    # -- requests to the hub ------------------------------------------------------------------------------------
    async def subscribe(self, feed_id: int, topic: str, hub: str, now: int, *,
                        renew: WebSubRecord | None = None) -> bool:
        try:
            validate_feed_url(hub, allow_private=self.allow_private)
        except FeedUrlError as exc:
            log.info("feed %s advertises hub %r, which is not used: %s", feed_id, hub[:200], exc)
            return False
        token = renew.callback_token if renew else secrets.token_urlsafe(24)
        secret = renew.secret if renew else secrets.token_hex(32)
        state = renew.state if renew else "subscribing"
        await self.repo.save_websub(WebSubRecord(feed_id, topic, hub, token, secret, state,
                                                 renew.lease_expires_at if renew else None, now, None))
        return await self._request(hub, {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback":
                                         self.callback(token), "hub.secret": secret,
                                         "hub.lease_seconds": str(LEASE_SECONDS)})

    async def unsubscribe(self, record: WebSubRecord, now: int) -> bool:
        await self.repo.set_websub_state(record.feed_id, "unsubscribing", now)
        return await self._request(record.hub, {"hub.mode": "unsubscribe", "hub.topic": record.topic,
                                                "hub.callback": self.callback(record.callback_token)})

    async def _request(self, hub: str, form: dict[str, str]) -> bool:
        assert self.session is not None  # noqa: S101 - only called when enabled
        try:
            async with self.session.post(hub, data=form, timeout=HUB_TIMEOUT, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    log.info("WebSub %s of %s sent to %s", form["hub.mode"], form["hub.topic"], hub)
                    return True
                log.warning("hub %s answered %s to %s of %s", hub, response.status, form["hub.mode"],
                            form["hub.topic"])
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("hub %s unreachable for %s of %s: %s", hub, form["hub.mode"], form["hub.topic"], exc)
        return False

    # -- the job: renew, retry, unsubscribe ---------------------------------------------------------------------
    async def maintain(self) -> None:
        if not self.enabled:
            return
        now = self.schedule.now()
        for record in await self.repo.all_websubs():
            try:
                await self._maintain_one(record, now)
            except Exception:
                log.exception("WebSub upkeep of feed %s failed", record.feed_id)

    async def _maintain_one(self, record: WebSubRecord, now: int) -> None:
        followed = await self.repo.feed_is_followed(record.feed_id)
        if not followed:
            if record.state != "unsubscribing":
                await self.unsubscribe(record, now)
            elif now - record.requested_at >= RETRY_AFTER:
                await self.repo.delete_websub(record.feed_id)  # the hub never confirmed: the lease runs out
            return
        if record.state == "unsubscribing":
            await self.subscribe(record.feed_id, record.topic, record.hub, now)
        elif record.state == "subscribing":
            if now - record.requested_at >= RETRY_AFTER:
                await self.subscribe(record.feed_id, record.topic, record.hub, now, renew=record)
        elif record.lease_expires_at is not None:
            lease = max(record.lease_expires_at - record.requested_at, 0)
            if record.lease_expires_at - now <= min(RENEW_BEFORE, lease // 10 or 1) and \
                    now - record.requested_at >= min(RETRY_AFTER, lease // 10 or 1):
                await self.subscribe(record.feed_id, record.topic, record.hub, now, renew=record)

    # -- the callback -------------------------------------------------------------------------------------------
    async def verify(self, token: str, mode: str, topic: str, challenge: str, lease_seconds: str | None) -> str | None:
        """The hub's verification of intent: the challenge to echo, or None (answered 404)."""
        record = await self.repo.websub_by_token(token)
        if record is None or topic != record.topic:
            return None
        now = self.schedule.now()
        if mode == "subscribe" and record.state in ("subscribing", "active") and challenge:
            try:
                lease = min(max(int(lease_seconds or LEASE_SECONDS), 60), MAX_LEASE)
            except ValueError:
                lease = LEASE_SECONDS
            await self.repo.websub_verified(record.feed_id, now + lease)
            await self.repo.postpone_poll(record.feed_id, now + self.safety_interval())
            log.info("WebSub subscription of %s verified (lease %d s)", topic, lease)
            return challenge
        if mode == "unsubscribe" and record.state == "unsubscribing" and challenge:
            await self.repo.delete_websub(record.feed_id)
            log.info("WebSub subscription of %s ended", topic)
            return challenge
        if mode == "denied" and record.state != "unsubscribing":
            await self.repo.delete_websub(record.feed_id)
            log.warning("hub refused the WebSub subscription of %s", topic)
            return ""
        return None

    async def push(self, token: str, body: bytes, content_type: str | None, headers: dict[str, str]) -> PushOutcome:
        """A content distribution: 404 unknown callback, 403 bad signature, 400 not a feed, 202 ingested."""
        record = await self.repo.websub_by_token(token)
        if record is None or record.state == "unsubscribing":
            return PushOutcome(404)
        if not signature_valid(record.secret, body, headers):
            log.warning("WebSub push for %s refused: missing or bad signature", record.topic)
            return PushOutcome(403)
        now = self.schedule.now()
        await self.repo.websub_pushed(record.feed_id, now)
        async with self.locks(record.feed_id):
            feed = await self.repo.get_feed(record.feed_id)
            if feed is None:
                return PushOutcome(202)
            result = FetchResult("ok", feed.url, body=body, content_type=content_type)
            try:
                parsed = await self.parser.parse(result)
            except FeedProblem as problem:
                log.warning("WebSub push for %s is not a usable feed: %s", record.topic, problem.text)
                return PushOutcome(400)
            # Conditional-GET validators are kept: the push says nothing about the feed URL's own answer.
            result = FetchResult("ok", feed.url, body=body, content_type=content_type, etag=feed.etag,
                                 last_modified=feed.last_modified)
            ingested = await self.ingester.ingest(feed, parsed, result, now)
            await self.corrections.check(feed, parsed, ingested.seen_before)
            await self.repo.postpone_poll(feed.id, now + self.safety_interval())
        return PushOutcome(202, ingested=True)
