"""The shared HTTP session the runner builds: guarded against DNS rebinding unless private feeds are allowed.

A rebinding name answers a public address to the fetcher's own check and 127.0.0.1 (the feed server) to the
connector's lookup. With CODEBLUE_ALLOW_PRIVATE_FEEDS=0 the connect is refused; the control case shows that
without the guarded connector the same lookup sequence really reaches the server.
"""

from __future__ import annotations

import pytest

from bot.config import parse_settings
from bot.runner import new_http_session
from bot.services.feed_fetch import FeedFetcher
from tests.feeds import fixtures
from tests.feeds.builders import generate_items, rss2
from tests.feeds.server import RebindingDns

feed_server = fixtures.feed_server


def settings(allow_private: str):
    return parse_settings({"CODEBLUE_ALLOW_PRIVATE_FEEDS": allow_private}, require_token=False)


@pytest.mark.parametrize(("allow_private", "guarded"), [("0", True), ("1", False)])
async def test_runner_session_checks_the_address_it_connects_to(feed_server, monkeypatch, allow_private, guarded):
    feed_server.serve("/feed.xml", rss2("Outlet", generate_items(2)))
    dns = RebindingDns().install(monkeypatch)
    async with new_http_session(settings(allow_private)) as session:
        # The fetcher's own pre-check stays on (allow_private=False) in both cases: only the session differs.
        fetcher = FeedFetcher(session, user_agent="CodeBlueTest", allow_private=False)
        result = await fetcher.fetch(feed_server.url("/feed.xml", host=dns.host))
    assert dns.lookups == 2  # the fetcher's check (public), then the connector's (loopback)
    if guarded:
        assert (result.status, result.error_code) == ("error", "blocked_address")
        assert "127.0.0.1" in (result.error_detail or "")
        assert feed_server.request_count("/feed.xml") == 0
    else:
        assert result.status == "ok"
        assert feed_server.request_count("/feed.xml") == 1


async def test_session_without_settings_is_guarded(feed_server, monkeypatch):
    """`codeblue sync` and any caller without settings get the safe session."""
    feed_server.serve("/feed.xml", rss2("Outlet", generate_items(1)))
    dns = RebindingDns().install(monkeypatch)
    async with new_http_session() as session:
        result = await FeedFetcher(session, user_agent="CodeBlueTest").fetch(
            feed_server.url("/feed.xml", host=dns.host))
    assert result.error_code == "blocked_address"
    assert feed_server.request_count("/feed.xml") == 0
