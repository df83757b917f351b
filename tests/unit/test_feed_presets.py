from urllib.parse import parse_qs, urlsplit

import pytest

from bot.domain.feed_presets import PresetShow, google_news_url, news_presets, preset_shows
from bot.domain.news_match import match_entry, parse_keyword


@pytest.mark.parametrize(
    ("query", "lang", "expected"),
    [
        (
            '"Trauma Code" "season 2"',
            "en",
            "https://news.google.com/rss/search?q=%22Trauma+Code%22+%22season+2%22&hl=en-US&gl=US&ceid=US:en",
        ),
        (
            "중증외상센터 시즌2",
            "ko",
            "https://news.google.com/rss/search?q=%EC%A4%91%EC%A6%9D%EC%99%B8%EC%83%81%EC%84%BC%ED%84%B0"
            "+%EC%8B%9C%EC%A6%8C2&hl=ko&gl=KR&ceid=KR:ko",
        ),
        ("a&b=c#d", "en-US", "https://news.google.com/rss/search?q=a%26b%3Dc%23d&hl=en-US&gl=US&ceid=US:en"),
        ("x", "ko-KR", "https://news.google.com/rss/search?q=x&hl=ko&gl=KR&ceid=KR:ko"),
    ],
)
def test_google_news_url(query, lang, expected):
    url = google_news_url(query, lang)
    assert url == expected
    assert parse_qs(urlsplit(url).query)["q"] == [query]


@pytest.mark.parametrize(("query", "lang"), [("x", "fr"), ("", "en"), ("   ", "ko")])
def test_google_news_url_rejects_bad_input(query, lang):
    with pytest.raises(ValueError):
        google_news_url(query, lang)


def test_trauma_code_presets():
    assert PresetShow("trauma-code", "Trauma Code: Heroes on Call") in preset_shows()
    presets = news_presets("trauma-code")
    queries = {(parse_qs(urlsplit(p.url).query)["q"][0], parse_qs(urlsplit(p.url).query)["hl"][0]) for p in presets}
    assert ('"Trauma Code: Heroes on Call"', "en-US") in queries
    assert ('"Trauma Code" "season 2"', "en-US") in queries
    assert ("중증외상센터 시즌2", "ko") in queries
    assert ('"중증외상센터 시즌 2"', "ko") in queries
    assert len({p.url for p in presets}) == len(presets)
    for preset in presets:
        assert preset.label
        assert preset.keywords
        for raw in preset.keywords:
            parse_keyword(raw)  # every suggested keyword is valid


@pytest.mark.parametrize(
    ("title", "lang", "matched"),
    [
        ("Trauma Code Season 2 is happening", "en", True),
        ("Netflix renews Trauma Code", "en", True),
        ("Trauma Code star attends awards", "en", False),
        ("중증외상센터 시즌 2 제작 확정", "ko", True),
        ("중증외상센터 속편 나온다", "ko", True),
        ("주지훈 신작 소식", "ko", False),
    ],
)
def test_preset_keywords_filter_titles(title, lang, matched):
    preset = next(p for p in news_presets("trauma-code") if f"hl={'en-US' if lang == 'en' else 'ko'}&" in p.url)
    assert match_entry(preset.keywords, title, "").matched is matched


def test_unknown_show():
    with pytest.raises(KeyError):
        news_presets("no-such-show")
