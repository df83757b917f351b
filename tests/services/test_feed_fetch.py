import gzip
import socket
import time

import aiohttp
import pytest

from bot.services.feed_fetch import (
    FeedFetcher,
    FeedUrlError,
    GuardedResolver,
    is_blocked_address,
    validate_feed_url,
)
from tests.feeds import fixtures
from tests.feeds.builders import generate_items, rss2
from tests.feeds.server import LoopbackResolver, static_resolver

feed_server = fixtures.feed_server
PUBLIC_IP = "93.184.216.34"
FEED = rss2("Drama Beat", generate_items(3))


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def loopback_session():
    """A session whose connector sends every host name to 127.0.0.1 (for names like feeds.test)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LoopbackResolver())) as client:
        yield client


def make_fetcher(session, **options) -> FeedFetcher:
    options.setdefault("allow_private", True)
    return FeedFetcher(session, user_agent="CodeBlueTest/1.0 (+https://example.com/bot)", **options)


async def test_ok_with_headers(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    result = await make_fetcher(session).fetch(feed_server.url("/feed.xml"))
    assert result.status == "ok"
    assert result.body == FEED
    assert result.http_status == 200
    assert result.content_type.startswith("application/rss+xml")
    assert result.etag and result.last_modified
    assert result.final_url == feed_server.url("/feed.xml")
    _path, headers = feed_server.requests[-1]
    assert headers["User-Agent"].startswith("CodeBlueTest/1.0")
    assert "gzip" in headers["Accept-Encoding"]
    assert "If-None-Match" not in headers


async def test_not_modified_with_etag(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    fetcher = make_fetcher(session)
    first = await fetcher.fetch(feed_server.url("/feed.xml"))
    second = await fetcher.fetch(feed_server.url("/feed.xml"), etag=first.etag)
    assert second.status == "not_modified"
    assert second.body is None
    assert second.http_status == 304
    assert second.etag == first.etag
    assert feed_server.requests[-1][1]["If-None-Match"] == first.etag

    feed_server.serve("/feed.xml", rss2("Drama Beat", generate_items(4)))  # a new item: new ETag
    third = await fetcher.fetch(feed_server.url("/feed.xml"), etag=first.etag)
    assert third.status == "ok"
    assert third.etag != first.etag


async def test_not_modified_with_last_modified(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    fetcher = make_fetcher(session)
    first = await fetcher.fetch(feed_server.url("/feed.xml"))
    second = await fetcher.fetch(feed_server.url("/feed.xml"), last_modified=first.last_modified)
    assert second.status == "not_modified"
    assert feed_server.requests[-1][1]["If-Modified-Since"] == first.last_modified
    assert second.last_modified == first.last_modified


async def test_gzip_is_decompressed(feed_server, session):
    feed_server.serve("/gz.xml", FEED, gzip=True)
    result = await make_fetcher(session).fetch(feed_server.url("/gz.xml"))
    assert result.status == "ok"
    assert result.body == FEED


async def test_gzip_bomb_is_capped_after_decompression(feed_server, session):
    bomb = b"<rss>" + b" " * 3_000_000
    feed_server.serve("/bomb.xml", bomb, gzip=True)
    assert len(gzip.compress(bomb)) < 100_000
    result = await make_fetcher(session, max_bytes=1_000_000).fetch(feed_server.url("/bomb.xml"))
    assert result.status == "error"
    assert result.error_code == "too_large"


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversize_body(feed_server, session, declare_length):
    feed_server.oversize("/big.xml", size=3_000_000, declare_length=declare_length)
    started = time.perf_counter()
    result = await make_fetcher(session, max_bytes=200_000).fetch(feed_server.url("/big.xml"))
    assert result.status == "error"
    assert result.error_code == "too_large"
    assert time.perf_counter() - started < 2


async def test_body_exactly_at_the_cap_is_fine(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    result = await make_fetcher(session, max_bytes=len(FEED)).fetch(feed_server.url("/feed.xml"))
    assert result.status == "ok"


async def test_slow_response_times_out(feed_server, session):
    feed_server.slow("/slow.xml", FEED, delay=2)
    started = time.perf_counter()
    result = await make_fetcher(session, total_timeout=0.3).fetch(feed_server.url("/slow.xml"))
    assert result.status == "error"
    assert result.error_code == "timeout"
    assert time.perf_counter() - started < 1.5


async def test_trickling_body_times_out(feed_server, session):
    feed_server.serve("/trickle.xml", rss2("x", generate_items(30)), trickle_delay=0.1)
    result = await make_fetcher(session, total_timeout=0.4).fetch(feed_server.url("/trickle.xml"))
    assert result.error_code == "timeout"


async def test_redirects_are_followed(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    start = feed_server.redirect_chain("/r", 3, "/feed.xml")
    result = await make_fetcher(session, max_redirects=3).fetch(feed_server.url(start))
    assert result.status == "ok"
    assert result.final_url == feed_server.url("/feed.xml")
    assert result.body == FEED


async def test_redirect_chain_limit(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    start = feed_server.redirect_chain("/r", 4, "/feed.xml")
    result = await make_fetcher(session, max_redirects=3).fetch(feed_server.url(start))
    assert result.status == "error"
    assert result.error_code == "too_many_redirects"
    assert feed_server.request_count("/feed.xml") == 0


async def test_redirect_loop(feed_server, session):
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    result = await make_fetcher(session).fetch(feed_server.url("/a"))
    assert result.error_code == "too_many_redirects"


async def test_redirect_to_bad_scheme(feed_server, session):
    feed_server.redirect("/ftp", "ftp://example.com/feed.xml")
    result = await make_fetcher(session).fetch(feed_server.url("/ftp"))
    assert result.error_code == "bad_scheme"


@pytest.mark.parametrize(
    ("status", "code"), [(404, "http_4xx"), (410, "http_4xx"), (500, "http_5xx"), (503, "http_5xx")]
)
async def test_http_errors(feed_server, session, status, code):
    feed_server.serve("/err", b"nope", status=status)
    result = await make_fetcher(session).fetch(feed_server.url("/err"))
    assert (result.status, result.error_code, result.http_status) == ("error", code, status)


async def test_unknown_path_is_404(feed_server, session):
    result = await make_fetcher(session).fetch(feed_server.url("/missing.xml"))
    assert (result.error_code, result.http_status) == ("http_4xx", 404)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused(session, closed_port):
    result = await make_fetcher(session).fetch(f"http://127.0.0.1:{closed_port}/feed.xml")
    assert result.status == "error"
    assert result.error_code == "connect"


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "file:///etc/passwd", "javascript:alert(1)"])
async def test_bad_scheme_is_refused_without_a_request(session, url):
    result = await make_fetcher(session).fetch(url)
    assert result.error_code == "bad_scheme"


# --- SSRF guard -------------------------------------------------------------------------------------------------


async def test_private_literal_address_is_refused(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    result = await make_fetcher(session, allow_private=False).fetch(feed_server.url("/feed.xml"))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0


async def test_localhost_name_is_refused_with_system_resolver(feed_server, session):
    feed_server.serve("/feed.xml", FEED)
    result = await make_fetcher(session, allow_private=False).fetch(feed_server.url("/feed.xml", host="localhost"))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0


async def test_public_name_is_fetched(feed_server, loopback_session):
    feed_server.serve("/feed.xml", FEED)
    fetcher = make_fetcher(loopback_session, allow_private=False, resolver=static_resolver({"feeds.test": [PUBLIC_IP]}))
    result = await fetcher.fetch(feed_server.url("/feed.xml", host="feeds.test"))
    assert result.status == "ok"


@pytest.mark.parametrize(
    "addresses",
    [["10.1.2.3"], [PUBLIC_IP, "192.168.0.10"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["100.64.0.1"]],
)
async def test_any_private_resolved_address_is_refused(feed_server, loopback_session, addresses):
    feed_server.serve("/feed.xml", FEED)
    fetcher = make_fetcher(loopback_session, allow_private=False, resolver=static_resolver({"feeds.test": addresses}))
    result = await fetcher.fetch(feed_server.url("/feed.xml", host="feeds.test"))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0


@pytest.mark.parametrize("target_host", ["intranet.test", "127.0.0.1"])
async def test_redirect_to_private_address_is_refused(feed_server, loopback_session, target_host):
    feed_server.serve("/internal.xml", FEED)
    feed_server.redirect("/out", feed_server.url("/internal.xml", host=target_host))
    resolver = static_resolver({"feeds.test": [PUBLIC_IP], "intranet.test": ["10.0.0.5"]})
    fetcher = make_fetcher(loopback_session, allow_private=False, resolver=resolver)
    result = await fetcher.fetch(feed_server.url("/out", host="feeds.test"))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/out") == 1
    assert feed_server.request_count("/internal.xml") == 0


@pytest.fixture
async def guarded_loopback_session():
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(LoopbackResolver()))
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


async def test_guarded_resolver_catches_dns_rebinding(feed_server, guarded_loopback_session):
    """The name checked as public, but the connector's own lookup says 127.0.0.1: nothing is requested."""
    feed_server.serve("/feed.xml", FEED)
    resolver = static_resolver({"feeds.test": [PUBLIC_IP]})
    fetcher = make_fetcher(guarded_loopback_session, allow_private=False, resolver=resolver)
    result = await fetcher.fetch(feed_server.url("/feed.xml", host="feeds.test"))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0


async def test_unresolvable_host(loopback_session):
    fetcher = make_fetcher(loopback_session, allow_private=False, resolver=static_resolver({}))
    result = await fetcher.fetch("http://nowhere.test/feed.xml")
    assert result.error_code == "dns"


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),  # noqa: S104
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("100.64.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("not-an-ip", True),
        ("8.8.8.8", False),
        (PUBLIC_IP, False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_is_blocked_address(address, blocked):
    assert is_blocked_address(address) is blocked


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "bad_url"),
        ("not a url", "bad_url"),
        ("https://", "bad_url"),
        ("ftp://example.com/feed", "bad_scheme"),
        ("example.com/feed", "bad_scheme"),
        ("http://127.0.0.1/feed", "blocked_address"),
        ("http://[::1]/feed", "blocked_address"),
        ("http://localhost:8080/feed", "blocked_address"),
        ("http://10.0.0.1/feed", "blocked_address"),
        ("http://example.com:99999/feed", "bad_url"),
        ("https://example.com/" + "a" * 3000, "bad_url"),
    ],
)
def test_validate_feed_url_errors(url, code):
    with pytest.raises(FeedUrlError) as info:
        validate_feed_url(url)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("  https://news.google.com/rss/search?q=x  ", False),
        ("http://feeds.example.com:8080/rss", False),
        ("http://127.0.0.1:9000/feed", True),
        ("http://localhost/feed", True),
    ],
)
def test_validate_feed_url_accepts(url, allow_private):
    assert validate_feed_url(url, allow_private=allow_private) == url.strip()
