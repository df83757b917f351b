"""Fetching feeds over HTTP safely: size cap while streaming, manual redirects, conditional requests, SSRF guard.

Address checks: before every hop (redirects included) the host is resolved and refused when ANY address is not
public (private, loopback, link-local, multicast, reserved, unspecified, shared/CGNAT...). aiohttp resolves the
name again when it connects, so a hostile DNS server could answer differently the second time (DNS rebinding).
To close that gap, build the feed session's connector with ``GuardedResolver``: then the addresses aiohttp
actually connects to are checked too. (Checking the socket's peer after connecting is not reliable: aiohttp may
already have released the connection of a small response.)
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import aiohttp
import aiohttp.abc
from yarl import URL

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
FetchStatus = Literal["ok", "not_modified", "error"]

MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: FetchStatus
    final_url: str
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    http_status: int | None = None
    link_header: str | None = None  # the answer's Link header(s), for WebSub hub discovery (news features)


def body_hash(body: bytes | None) -> str | None:
    """The SHA-256 (hex) of a fetched body, to recognize one whose bytes did not change; None without a body.
    (hashlib releases the GIL for bodies this size: a 5 MB feed costs the event loop nothing.)"""
    return None if body is None else hashlib.sha256(body).hexdigest()


class FeedUrlError(ValueError):
    """A feed URL the bot will not fetch. ``code``: bad_url, bad_scheme or blocked_address."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class _FetchFailed(Exception):
    def __init__(self, code: str, detail: str, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status


def is_blocked_address(address: str) -> bool:
    """True for any address that is not plainly public (IPv4-mapped IPv6 is checked as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def validate_feed_url(url: str, *, allow_private: bool = False) -> str:
    """Syntax check for the command layer: returns the trimmed URL or raises FeedUrlError. No network access;
    a host that is a literal non-public IP address (or ``localhost``) is refused unless allow_private."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_LENGTH or any(ch.isspace() for ch in url):
        raise FeedUrlError("bad_url", "not a valid URL")
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise FeedUrlError("bad_url", str(exc)) from exc
    if parsed.scheme not in ("http", "https"):
        raise FeedUrlError("bad_scheme", "feed URLs must start with http:// or https://")
    host = parsed.raw_host
    if not host:
        raise FeedUrlError("bad_url", "the URL has no host")
    try:
        parsed.port  # noqa: B018 - raises for an invalid port
    except ValueError as exc:
        raise FeedUrlError("bad_url", str(exc)) from exc
    if not allow_private:
        lowered = host.lower().rstrip(".")
        if lowered == "localhost" or lowered.endswith(".localhost"):
            raise FeedUrlError("blocked_address", "local addresses are not allowed")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if is_blocked_address(host):
                raise FeedUrlError("blocked_address", "private or reserved addresses are not allowed")
    return url


class BlockedAddressError(OSError):
    """Raised by GuardedResolver; aiohttp wraps it in ClientConnectorDNSError."""


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp resolver that refuses names resolving to any non-public address, for the feed session's
    connector: ``aiohttp.TCPConnector(resolver=GuardedResolver())`` (skip it when private feeds are allowed)."""

    def __init__(self, inner: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        if self._inner is None:
            self._inner = aiohttp.DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        blocked = [result["host"] for result in results if is_blocked_address(result["host"])]
        if blocked:
            raise BlockedAddressError(f"{host} resolves to a non-public address ({blocked[0]})")
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _error(url: str, code: str, detail: str, http_status: int | None = None) -> FetchResult:
    return FetchResult("error", url, error_code=code, error_detail=detail, http_status=http_status)


class FeedFetcher:
    """Fetches feed URLs with one shared aiohttp session. ``fetch`` never raises for network or HTTP failures."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        user_agent: str,
        max_bytes: int = 5_000_000,
        connect_timeout: float = 10,
        total_timeout: float = 30,
        max_redirects: int = 5,
        allow_private: bool = False,
        resolver: Resolver | None = None,
    ) -> None:
        self._session = session
        self._user_agent = user_agent
        self._max_bytes = max_bytes
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects
        self._allow_private = allow_private
        self._resolver: Resolver = resolver or system_resolver

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        current = url
        try:
            async with asyncio.timeout(self._total_timeout):
                for _hop in range(self._max_redirects + 1):
                    outcome = await self._fetch_once(current, etag, last_modified)
                    if isinstance(outcome, FetchResult):
                        return outcome
                    current = outcome
                return _error(current, "too_many_redirects", f"more than {self._max_redirects} redirects")
        except _FetchFailed as exc:
            return _error(current, exc.code, exc.detail, exc.http_status)
        except TimeoutError:
            return _error(current, "timeout", f"no complete response within {self._total_timeout:g} s")
        except aiohttp.ClientPayloadError as exc:
            return _error(current, "bad_response", f"broken response body: {exc}")
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedAddressError):
                return _error(current, "blocked_address", str(exc.os_error))
            return _error(current, "dns", str(exc))
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, ConnectionError) as exc:
            return _error(current, "connect", str(exc) or type(exc).__name__)
        except aiohttp.ClientError as exc:
            return _error(current, "http_error", str(exc) or type(exc).__name__)

    async def _check_host(self, url: URL) -> None:
        if self._allow_private:
            return
        host = url.raw_host or ""
        try:
            ipaddress.ip_address(host)
            addresses: Iterable[str] = [host]
        except ValueError:
            try:
                addresses = list(await self._resolver(host, url.port or 0))
            except (OSError, UnicodeError) as exc:
                raise _FetchFailed("dns", f"could not resolve {host}: {exc}") from exc
        addresses = list(addresses)
        if not addresses:
            raise _FetchFailed("dns", f"{host} has no address")
        blocked = [address for address in addresses if is_blocked_address(address)]
        if blocked:
            raise _FetchFailed("blocked_address", f"{host} resolves to a non-public address ({blocked[0]})")

    def _headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers = {"User-Agent": self._user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _fetch_once(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult | str:
        """One hop: a final FetchResult, or the next URL to follow."""
        try:
            validate_feed_url(url, allow_private=self._allow_private)
            target = URL(url)
        except FeedUrlError as exc:
            raise _FetchFailed(exc.code, exc.detail) from exc
        await self._check_host(target)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._connect_timeout, sock_connect=self._connect_timeout, sock_read=self._total_timeout
        )
        async with self._session.get(
            target,
            headers=self._headers(etag, last_modified),
            allow_redirects=False,
            timeout=timeout,
            auto_decompress=True,
        ) as response:
            status = response.status
            if status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise _FetchFailed("bad_redirect", f"HTTP {status} without a Location header", status)
                return str(target.join(URL(location)))
            if status == 304:
                return FetchResult(
                    "not_modified",
                    url,
                    etag=response.headers.get("ETag") or etag,
                    last_modified=response.headers.get("Last-Modified") or last_modified,
                    http_status=status,
                )
            if status >= 400:
                family = "http_4xx" if status < 500 else "http_5xx"
                raise _FetchFailed(family, f"HTTP {status} {response.reason or ''}".strip(), status)
            if not 200 <= status < 300:
                raise _FetchFailed("http_error", f"unexpected HTTP {status}", status)
            body = await self._read_capped(response)
            return FetchResult(
                "ok",
                url,
                body=body,
                content_type=response.headers.get("Content-Type"),
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                link_header=", ".join(response.headers.getall("Link", [])) or None,
                http_status=status,
            )

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the (decompressed) body, giving up as soon as it passes max_bytes."""
        too_large = _FetchFailed("too_large", f"the feed is larger than {self._max_bytes} bytes", response.status)
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
