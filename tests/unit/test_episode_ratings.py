from collections import Counter

import pytest

from bot.domain.episode_ratings import RatingSummary, best_episode, rating_bar


def summary(*votes: int) -> RatingSummary:
    """The summary of these individual votes (the database hands over per-rating counts)."""
    return RatingSummary.from_histogram(Counter(votes))


@pytest.mark.parametrize(
    ("votes", "count", "average", "histogram"),
    [
        ([], 0, None, {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}),
        ([5], 1, 5.0, {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}),
        ([5, 4, 4, 1], 4, 3.5, {1: 1, 2: 0, 3: 0, 4: 2, 5: 1}),
        (iter([2, 3, 3]), 3, 8 / 3, {1: 0, 2: 1, 3: 2, 4: 0, 5: 0}),
        ((n % 5 + 1 for n in range(1000)), 1000, 3.0, {1: 200, 2: 200, 3: 200, 4: 200, 5: 200}),
    ],
)
def test_summary_from_per_rating_counts(votes, count, average, histogram):
    result = summary(*votes)
    assert (result.count, result.histogram) == (count, histogram)
    assert result.average == pytest.approx(average) if average is not None else result.average is None


@pytest.mark.parametrize("votes", [[0], [6], [3, -1]])
def test_summary_refuses_ratings_outside_one_to_five(votes):
    with pytest.raises(ValueError, match="whole numbers"):
        summary(*votes)


def test_counted_votes_make_the_same_summary_and_negative_counts_are_refused():
    assert RatingSummary.from_histogram({5: 2, 3: 1}) == summary(5, 3, 5)
    with pytest.raises(ValueError, match="negative"):
        RatingSummary.from_histogram({5: -1})


@pytest.mark.parametrize(
    ("average", "width", "bar"),
    [
        (None, 10, "░░░░░░░░░░"),
        (0.0, 10, "░░░░░░░░░░"),
        (1.0, 10, "██░░░░░░░░"),
        (3.5, 10, "███████░░░"),
        (4.24, 10, "████████░░"),
        (4.25, 10, "█████████░"),  # 8.5 cells round half up
        (5.0, 10, "██████████"),
        (4.0, 5, "████░"),
        (9.0, 5, "█████"),
        (2.5, 0, ""),
    ],
)
def test_rating_bar(average, width, bar):
    assert rating_bar(average, width) == bar


@pytest.mark.parametrize(
    ("summaries", "min_votes", "best"),
    [
        ({}, 3, None),
        ({1: summary(5, 5)}, 3, None),
        ({1: summary(4, 4, 4), 2: summary(5, 5, 4), 3: summary(3, 3, 3)}, 3, 2),
        # a perfect score with too few votes does not count
        ({1: summary(4, 4, 4), 2: summary(5, 5)}, 3, 1),
        ({1: summary(4, 4, 4), 2: summary(5, 5)}, 2, 2),
        # equal averages: more votes wins
        ({1: summary(4, 4, 4), 2: summary(4, 4, 4, 4, 4, 4)}, 3, 2),
        # equal averages made of different votes are equal (2/3 + 1 vs 4/6 + 1)
        ({1: summary(5, 2, 3, 5, 2, 3), 2: summary(5, 2, 3, 4, 3, 3)}, 3, 1),
        ({7: summary(5, 5, 5), 3: summary(5, 5, 5)}, 3, 3),
        # keys may be (season, episode)
        ({(2, 1): summary(5, 5, 5), (1, 8): summary(5, 5, 5)}, 3, (1, 8)),
        ({(1, 1): summary(3, 3, 3), (1, 2): summary(1, 2, 3)}, 0, (1, 1)),
        ({(1, 1): summary(), (1, 2): summary(1)}, 0, (1, 2)),
    ],
)
def test_best_episode(summaries, min_votes, best):
    assert best_episode(summaries, min_votes=min_votes) == best
