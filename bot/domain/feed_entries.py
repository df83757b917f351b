"""Feed entries: parsing feed bytes with feedparser, normalized entries, dedupe keys and link normalization.

Encoding: feedparser's own guess falls back to windows-1252 when a feed has no usable declaration and chardet is
not installed, which turns EUC-KR Korean into mojibake. So ``parse_feed_bytes`` decides the encoding itself
(BOM, then strict UTF-8, then the HTTP charset, then the XML declaration, then CP949 — a superset of EUC-KR —
then windows-1252), re-encodes the document as UTF-8 and hands feedparser bytes (never a str, which feedparser
might treat as a URL or a path).
"""

from __future__ import annotations

import calendar
import codecs
import difflib
import functools
import hashlib
import html
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser

from bot.domain.news_match import normalize_text

DEFAULT_SUMMARY_LIMIT = 600
DEFAULT_TITLE_LIMIT = 256
MAX_KEY_LENGTH = 300

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid", "mc_cid", "mc_eid",
        "igshid", "igsh", "ref_src", "ref_url", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
        "vero_id", "ncid", "__twitter_impression", "spm", "_ga", "_gl",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}
OPAQUE_LINK_HOSTS = frozenset({"news.google.com"})


class FeedParseError(ValueError):
    """The body is not a usable feed. ``code``: empty_body, not_a_feed or malformed."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[FeedParseError], tuple[str, str]]:
        return (type(self), (self.code, self.detail))  # picklable: parsing may run in a process pool


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: str
    title: str
    link: str
    summary: str
    published: datetime | None
    source: str | None
    source_url: str | None
    thumbnail: str | None
    title_fingerprint: str
    title_normalized: str = ""  # dedupe_title(title, source): computed once, in the parsing thread

    def __reduce__(self) -> tuple[type[FeedEntry], tuple[Any, ...]]:
        # Pickled as its field values (entries come back from the parsing processes by the thousand): a frozen
        # slots dataclass otherwise unpickles through dataclasses.fields() and a setattr per field, twice as slow.
        return (type(self), tuple(getattr(self, name) for name in self.__slots__))


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str | None
    entries: list[FeedEntry] = field(default_factory=list)  # oldest first
    version: str = ""
    encoding: str = "utf-8"
    problem: str | None = None  # set when feedparser had to recover from a malformed document


# --- links and keys -------------------------------------------------------------------------------------------


def _is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def normalize_link(url: str) -> str:
    """Canonical form of an http(s) link for dedupe; non-http input is returned stripped.

    Scheme and host lower-cased, the default port and the fragment dropped, tracking parameters (utm_*, fbclid,
    ...) removed and the remaining query parameters sorted, an empty path made "/". Links of hosts whose URLs are
    opaque tokens (Google News) keep their path and query as they are.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower()
    if host in OPAQUE_LINK_HOSTS:
        return _stripped(urlunsplit((scheme, parts.netloc.lower(), parts.path, parts.query, "")))
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    pairs = [p for p in parts.query.split("&") if p and not _is_tracking_param(p.split("=", 1)[0])]
    return _stripped(urlunsplit((scheme, netloc, parts.path or "/", "&".join(sorted(pairs)), "")))


def _stripped(normalized: str) -> str:
    """Dropping the fragment can leave whitespace at the end ("http://a.example/? #top"): normalize once more
    without it, so that a normalized link is its own normal form."""
    return normalize_link(normalized) if normalized != normalized.rstrip() else normalized


def _short_key(value: str) -> str:
    if len(value) <= MAX_KEY_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def entry_key(entry: Mapping[str, Any]) -> str:
    """Stable dedupe key: guid/id, else the normalized link, else a hash of title and date."""
    guid = str(entry.get("id") or entry.get("guid") or "").strip()  # feedparser files <guid> under "id"
    if guid:
        return _short_key(guid)
    link = str(entry.get("link") or "").strip()
    if link:
        return _short_key(normalize_link(link))
    date = str(entry.get("published") or entry.get("updated") or "")
    digest = hashlib.sha256(f"{entry.get('title') or ''}\n{date}".encode()).hexdigest()
    return f"hash:{digest[:40]}"


# --- text -----------------------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    _BLOCK_TAGS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
    _SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.images: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "img":
            src = dict(attrs).get("src")
            if src:
                self.images.append(src)
        elif tag in self._BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP_TAGS and self._skip_depth:
            self._skip_depth -= 1
        elif tag in self._BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _extract(fragment: str) -> _TextExtractor:
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return extractor


# A start or end tag with plain attributes (what feeds' summaries are mostly made of).
_PLAIN_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
    r"""\s*/?>"""
)


def _plain_html_parts(fragment: str) -> list[str] | None:
    """What _TextExtractor collects from a fragment made only of text and plain tags, without running the HTML
    parser (~5x faster); None when the fragment has anything else (comments, declarations, a stray "<", script or
    style), which then goes to the parser."""
    parts: list[str] = []
    position = 0
    for match in _PLAIN_TAG.finditer(fragment):
        text = fragment[position:match.start()]
        if "<" in text:
            return None
        tag = match.group(2).lower()
        if tag in _TextExtractor._SKIP_TAGS:
            return None
        parts.append(html.unescape(text))
        if tag in _TextExtractor._BLOCK_TAGS:
            parts.append(" ")
        position = match.end()
    rest = fragment[position:]
    if "<" in rest:
        return None
    parts.append(html.unescape(rest))
    return parts


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    fragment = fragment or ""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())  # plain text (most titles): no parser needed
    parts = _plain_html_parts(fragment)
    if parts is None:
        parts = _extract(fragment).parts
    return " ".join(html.unescape("".join(parts)).split())


def cut_text(text: str, limit: int) -> str:
    """Cut to at most ``limit`` characters on a word boundary, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    head = text[: limit - 1]
    ends_on_word = text[limit - 1].isspace()
    space = head.rfind(" ")
    if not ends_on_word and space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,.;:-–—") + "…"


# --- titles ---------------------------------------------------------------------------------------------------

_SOURCE_SUFFIX = re.compile(r"\s+[-–—|]\s+[^-–—|]{1,60}$")


def _strip_source_suffix(title: str, source: str | None) -> str:
    if source:
        for dash in (" - ", " – ", " — ", " | "):
            suffix = dash + source
            if title.casefold().endswith(suffix.casefold()):
                return title[: -len(suffix)]
    return title


def title_fingerprint(title: str, source: str | None = None) -> str:
    """Letters and digits of the normalized title, without a " - Source" suffix (as Google News adds)."""
    return title_signature(dedupe_title(title, source)).fingerprint


# Cross-feed dedupe compares a new story with the server's recent ones, so each title is turned once into a
# ``TitleSignature`` (normalized tokens) and comparisons are set operations. Two titles are the same story when:
# - their fingerprints are equal (punctuation, case, spacing, zero-width characters and a known " - Source"
#   suffix do not count), or
# - they share at least MIN_SHARED_TOKENS words, carry the same numbers, and every word only one side has is either
#   a filler word (articles, "is"...) or a variant of a word only the other side has: a Korean particle attached
#   ("센터가" / "센터") or a typo-level spelling difference between longer words (difflib ratio >= TYPO_RATIO).
# So one meaningful word of difference ("cast" vs "filming", "story A" vs "story B") keeps two stories apart.
# A generic trailing " - Anything" (Google News adds " - Outlet") is tried off one side at a time, never both, so
# "Season 2 - what we know" and "Season 2 - release date" stay different.

MIN_SHARED_TOKENS = 3
TYPO_RATIO = 0.8
TYPO_MIN_LENGTH = 4
MAX_PARTICLE_LENGTH = 2
_TOKEN = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
_HANGUL = re.compile(r"^[\uac00-\ud7a3]+$")
FILLER_WORDS = frozenset(
    {"a", "an", "the", "is", "are", "was", "be", "been", "of", "to", "in", "on", "at", "for", "and", "as", "by",
     "with", "its", "it", "s", "this", "that", "just", "now", "officially", "reportedly", "report", "reports",
     "exclusive", "breaking", "update", "video", "photo", "photos"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TitleSignature:
    """A title prepared for comparison: tokens of the normalized title, and the same without a trailing
    " - Anything" part when it has one (``bare``)."""

    tokens: tuple[str, ...]
    fingerprint: str
    numbers: tuple[str, ...]
    bare: TitleSignature | None = None


def dedupe_title(title: str, source: str | None = None) -> str:
    """The normalized title used for dedupe (known source suffix removed); store it to skip re-normalizing."""
    return normalize_text(_strip_source_suffix(title, source))


def _signature_of_normalized(normalized: str) -> TitleSignature:
    tokens = tuple(_TOKEN.findall(normalized))
    fingerprint = "".join(tokens)
    return TitleSignature(tokens, fingerprint, tuple(_DIGITS.findall(" ".join(tokens))))


@functools.lru_cache(maxsize=8192)
def title_signature(normalized: str) -> TitleSignature:
    """The signature of a ``dedupe_title`` result (cached: a server's recent stories are compared again and
    again as feeds are polled)."""
    whole = _signature_of_normalized(normalized)
    stripped = _SOURCE_SUFFIX.sub("", normalized)
    if stripped == normalized or not stripped:
        return whole
    return replace(whole, bare=_signature_of_normalized(stripped))


def _variant_words(a: str, b: str) -> bool:
    """The same word written two ways: a Korean particle attached, or a small misspelling of a longer word."""
    short, long = sorted((a, b), key=len)
    if long.startswith(short) and len(long) - len(short) <= MAX_PARTICLE_LENGTH and len(short) >= 2:
        return bool(_HANGUL.match(long[len(short):]))
    if min(len(a), len(b)) < TYPO_MIN_LENGTH or a.isdigit() or b.isdigit():
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= TYPO_RATIO


def _same_story(a: TitleSignature, b: TitleSignature) -> bool:
    if not a.fingerprint or not b.fingerprint:
        return False
    if a.fingerprint == b.fingerprint:
        return True
    if a.numbers != b.numbers:
        return False
    set_a, set_b = set(a.tokens), set(b.tokens)
    # Cheap prefilters before any difflib: enough shared words, and similar lengths.
    if len(set_a & set_b) < MIN_SHARED_TOKENS:
        return False
    if min(len(a.fingerprint), len(b.fingerprint)) < 0.6 * max(len(a.fingerprint), len(b.fingerprint)):
        return False
    only_a = [t for t in set_a - set_b if t not in FILLER_WORDS]
    only_b = [t for t in set_b - set_a if t not in FILLER_WORDS]
    if len(only_a) > 3 or len(only_b) > 3:
        return False
    return all(any(_variant_words(x, y) for y in only_b) for x in only_a) and all(
        any(_variant_words(y, x) for x in only_a) for y in only_b
    )


def signatures_match(a: TitleSignature, b: TitleSignature) -> bool:
    """Whether two titles are the same story (see the rules above); the generic suffix is tried off one side."""
    if _same_story(a, b):
        return True
    return (a.bare is not None and _same_story(a.bare, b)) or (b.bare is not None and _same_story(a, b.bare))


# --- entries --------------------------------------------------------------------------------------------------


def _absolute(url: str, base: str | None) -> str:
    """``url`` resolved against ``base`` when it is relative (feedparser is not asked to resolve URIs: see
    parse_feed_bytes); absolute URLs, the common case, are returned as they are without urljoin."""
    if not base or url.lower().startswith(("http://", "https://")) or not url:
        return url
    return urljoin(base, url)


def _http_url(url: Any, base: str | None = None) -> str | None:
    if not isinstance(url, str):
        return None
    absolute = _absolute(url.strip(), base)
    return absolute if absolute.lower().startswith(("http://", "https://")) else None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(name)
        if isinstance(parsed, time.struct_time | tuple) and len(parsed) >= 6:
            try:
                return datetime.fromtimestamp(calendar.timegm(tuple(parsed)), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _thumbnail(entry: Mapping[str, Any], content_html: str, base: str | None = None) -> str | None:
    for thumb in entry.get("media_thumbnail") or []:
        if url := _http_url(thumb.get("url"), base):
            return url
    for media in entry.get("media_content") or []:
        is_image = media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")
        if is_image and (url := _http_url(media.get("url"), base)):
            return url
    # From feedparser, enclosures are among the links (rel="enclosure"); an "enclosures" key is read too, if stored.
    for link in [*(entry.get("enclosures") or []), *(entry.get("links") or [])]:
        if link.get("rel", "enclosure") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            if url := _http_url(link.get("href") or link.get("url"), base):
                return url
    if "<img" not in content_html.lower():
        return None
    for src in _extract(content_html).images:
        if url := _http_url(src, base):
            return url
    return None


def _content_html(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary") or ""
    contents = entry.get("content") or []
    content = contents[0].get("value", "") if contents else ""
    return f"{summary} {content}"


def build_entry(
    entry: Mapping[str, Any],
    feed_title: str | None = None,
    *,
    summary_limit: int = DEFAULT_SUMMARY_LIMIT,
    title_limit: int = DEFAULT_TITLE_LIMIT,
    base: str | None = None,
) -> FeedEntry:
    """A normalized FeedEntry from one feedparser entry; relative URLs are resolved against ``base`` (the feed's
    URL)."""
    # feedparser's FeedParserDict resolves aliases ("guid", "description", "enclosures") on every lookup, about half
    # of this function's time; the keys read here are feedparser's own names, so they are read from a plain copy.
    entry = dict(entry)
    source_info = entry.get("source") or {}
    source = html_to_text(source_info.get("title") or "") or feed_title or None
    title = cut_text(html_to_text(entry.get("title") or ""), title_limit)
    raw_summary = entry.get("summary") or ""
    if not raw_summary and entry.get("content"):
        raw_summary = entry["content"][0].get("value", "")
    link = _absolute(str(entry.get("link") or "").strip(), base)
    normalized = dedupe_title(title, source)
    return FeedEntry(
        key=entry_key(entry),
        title=title,
        link=normalize_link(link) if link else "",
        summary=cut_text(html_to_text(raw_summary), summary_limit),
        published=_published(entry),
        source=source,
        source_url=_http_url(source_info.get("href") or source_info.get("url"), base),
        thumbnail=_thumbnail(entry, _content_html(entry), base),
        title_fingerprint=title_signature(normalized).fingerprint,
        title_normalized=normalized,
    )


# --- bytes -> feed --------------------------------------------------------------------------------------------

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip()).name
    except LookupError:
        return None
    return "cp949" if codec in ("euc_kr", "ks_c_5601_1987") else codec


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def detect_encoding(body: bytes, content_type: str | None) -> str:
    """The encoding to decode a feed with (see the module docstring for the order)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if _decodes(body, "utf-8"):
        return "utf-8"
    http_charset = _CHARSET.search(content_type or "")
    declaration = _XML_DECLARATION.match(body)
    declared = _DECLARED_ENCODING.search(declaration.group(0)) if declaration else None
    candidates = (
        _codec(http_charset.group(1) if http_charset else None),
        _codec(declared.group(1).decode("ascii") if declared else None),
        "cp949",
    )
    for candidate in candidates:
        if candidate and candidate not in ("utf_8", "ascii") and _decodes(body, candidate):
            return candidate
    return "windows-1252"


# A numeric character reference, optionally followed by a second one (a UTF-16 surrogate pair written as two).
_CHARREFS = re.compile(rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});(?:&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});)?")


def _charref_value(ref: bytes) -> int:
    return int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)


def _valid_charref(value: int) -> bytes:
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return b"&#xFFFD;"
    return b"&#x%X;" % value


def _fix_charref(match: re.Match[bytes]) -> bytes:
    first = _charref_value(match[1])
    if match[2] is None:
        return _valid_charref(first)
    second = _charref_value(match[2])
    if 0xD800 <= first <= 0xDBFF and 0xDC00 <= second <= 0xDFFF:
        return b"&#x%X;" % (0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    return _valid_charref(first) + _valid_charref(second)


def _as_utf8_document(body: bytes, encoding: str) -> bytes:
    text = body.decode(encoding, errors="replace").lstrip("\ufeff")
    utf8 = text.encode("utf-8")
    if b"&#" in utf8:
        # Surrogates written as references ("&#xD83D;&#xDE00;", JavaScript-made feeds) or beyond U+10FFFF make
        # feedparser's fallback parser raise, losing the whole feed: pairs are joined, the rest become U+FFFD.
        utf8 = _CHARREFS.sub(_fix_charref, utf8)
    return _XML_DECLARATION.sub(b'<?xml version="1.0" encoding="utf-8"?>', utf8, count=1)


def _sort_oldest_first(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Feeds list newest first: reverse document order, then sort by date when every entry has one."""
    entries = entries[::-1]
    if entries and all(entry.published for entry in entries):
        entries.sort(key=lambda entry: entry.published or datetime.min.replace(tzinfo=UTC))
    return entries


def parse_feed_bytes(
    body: bytes, content_type: str | None, url: str, *, summary_limit: int = DEFAULT_SUMMARY_LIMIT
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes; raise FeedParseError when nothing usable is found. CPU-bound."""
    if not body or not body.strip():
        raise FeedParseError("empty_body", "the response body is empty")
    encoding = detect_encoding(body, content_type)
    document = _as_utf8_document(body, encoding)
    # sanitize_html=False: every text field goes through html_to_text (all markup dropped, script/style skipped)
    # and only http(s) image URLs are kept, so feedparser's sanitizer would be work thrown away (~20 % of a parse).
    # No content-location and resolve_relative_uris=False: told the feed's URL, feedparser runs urljoin on every
    # link and re-parses every HTML field to resolve the URIs in it (~30 % of a parse); the few URLs kept (the
    # entry's link, its source, one image) are resolved here instead (`base`). xml:base is still honoured.
    try:
        result = feedparser.parse(
            io.BytesIO(document),
            response_headers={"content-type": "application/xml; charset=utf-8"},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser's fallback parser raises on some broken markup ("<item<link</item")
        raise FeedParseError("malformed", f"the feed could not be parsed: {type(exc).__name__}: {exc}") from exc
    version = result.get("version") or ""
    raw_entries = result.get("entries") or []
    problem = str(result.get("bozo_exception")) if result.get("bozo") else None
    if not version and not raw_entries:
        if _HTML_START.match(document) or "html" in (content_type or "").lower():
            raise FeedParseError("not_a_feed", "the page is HTML, not an RSS or Atom feed")
        if not document.lstrip().startswith(b"<"):
            raise FeedParseError("not_a_feed", "the response is not XML")
        if problem:
            raise FeedParseError("malformed", f"the feed could not be parsed: {problem}")
        raise FeedParseError("not_a_feed", "no RSS or Atom feed found in the response")
    feed_info = result.get("feed") or {}
    feed_title = html_to_text(feed_info.get("title") or "")
    base = url or None
    entries = [build_entry(e, feed_title or None, summary_limit=summary_limit, base=base) for e in raw_entries]
    return ParsedFeed(
        title=feed_title,
        link=_http_url(feed_info.get("link"), base),
        entries=_sort_oldest_first(entries),
        version=version,
        encoding=encoding,
        problem=problem,
    )
