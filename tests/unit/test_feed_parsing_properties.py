"""Properties of feed parsing over hostile bytes (Hypothesis, deterministic profile).

`parse_feed_bytes` reads any bytes under any Content-Type: it returns a ParsedFeed or raises FeedParseError,
nothing else; in bounded time and memory, entity bombs included; every entry it returns has a key, text without
markup and only http(s) image and source links (a story's own link is checked where it is
rendered).
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

import tests.unit.hypothesis_profiles  # noqa: F401  (loads the profile)
from bot.domain.feed_entries import FeedParseError, ParsedFeed, parse_feed_bytes

SAMPLES = sorted((Path(__file__).parents[1] / "feeds" / "samples").glob("*"))
SECONDS_LIMIT = 3.0  # CPU seconds for one parse of at most ~70 KB; typical is a few ms
PEAK_MEMORY_LIMIT = 64 * 1024 * 1024  # Python allocations during one parse

content_types = st.sampled_from([None, "application/rss+xml", "application/atom+xml; charset=euc-kr", "text/html",
                                 "text/xml; charset=utf-16", "application/xml; charset=bogus", "text/plain", ""])


@st.composite
def mutated_samples(draw):
    """A real feed from tests/feeds/samples with a few bytes replaced, inserted or cut."""
    body = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(0, len(body) - 1)))
        action = draw(st.sampled_from(["replace", "insert", "cut", "tag"]))
        chunk = draw(st.binary(min_size=1, max_size=16))
        if action == "replace":
            body[at:at + len(chunk)] = chunk
        elif action == "insert":
            body[at:at] = chunk
        elif action == "tag":
            body[at:at] = draw(st.sampled_from([b"<item>", b"</item>", b"<![CDATA[", b"]]>", b"<!--", b"&amp;",
                                                b"&#0;", b"&#xD800;", b"<entry>", b"<title>", b"\x00", b"\xff\xfe"]))
        else:
            del body[at:at + draw(st.integers(1, 200))]
    return bytes(body)


_BOMB = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
         + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
         + b']><rss version="2.0"><channel><title>&i;</title><item><title>&i;</title></item></channel></rss>')
_QUADRATIC = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"x" * 20000 + b'">]><rss version="2.0"><channel>'
              + b"<item><title>" + b"&a;" * 2000 + b"</title></item></channel></rss>")
_EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
             b'<rss version="2.0"><channel><item><title>&e;</title><link>http://a.example/</link></item></channel></rss>')


def _parse(body: bytes, content_type: str | None) -> ParsedFeed | FeedParseError:
    try:
        return parse_feed_bytes(body, content_type, "https://feeds.example/rss")
    except FeedParseError as error:
        return error


_parse(SAMPLES[0].read_bytes(), None)  # feedparser's first use imports and compiles: not part of any bound


@given(body=st.one_of(st.binary(max_size=4096), mutated_samples()), content_type=content_types)
@example(body=_BOMB, content_type="application/rss+xml")
@example(body=_QUADRATIC, content_type="application/rss+xml")
@example(body=_EXTERNAL, content_type=None)
@example(body=b"\xef\xbb\xbf" + b"<" * 50000, content_type=None)
@example(body=b"<rss>" + b"<item>" * 5000, content_type=None)
@example(body=b"<item<channel<link</item</link<", content_type=None)  # feedparser itself raised KeyError
def test_any_bytes_parse_or_fail_cleanly_in_bounded_time_and_memory(body, content_type):
    started = time.process_time()  # CPU time: other processes loading the machine do not count
    result = _parse(body, content_type)
    elapsed = time.process_time() - started
    tracemalloc.start()
    try:
        _parse(body, content_type)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS_LIMIT, f"{len(body)} bytes took {elapsed:.2f}s"
    assert peak < PEAK_MEMORY_LIMIT, f"{len(body)} bytes peaked at {peak / 1e6:.0f} MB"
    if isinstance(result, FeedParseError):
        assert result.code in ("empty_body", "not_a_feed", "malformed")
        return
    for entry in result.entries:
        assert entry.key and len(entry.key) <= 512
        assert entry.thumbnail is None or entry.thumbnail.startswith(("http://", "https://"))
        assert entry.source_url is None or entry.source_url.startswith(("http://", "https://"))
        assert "root:" not in entry.title  # no external entity was read


def test_surrogates_written_as_references_do_not_lose_the_feed():
    """Found by the test above: one lone surrogate reference made feedparser's fallback parser raise (the whole feed
    failed); a pair written as two references is one character."""
    body = (b'<rss version="2.0"><channel><title>t</title><item><title>Live &#xD83D;&#xDE00; &#55357;&#56832; '
            b"&#xD800; &#99999999;</title><link>https://a.example/1</link></item><item><title>second</title>"
            b"<link>https://a.example/2</link></item></channel></rss>")
    parsed = parse_feed_bytes(body, None, "https://feeds.example/rss")
    assert [e.title for e in parsed.entries] == ["second", "Live \U0001F600 \U0001F600 \ufffd \ufffd"]
