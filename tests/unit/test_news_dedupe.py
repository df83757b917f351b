"""Cross-feed dedupe precision: the same story under two titles merges; one meaningful word of difference does not."""

from __future__ import annotations

import pytest

from bot.domain.feed_entries import dedupe_title, signatures_match, title_signature


def titles_near_identical(a: str, b: str) -> bool:
    """Same story under two titles, as the cross-feed dedupe compares them (bot.services.news.dedupe)."""
    return signatures_match(title_signature(dedupe_title(a)), title_signature(dedupe_title(b)))

SAME_STORY = [
    # Google News "Title - Outlet" vs the outlet's own feed
    ("Trauma Code season 2 cast confirmed - Soompi", "Trauma Code season 2 cast confirmed"),
    ("중증외상센터 시즌2 캐스팅 확정 - 스타뉴스", "중증외상센터 시즌2 캐스팅 확정"),
    ("'Trauma Code' Season 2 Confirmed: Ju Ji-hoon returns - Variety",
     "'Trauma Code' Season 2 Confirmed: Ju Ji-hoon returns"),
    # punctuation, case, whitespace, zero-width characters, soft hyphens, full-width forms
    ("Trauma Code: Season 2 confirmed!", "trauma code season 2 CONFIRMED"),
    ("Trauma  Code season\u00a02 confirmed", "Trauma Code season 2 confirmed"),
    ("Trauma\u200b Code season 2 con\u00adfirmed", "Trauma Code season 2 confirmed"),
    ("Ｔｒａｕｍａ Ｃｏｄｅ ｓｅａｓｏｎ ２ confirmed", "Trauma Code season 2 confirmed"),
    ("“Trauma Code” season 2 — confirmed…", "\"Trauma Code\" season 2 confirmed"),
    ("중증외상센터 시즌 2 제작 확정…주지훈 다시 백강혁으로", "중증외상센터 시즌2 제작 확정, 주지훈 다시 백강혁으로"),
    ("중증외상센터\u200b 시즌2 제작 확정", "중증외상센터 시즌2 제작확정"),
    # filler words and small spelling / particle differences
    ("Netflix renews Trauma Code for a second season", "Netflix renews 'Trauma Code' for second season"),
    ("Trauma Code season 2 filming confirmed", "Trauma Code season 2 filming confimred"),
    ("주지훈 중증외상센터 시즌2 출연 확정", "주지훈이 중증외상센터 시즌2 출연 확정"),
]

DIFFERENT_STORIES = [
    ("Trauma Code season 2 cast confirmed", "Trauma Code season 2 filming confirmed"),
    ("Season 2 story A", "Season 2 story B"),
    ("Trauma Code season 2 story A", "Trauma Code season 2 story B"),
    ("Trauma Code season 2 confirmed", "Trauma Code season 3 confirmed"),
    ("Trauma Code season 2 confirmed", "Trauma Code season 2 not confirmed"),
    ("Trauma Code season 2 premiere date", "Trauma Code season 2 premiere poster"),
    ("Trauma Code season 2 - what we know", "Trauma Code season 2 - release date"),
    ("Trauma Code season 2 confirmed", "Weekend box office roundup"),
    ("중증외상센터 시즌2 캐스팅 확정", "중증외상센터 시즌2 촬영 확정"),
    ("중증외상센터 시즌2 이야기 가", "중증외상센터 시즌2 이야기 나"),
    ("중증외상센터 시즌2 제작 확정", "중증외상센터 시즌2 제작 확인"),
    ("중증외상센터 시즌2 제작 확정", "중증외상센터 시즌3 제작 확정"),
    ("Season 2", "Season 3"),
    ("", ""),
    ("!!!", "???"),
]


@pytest.mark.parametrize(("a", "b"), SAME_STORY)
def test_same_story_merges(a, b):
    assert titles_near_identical(a, b)
    assert titles_near_identical(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_STORIES)
def test_one_meaningful_word_keeps_stories_apart(a, b):
    assert not titles_near_identical(a, b)
    assert not titles_near_identical(b, a)


def test_known_source_suffix_is_removed_before_comparing():
    """The entry's <source> name is stripped exactly, also when two outlets' suffixes differ."""
    variety = title_signature(dedupe_title("Season 2 cast confirmed - Variety", "Variety"))
    deadline = title_signature(dedupe_title("Season 2 cast confirmed - Deadline", "Deadline"))
    assert variety.fingerprint == deadline.fingerprint == "season2castconfirmed"
    assert signatures_match(variety, deadline)


def test_signatures_are_cached_per_normalized_title():
    normalized = dedupe_title("Trauma Code season 2 cast confirmed - Soompi")
    assert title_signature(normalized) is title_signature(normalized)
