"""Sample feed documents built in code: RSS 2.0, Atom, RSS 1.0 (RDF), Google News style and Korean outlets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None
    source: tuple[str, str] | None = None  # (name, url) as in Google News <source url="...">name</source>
    thumbnail: str | None = None


def _rss_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _declaration(encoding: str | None) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else '<?xml version="1.0"?>\n'


def rss2(
    title: str,
    items: list[Item],
    *,
    link: str = "https://example.com/",
    encoding: str = "utf-8",
    declare_encoding: bool = True,
    declared_as: str | None = None,
) -> bytes:
    """RSS 2.0 bytes in ``encoding``; the XML declaration says ``declared_as`` (default: the real encoding)."""
    parts = [
        _declaration((declared_as or encoding) if declare_encoding else None),
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">\n<channel>\n',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>{escape(title)}</description>\n",
    ]
    for item in items:
        parts.append(f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>")
        if item.guid:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.summary:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.published:
            parts.append(f"<pubDate>{_rss_date(item.published)}</pubDate>")
        if item.source:
            parts.append(f"<source url={quoteattr(item.source[1])}>{escape(item.source[0])}</source>")
        if item.thumbnail:
            parts.append(f"<media:thumbnail url={quoteattr(item.thumbnail)}/>")
        parts.append("</item>\n")
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode(encoding)


def atom(title: str, items: list[Item], *, feed_id: str = "urn:example:feed") -> bytes:
    parts = [
        _declaration("utf-8"),
        '<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"<title>{escape(title)}</title><id>{escape(feed_id)}</id><updated>{BASE_TIME.isoformat()}</updated>\n",
    ]
    for item in items:
        published = (item.published or BASE_TIME).isoformat()
        parts.append(
            f'<entry><title>{escape(item.title)}</title><link rel="alternate" href={quoteattr(item.link)}/>'
            f"<id>{escape(item.guid or item.link)}</id><updated>{published}</updated>"
            f"<published>{published}</published>"
        )
        if item.summary:
            parts.append(f'<summary type="html">{escape(item.summary)}</summary>')
        if item.thumbnail:
            parts.append(f'<link rel="enclosure" type="image/jpeg" href={quoteattr(item.thumbnail)}/>')
        parts.append("</entry>\n")
    parts.append("</feed>\n")
    return "".join(parts).encode("utf-8")


def rss1(title: str, items: list[Item], *, link: str = "https://example.org/") -> bytes:
    """RSS 1.0 (RDF) with Dublin Core dates."""
    resources = "".join(f"<rdf:li rdf:resource={quoteattr(item.link)}/>" for item in items)
    parts = [
        _declaration("utf-8"),
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n',
        f"<channel rdf:about={quoteattr(link)}><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(title)}</description><items><rdf:Seq>{resources}</rdf:Seq></items></channel>\n",
    ]
    for item in items:
        parts.append(
            f"<item rdf:about={quoteattr(item.link)}><title>{escape(item.title)}</title>"
            f"<link>{escape(item.link)}</link><description>{escape(item.summary)}</description>"
        )
        if item.published:
            parts.append(f"<dc:date>{item.published.isoformat()}</dc:date>")
        parts.append("</item>\n")
    parts.append("</rdf:RDF>\n")
    return "".join(parts).encode("utf-8")


def google_news(query: str, items: list[Item]) -> bytes:
    """Google News search RSS: opaque article links, " - Source" title suffixes and <source url=...>."""
    stories = []
    for index, item in enumerate(items):
        source_name, source_url = item.source or ("Example News", "https://news.example.com")
        stories.append(
            Item(
                title=f"{item.title} - {source_name}",
                link=item.link or f"https://news.google.com/rss/articles/CBMi{index:04d}AAA?oc=5",
                guid=item.guid or f"CBMi{index:04d}AAA",
                summary=f'<a href="{item.link}" target="_blank">{escape(item.title)}</a>'
                f'&nbsp;&nbsp;<font color="#6f6f6f">{escape(source_name)}</font>',
                published=item.published,
                source=(source_name, source_url),
            )
        )
    return rss2(f'"{query}" - Google News', stories, link="https://news.google.com/search?q=x")


def korean_outlet(items: list[Item], *, encoding: str = "utf-8", declare_encoding: bool = True) -> bytes:
    """A Korean entertainment outlet's RSS 2.0 feed, in UTF-8 or EUC-KR."""
    return rss2(
        "연예뉴스 - 스타일경제",
        items,
        link="https://www.example.co.kr/",
        encoding=encoding,
        declare_encoding=declare_encoding,
    )


def generate_items(count: int, *, prefix: str = "Story", start: datetime = BASE_TIME) -> list[Item]:
    """``count`` distinct items, oldest first, one minute apart."""
    return [
        Item(
            title=f"{prefix} {number}: Trauma Code news",
            link=f"https://example.com/{prefix.lower()}/{number}?utm_source=rss",
            guid=f"{prefix.lower()}-{number}",
            summary=f"<p>Summary of {prefix.lower()} {number} with <b>markup</b> &amp; entities.</p>",
            published=start + timedelta(minutes=number),
        )
        for number in range(count)
    ]


def generate_feed(count: int, *, prefix: str = "Story", title: str = "Generated feed") -> bytes:
    """RSS 2.0 with ``count`` items, newest first as real feeds list them (for benchmarks)."""
    return rss2(title, generate_items(count, prefix=prefix)[::-1])


KOREAN_ITEMS = [
    Item(
        title="중증외상센터 시즌2 제작 확정…주지훈 다시 백강혁으로",
        link="https://www.example.co.kr/news/articleView.html?idxno=1001&utm_medium=rss",
        guid="https://www.example.co.kr/news/articleView.html?idxno=1001",
        summary="<p>넷플릭스 시리즈 &lt;중증외상센터&gt;가 시즌 2 제작을 확정했다.</p>",
        published=datetime(2025, 3, 2, 1, 0, tzinfo=UTC),
        thumbnail="https://img.example.co.kr/1001.jpg",
    ),
    Item(
        title="주말 드라마 시청률 정리",
        link="https://www.example.co.kr/news/articleView.html?idxno=1000",
        guid="https://www.example.co.kr/news/articleView.html?idxno=1000",
        summary="이번 주 시청률 소식.",
        published=datetime(2025, 3, 1, 1, 0, tzinfo=UTC),
    ),
]


SAMPLES_DIR = Path(__file__).parent / "samples"


def load_sample(name: str) -> bytes:
    """Bytes of a file under tests/feeds/samples/."""
    return (SAMPLES_DIR / name).read_bytes()
