from datetime import UTC, datetime

import feedparser
import pytest

from bot.domain.feed_entries import (
    FeedParseError,
    build_entry,
    cut_text,
    dedupe_title,
    detect_encoding,
    entry_key,
    html_to_text,
    normalize_link,
    parse_feed_bytes,
    signatures_match,
    title_fingerprint,
    title_signature,
)
from tests.feeds.builders import KOREAN_ITEMS, Item, atom, generate_feed, google_news, korean_outlet, load_sample, rss2


def titles_near_identical(a: str, b: str) -> bool:
    """Same story under two titles, as the cross-feed dedupe compares them (bot.services.news.dedupe)."""
    return signatures_match(title_signature(dedupe_title(a)), title_signature(dedupe_title(b)))


KOREAN_TITLE = "중증외상센터 시즌2 제작 확정…주지훈 다시 백강혁으로"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM:443/Path/A?b=2&a=1#frag", "https://example.com/Path/A?a=1&b=2"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=42", "https://example.com/a?id=42"),
        ("https://example.com/a?UTM_Campaign=x&fbclid=1&gclid=2&dclid=3", "https://example.com/a"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&ref_src=twsrc&keep=1", "https://example.com/a?keep=1"),
        ("https://example.com/a?q=a%20b&p=1", "https://example.com/a?p=1&q=a%20b"),  # encoding kept as-is
        ("https://example.com/a?flag&b=", "https://example.com/a?b=&flag"),
        ("  https://example.com/a  ", "https://example.com/a"),
        (
            "https://news.google.com/rss/articles/CBMiWkFVX3lx?oc=5&utm_source=x",
            "https://news.google.com/rss/articles/CBMiWkFVX3lx?oc=5&utm_source=x",
        ),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("not a url", "not a url"),
        ("http://example.com:99999/bad-port", "http://example.com:99999/bad-port"),
    ],
)
def test_normalize_link(url, expected):
    assert normalize_link(url) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"id": " guid-1 ", "link": "https://example.com/a"}, "guid-1"),
        ({"guid": "guid-2"}, "guid-2"),
        ({"link": "https://Example.com/a?utm_source=x#top"}, "https://example.com/a"),
        ({"id": "", "link": "https://example.com/b?fbclid=1"}, "https://example.com/b"),
    ],
)
def test_entry_key(entry, expected):
    assert entry_key(entry) == expected


def test_entry_key_without_id_or_link_hashes_title_and_date():
    first = entry_key({"title": "Hello", "published": "Mon, 03 Mar 2025 08:30:00 GMT"})
    assert first.startswith("hash:")
    assert first == entry_key({"title": "Hello", "published": "Mon, 03 Mar 2025 08:30:00 GMT"})
    assert first != entry_key({"title": "Hello", "published": "Tue, 04 Mar 2025 08:30:00 GMT"})
    assert first != entry_key({"title": "Hello!", "published": "Mon, 03 Mar 2025 08:30:00 GMT"})


def test_entry_key_caps_long_ids():
    key = entry_key({"id": "x" * 5000})
    assert key.startswith("sha256:")
    assert len(key) < 100


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("'Trauma Code' season 2 confirmed - Soompi", "'Trauma Code' Season 2 Confirmed", True),
        ("Trauma Code season 2 confirmed", "Trauma Code: season 2 confirmed!", True),
        ("Netflix renews Trauma Code for a second season", "Netflix renews 'Trauma Code' for second season", True),
        ("중증외상센터 시즌2 제작 확정 - 스타뉴스", "중증외상센터 시즌 2 제작 확정", True),
        ("Trauma Code season 2 confirmed", "Trauma Code season 3 confirmed", False),
        ("Trauma Code season 2 confirmed", "Weekend box office roundup", False),
        ("Season 2", "Season 3", False),
        ("", "", False),
    ],
)
def test_titles_near_identical(a, b, same):
    assert titles_near_identical(a, b) is same
    assert titles_near_identical(b, a) is same


def test_title_fingerprint_strips_known_source_suffix():
    assert title_fingerprint("Big news - Variety", "Variety") == title_fingerprint("Big News!")
    assert title_fingerprint("Big news - Variety") != title_fingerprint("Big news")


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<p>Hello <b>world</b></p><p>Again</p>", "Hello world Again"),
        ("Tom &amp; Jerry &lt;3 &#8216;quoted&#8217; &nbsp;x", "Tom & Jerry <3 ‘quoted’ x"),
        ("a<br>b<br/>c", "a b c"),
        ("<script>alert(1)</script>visible<style>p{}</style>", "visible"),
        ("  lots   of\n\n whitespace\t", "lots of whitespace"),
        ("<img src='x.jpg'>", ""),
        ("no markup", "no markup"),
    ],
)
def test_html_to_text(fragment, expected):
    assert html_to_text(fragment) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly ten", 11, "exactly ten"),
        ("the quick brown fox jumps", 16, "the quick brown…"),
        ("the quick brown, fox", 17, "the quick brown…"),
        ("supercalifragilistic", 10, "supercali…"),
        ("중증외상센터 시즌2 제작 확정", 12, "중증외상센터 시즌2…"),
    ],
)
def test_cut_text(text, limit, expected):
    result = cut_text(text, limit)
    assert result == expected
    assert len(result) <= limit


def test_build_entry_picks_thumbnail_sources_in_order():
    base = {"title": "t", "link": "https://e.com/a", "summary": "<p>s <img src='https://e.com/inline.jpg'></p>"}
    assert build_entry(base).thumbnail == "https://e.com/inline.jpg"
    enclosure = {**base, "enclosures": [{"href": "https://e.com/enc.png", "type": "image/png"}]}
    assert build_entry(enclosure).thumbnail == "https://e.com/enc.png"
    media = {**enclosure, "media_content": [{"url": "https://e.com/m.jpg", "medium": "image"}]}
    assert build_entry(media).thumbnail == "https://e.com/m.jpg"
    thumb = {**media, "media_thumbnail": [{"url": "https://e.com/t.jpg"}]}
    assert build_entry(thumb).thumbnail == "https://e.com/t.jpg"
    unsafe = {"title": "t", "summary": "<img src='javascript:alert(1)'>", "media_thumbnail": [{"url": "data:x"}]}
    assert build_entry(unsafe).thumbnail is None


def test_build_entry_from_feedparser_result():
    parsed = feedparser.parse(
        rss2(
            "Feed",
            [
                Item(
                    title="Season &amp; 2",
                    link="https://e.com/a?utm_source=rss#x",
                    guid="g1",
                    summary="<p>" + "word " * 200 + "</p>",
                    published=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
                )
            ],
        )
    )
    entry = build_entry(parsed.entries[0], "Feed", summary_limit=50)
    assert entry.key == "g1"
    assert entry.title == "Season & 2"
    assert entry.link == "https://e.com/a"
    assert entry.summary.endswith("…")
    assert len(entry.summary) <= 50
    assert "<" not in entry.summary
    assert entry.published == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert entry.source == "Feed"


SAMPLE_EXPECTATIONS = [
    # (sample, version, feed title, newest entry title, entry count)
    ("rss2_outlet.xml", "rss20", "Drama Beat", "‘Trauma Code’ Season 2 officially confirmed by Netflix", 3),
    ("atom_blog.xml", "atom10", "Hallyu Watch", "Trauma Code & the Season2 question", 2),
    ("rss1_rdf.xml", "rss10", "RDF Drama Digest", "중증외상센터 시즌 2 소식", 2),
    (
        "google_news.xml",
        "rss20",
        '"Trauma Code" "season 2" - Google News',
        "'Trauma Code' season 2 confirmed: Ju Ji-hoon to return - Soompi",
        2,
    ),
    ("korean_euckr.xml", "rss20", "연예뉴스 - 스타일경제", KOREAN_TITLE, 2),
]


@pytest.mark.parametrize(("sample", "version", "title", "newest", "count"), SAMPLE_EXPECTATIONS)
def test_parse_sample_feeds(sample, version, title, newest, count):
    feed = parse_feed_bytes(load_sample(sample), None, f"https://feeds.example.com/{sample}")
    assert feed.version == version
    assert feed.title == title
    assert len(feed.entries) == count
    assert feed.entries[-1].title == newest
    assert feed.problem is None
    dated = [entry.published for entry in feed.entries if entry.published]
    assert dated == sorted(dated)
    assert all(entry.published is None or entry.published.tzinfo is not None for entry in feed.entries)


def test_rss2_sample_details():
    feed = parse_feed_bytes(load_sample("rss2_outlet.xml"), "application/rss+xml", "https://dramabeat.example.com/f")
    newest = feed.entries[-1]
    assert newest.key == "dramabeat-4242"
    assert newest.link == "https://dramabeat.example.com/2025/03/trauma-code-season-2?id=42"
    assert newest.summary == "Ju Ji-hoon returns as Baek Kang-hyuk & the team at the trauma center."
    assert newest.published == datetime(2025, 3, 2, 23, 30, tzinfo=UTC)  # +0900 converted
    assert newest.thumbnail == "https://img.dramabeat.example.com/tc-s2.jpg"
    undated = next(entry for entry in feed.entries if entry.published is None)
    assert undated.key == "https://dramabeat.example.com/undated"


def test_atom_sample_resolves_relative_links_and_content_images():
    feed = parse_feed_bytes(load_sample("atom_blog.xml"), None, "https://hallyu.example.net/feed.atom")
    newest = feed.entries[-1]
    assert newest.link == "https://hallyu.example.net/posts/7"
    assert newest.thumbnail == "https://cdn.hallyu.example.net/7.jpg"
    assert newest.published == datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    assert feed.entries[0].thumbnail == "https://cdn.hallyu.example.net/6-thumb.jpg"


def test_google_news_sample_source_and_fingerprint():
    feed = parse_feed_bytes(load_sample("google_news.xml"), None, "https://news.google.com/rss/search?q=x")
    newest = feed.entries[-1]
    assert newest.source == "Soompi"
    assert newest.source_url == "https://www.soompi.com"
    assert newest.link == "https://news.google.com/rss/articles/CBMiWkFVX3lxTE1zZWFzb24y?oc=5"
    assert newest.title_fingerprint == title_fingerprint("'Trauma Code' season 2 confirmed: Ju Ji-hoon to return")


@pytest.mark.parametrize("declare_encoding", [True, False])
@pytest.mark.parametrize(
    "content_type",
    [None, "text/xml", "application/rss+xml; charset=euc-kr", "text/xml; charset=EUC-KR", "text/xml; charset=utf-8"],
)
def test_euc_kr_with_and_without_declarations(declare_encoding, content_type):
    body = korean_outlet(KOREAN_ITEMS, encoding="euc-kr", declare_encoding=declare_encoding)
    feed = parse_feed_bytes(body, content_type, "https://www.example.co.kr/rss")
    assert feed.entries[-1].title == KOREAN_TITLE
    assert feed.entries[-1].summary == "넷플릭스 시리즈 <중증외상센터>가 시즌 2 제작을 확정했다."
    assert feed.title == "연예뉴스 - 스타일경제"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (rss2("x", KOREAN_ITEMS, encoding="euc-kr", declared_as="utf-8"), None),  # EUC-KR declared as UTF-8
        (rss2("x", KOREAN_ITEMS, encoding="utf-8", declared_as="euc-kr"), "text/xml; charset=euc-kr"),  # the reverse
        (korean_outlet(KOREAN_ITEMS, encoding="utf-8", declare_encoding=False), "text/xml"),
        (b"\xef\xbb\xbf" + korean_outlet(KOREAN_ITEMS), None),  # UTF-8 BOM
    ],
)
def test_wrong_or_missing_encoding_declarations(body, content_type):
    assert parse_feed_bytes(body, content_type, "https://x.example/").entries[-1].title == KOREAN_TITLE


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\xc1\xdf\xc1\xf5", None, "cp949"),
        ("시즌".encode(), "text/xml; charset=euc-kr", "utf-8"),
        ("café".encode("latin-1"), "text/xml; charset=iso-8859-1", "iso8859-1"),
        (b"\xff\xfe<\x00", None, "utf-16"),
        (b"plain ascii", None, "utf-8"),
    ],
)
def test_detect_encoding(body, content_type, expected):
    assert detect_encoding(body, content_type) == expected


def test_google_news_builder_and_oldest_first_order():
    items = [
        Item("Newest story", "", published=datetime(2025, 3, 3, tzinfo=UTC), source=("Variety", "https://variety.com")),
        Item("Older story", "", published=datetime(2025, 3, 1, tzinfo=UTC), source=("Soompi", "https://soompi.com")),
    ]
    feed = parse_feed_bytes(google_news("trauma code", items), None, "https://news.google.com/rss/search")
    assert [entry.title for entry in feed.entries] == ["Older story - Soompi", "Newest story - Variety"]
    assert [entry.source for entry in feed.entries] == ["Soompi", "Variety"]


def test_atom_builder_round_trip():
    items = [Item("An Atom entry", "https://e.com/1", guid="urn:1", summary="<b>bold</b> text")]
    feed = parse_feed_bytes(atom("Atom feed", items), "application/atom+xml", "https://e.com/feed")
    assert feed.entries[0].key == "urn:1"
    assert feed.entries[0].summary == "bold text"


def test_malformed_but_recoverable():
    feed = parse_feed_bytes(load_sample("malformed_recoverable.xml"), "text/xml", "https://broken.example.com/rss")
    assert feed.problem
    assert [entry.title for entry in feed.entries] == ["Second item", "Season 2 & more"]


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (load_sample("not_a_feed.html"), "text/html; charset=utf-8", "not_a_feed"),
        (load_sample("not_a_feed.html"), None, "not_a_feed"),
        (b"<html><body>hi</body></html>", "application/rss+xml", "not_a_feed"),
        (load_sample("garbage.xml"), "application/xml", "malformed"),
        (b'{"json": "not a feed"}', "application/json", "not_a_feed"),
        (b"", "application/rss+xml", "empty_body"),
        (b"   \n ", None, "empty_body"),
    ],
)
def test_unusable_bodies(body, content_type, code):
    with pytest.raises(FeedParseError) as info:
        parse_feed_bytes(body, content_type, "https://x.example/")
    assert info.value.code == code


def test_body_is_never_treated_as_a_url_or_path():
    with pytest.raises(FeedParseError):
        parse_feed_bytes(b"http://127.0.0.1:1/feed.xml", None, "https://x.example/")
    with pytest.raises(FeedParseError):
        parse_feed_bytes(b"/etc/hostname", None, "https://x.example/")


def test_large_generated_feed():
    feed = parse_feed_bytes(generate_feed(300), None, "https://e.com/")
    assert len(feed.entries) == 300
    assert feed.entries[0].key == "story-0"
    assert feed.entries[-1].key == "story-299"
    assert len({entry.key for entry in feed.entries}) == 300
