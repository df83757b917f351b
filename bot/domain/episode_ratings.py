"""Episode ratings: 1-5 votes summarised, drawn as a bar, and the season's best episode."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import TypeVar

MIN_RATING = 1
MAX_RATING = 5
DEFAULT_MIN_VOTES = 3
BAR_FILLED = "█"
BAR_EMPTY = "░"

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RatingSummary:
    count: int
    average: float | None
    """None when nobody has voted."""
    histogram: dict[int, int]
    """Votes per rating, with every rating from 1 to 5 present."""

    @classmethod
    def from_histogram(cls, votes_per_rating: Mapping[int, int]) -> RatingSummary:
        """Build from per-rating counts (e.g. a GROUP BY); raises ValueError for ratings outside 1-5."""
        if any(rating not in range(MIN_RATING, MAX_RATING + 1) for rating in votes_per_rating):
            raise ValueError(f"ratings must be whole numbers from {MIN_RATING} to {MAX_RATING}")
        if any(votes < 0 for votes in votes_per_rating.values()):
            raise ValueError("vote counts cannot be negative")
        histogram = {rating: votes_per_rating.get(rating, 0) for rating in range(MIN_RATING, MAX_RATING + 1)}
        count = sum(histogram.values())
        average = _exact_average(histogram, count)
        return cls(count, None if average is None else float(average), histogram)


def rating_bar(average: float | None, width: int = 10) -> str:
    """``████████░░`` for 4.0 of 5: filled cells rounded half up, empty when there is no average."""
    filled = 0 if average is None else floor(average / MAX_RATING * width + 0.5)
    filled = min(max(filled, 0), width)
    return BAR_FILLED * filled + BAR_EMPTY * (width - filled)


def best_episode(summaries: Mapping[K, RatingSummary], *, min_votes: int = DEFAULT_MIN_VOTES) -> K | None:
    """The key with the highest average among those with at least ``min_votes`` votes.

    Ties go to the one with more votes, then to the lower key (the earlier episode). None when no episode has
    enough votes.
    """
    eligible = [(key, summary) for key, summary in summaries.items() if summary.count >= max(min_votes, 1)]
    if not eligible:
        return None

    def rank(item: tuple[K, RatingSummary]) -> tuple[Fraction, int, K]:
        key, summary = item
        average = _exact_average(summary.histogram, summary.count) or Fraction(0)  # eligible: never None
        return -average, -summary.count, key

    return min(eligible, key=rank)[0]


def _exact_average(histogram: Mapping[int, int], count: int) -> Fraction | None:
    """Exact, so that equal averages compare equal however many votes make them up."""
    if not count:
        return None
    return Fraction(sum(rating * votes for rating, votes in histogram.items()), count)
