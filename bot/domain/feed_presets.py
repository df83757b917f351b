"""News feed presets: Google News search RSS URLs for a show's title and Season 2 terms."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote_plus

GOOGLE_NEWS_SEARCH = "https://news.google.com/rss/search"


@dataclass(frozen=True, slots=True)
class GoogleNewsLocale:
    hl: str
    gl: str
    ceid: str


GOOGLE_NEWS_LOCALES: dict[str, GoogleNewsLocale] = {
    "en": GoogleNewsLocale(hl="en-US", gl="US", ceid="US:en"),
    "ko": GoogleNewsLocale(hl="ko", gl="KR", ceid="KR:ko"),
}
_LOCALE_ALIASES = {"en-us": "en", "ko-kr": "ko"}


def google_news_url(query: str, lang: str) -> str:
    """Google News search RSS URL for ``query`` in ``lang`` ("en", "en-US", "ko" or "ko-KR"); ValueError otherwise."""
    key = lang.strip().lower()
    locale = GOOGLE_NEWS_LOCALES.get(_LOCALE_ALIASES.get(key, key))
    if locale is None:
        raise ValueError(f"unsupported Google News language: {lang!r}")
    if not query.strip():
        raise ValueError("the search query is empty")
    return (
        f"{GOOGLE_NEWS_SEARCH}?q={quote_plus(query.strip())}"
        f"&hl={locale.hl}&gl={locale.gl}&ceid={quote_plus(locale.ceid, safe=':')}"
    )


@dataclass(frozen=True, slots=True)
class PresetFeed:
    url: str
    label: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _PresetQuery:
    lang: str
    query: str
    label: str
    keywords: tuple[str, ...]


_EN_SEASON_KEYWORDS = ("season 2", "second season", "renewal", "renewed", "renews", "sequel")
_KO_SEASON_KEYWORDS = ("시즌2", "시즌 2", "속편", "후속작", "제작 확정")

@dataclass(frozen=True, slots=True)
class PresetShow:
    """A show `/news preset` offers: its key (the command's choice value) and the name members see."""

    key: str
    title: str


@dataclass(frozen=True, slots=True)
class _Show:
    title: str
    queries: tuple[_PresetQuery, ...]


_SHOWS: dict[str, _Show] = {
    "trauma-code": _Show(
        "Trauma Code: Heroes on Call",
        (
            _PresetQuery(
                "en", '"Trauma Code: Heroes on Call"', "Google News (en): Trauma Code: Heroes on Call",
                _EN_SEASON_KEYWORDS,
            ),
            _PresetQuery(
                "en", '"Trauma Code" "season 2"', "Google News (en): Trauma Code season 2", _EN_SEASON_KEYWORDS
            ),
            _PresetQuery("ko", "중증외상센터 시즌2", "Google News (ko): 중증외상센터 시즌2", _KO_SEASON_KEYWORDS),
            _PresetQuery("ko", '"중증외상센터 시즌 2"', "Google News (ko): 중증외상센터 시즌 2", _KO_SEASON_KEYWORDS),
        ),
    ),
}


def preset_shows() -> list[PresetShow]:
    """The shows with news presets, by key."""
    return [PresetShow(key, show.title) for key, show in sorted(_SHOWS.items())]


def news_presets(show_key: str) -> list[PresetFeed]:
    """The preset feeds for a show, with suggested keywords; KeyError for an unknown show."""
    queries = _SHOWS[show_key.strip().lower()].queries
    return [PresetFeed(google_news_url(q.query, q.lang), q.label, q.keywords) for q in queries]
