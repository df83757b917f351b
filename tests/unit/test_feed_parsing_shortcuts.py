"""What parsing skips for speed (issue 12) gives the same results: feedparser is not asked to resolve URIs, so the
URLs kept (entry link, source, image) are resolved against the feed's URL here (xml:base still honoured); plain HTML
is turned into text without the HTML parser, exactly as the parser would."""

import html

import pytest

from bot.domain.feed_entries import _extract, html_to_text, parse_feed_bytes

FEED_URL = "https://outlet.example.com/feeds/news.xml"


def _rss(items: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            f"<channel><title>Outlet</title><link>/</link><description>d</description>{items}</channel></rss>"
            ).encode()


def test_relative_links_images_and_enclosures_are_resolved_against_the_feed_url():
    feed = parse_feed_bytes(_rss(
        "<item><title>Content image</title><link>/2025/a</link><guid>a</guid>"
        "<description>&lt;p&gt;Text&lt;/p&gt;&lt;img src=\"../img/a.jpg\"&gt;</description></item>"
        "<item><title>Enclosure</title><link>b.html</link><guid>b</guid>"
        '<enclosure url="/img/b.png" type="image/png" length="1"/></item>'
        "<item><title>Media thumbnail</title><link>https://other.example.org/c</link><guid>c</guid>"
        '<media:thumbnail url="thumbs/c.jpg"/></item>'
        "<item><title>Source</title><link>//cdn.example.com/d</link><guid>d</guid>"
        '<source url="/source.xml">Wire</source></item>'
    ), "application/rss+xml", FEED_URL)
    by_title = {e.title: e for e in feed.entries}
    assert feed.link == "https://outlet.example.com/"
    assert by_title["Content image"].link == "https://outlet.example.com/2025/a"
    assert by_title["Content image"].thumbnail == "https://outlet.example.com/img/a.jpg"
    assert by_title["Enclosure"].link == "https://outlet.example.com/feeds/b.html"
    assert by_title["Enclosure"].thumbnail == "https://outlet.example.com/img/b.png"
    assert by_title["Media thumbnail"].link == "https://other.example.org/c"
    assert by_title["Media thumbnail"].thumbnail == "https://outlet.example.com/feeds/thumbs/c.jpg"
    assert by_title["Source"].link == "https://cdn.example.com/d"
    assert by_title["Source"].source_url == "https://outlet.example.com/source.xml"


def test_an_absolute_xml_base_still_wins_and_other_schemes_are_left_alone():
    body = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
            b' xml:base="https://blog.example.net/base/"><title>Blog</title>'
            b'<entry><title>Based</title><id>x1</id><link href="posts/1"/><updated>2025-03-01T00:00:00Z</updated>'
            b'<content type="html">&lt;img src="i/1.jpg"&gt;</content></entry>'
            b'<entry><title>Mail</title><id>x2</id><link href="mailto:desk@example.net"/>'
            b"<updated>2025-03-02T00:00:00Z</updated></entry></feed>")
    feed = parse_feed_bytes(body, "application/atom+xml", FEED_URL)
    based, mail = feed.entries
    assert based.link == "https://blog.example.net/base/posts/1"
    assert mail.link == "mailto:desk@example.net" and mail.thumbnail is None


def _with_parser(fragment: str) -> str:
    return " ".join(html.unescape("".join(_extract(fragment).parts)).split())


@pytest.mark.parametrize("fragment", [
    "<p>Summary of item 1 with <b>markup</b>.</p>", "a &amp; b", "&amp;lt;tag&amp;gt;", "<br/>x<br />y",
    "<P>Upper</P>x", "<a href='x>y'>link</a> after", '<a href="x>y">link</a>', "<a href=x>t</a>",
    "a < b and c > d", "<!-- c -->text", "<script>x</script>y", "<div><style>p{}</style>t</div>", "&am<b>p;</b>",
    "<img src=x/>after", "</p foo>x", "<my-el>x</my-el>", "<o:p>x</o:p>", "x &nbsp; y",
    "<p>넷플릭스 시리즈 &lt;중증외상센터&gt;가 시즌 2 제작을 확정했다.</p>", "<h1>T</h1><h2>U</h2>",
    "<p\n class='a'>x</p>", "<input disabled>x", "<p>a</p\n>b", "&#39;q&#x27;", "<b>x</b", "x<", "<>x",
    "<a\thref='y'>z</a>", "<NOSCRIPT>hidden</NOSCRIPT>shown", "<li>one<li>two", "<![CDATA[x]]>y", "",
])
def test_plain_html_becomes_the_same_text_as_through_the_html_parser(fragment):
    assert html_to_text(fragment) == _with_parser(fragment)
