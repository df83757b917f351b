"""RecentTitles (bot.services.news.dedupe) indexes a server's recent story titles so a new title is compared only
with those that could match: it must decide exactly as comparing with every recent title did, evictions included."""

from __future__ import annotations

import random

import pytest

from bot.domain.feed_entries import dedupe_title, signatures_match, title_signature
from bot.services.news.dedupe import RecentTitles

WORDS = ["trauma", "code", "season", "cast", "confirmed", "filming", "poster", "the", "a", "teaser", "confimred",
         "중증외상센터", "시즌", "제작", "확정", "확정이", "주지훈", "주지훈이", "netflix", "director"]
SUFFIXES = ["", "", " - Soompi", " - 스타뉴스", " | Variety", " - what we know"]


def random_title(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(2, 6))
    if rng.random() < 0.6:
        words.insert(rng.randrange(len(words) + 1), str(rng.choice([1, 2, 2, 3, 10, 2025])))
    return " ".join(words) + rng.choice(SUFFIXES)


def naive_fresh(history: list[str], titles: list[str], limit: int) -> list[str]:
    recent = [title_signature(dedupe_title(t)) for t in history][:limit]
    fresh = []
    for title in titles:
        signature = title_signature(dedupe_title(title))
        if any(signatures_match(signature, other) for other in recent):
            continue
        recent.insert(0, signature)
        del recent[limit:]
        fresh.append(title)
    return fresh


def indexed_fresh(history: list[str], titles: list[str], limit: int) -> list[str]:
    recent = RecentTitles((title_signature(dedupe_title(t)) for t in history), limit=limit)
    fresh = []
    for title in titles:
        signature = title_signature(dedupe_title(title))
        if recent.matches(signature):
            continue
        recent.add_newest(signature)
        fresh.append(title)
    return fresh


@pytest.mark.parametrize("seed", range(40))
def test_the_index_decides_exactly_as_comparing_with_every_recent_title(seed):
    rng = random.Random(seed)
    limit = rng.choice([1, 3, 8, 100])
    history = [random_title(rng) for _ in range(rng.randint(0, 30))]  # newest first
    titles = [random_title(rng) for _ in range(60)]
    titles += [rng.choice(titles) + rng.choice(SUFFIXES) for _ in range(20)]  # repeats and suffixed twins
    assert indexed_fresh(history, titles, limit) == naive_fresh(history, titles, limit)


def test_a_title_evicted_from_the_window_no_longer_blocks_its_twin():
    recent = RecentTitles([title_signature(dedupe_title("Trauma Code season 2 cast confirmed"))], limit=1)
    twin = title_signature(dedupe_title("Trauma Code season 2 cast confirmed - Soompi"))
    assert recent.matches(twin)
    recent.add_newest(title_signature(dedupe_title("Weekend box office roundup")))
    assert not recent.matches(twin)
