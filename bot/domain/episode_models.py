"""Value types shared by the episode modules: episodes, seasons, show presets, release pace, progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_SEASON = 100
MAX_EPISODE = 200
MAX_TITLE_LENGTH = 100

EpisodeKey = tuple[int, int]
"""(season, episode): orders episodes the way a viewer watches them."""


class ReleasePace(StrEnum):
    """How a season's discussion threads open."""

    ALL_AT_ONCE = "all_at_once"
    """Binge release: every thread opens at the season's release."""
    DAILY = "daily"
    """One thread a day, in episode order, starting at the release."""
    ON_AIR = "on_air"
    """Each thread opens at its own episode's air time."""


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    """One episode as a preset or an imported schedule describes it; ``airs_at`` is aware UTC."""

    number: int
    title: str | None
    airs_at: datetime
    season: int = 1

    @property
    def key(self) -> EpisodeKey:
        return (self.season, self.number)


@dataclass(frozen=True, slots=True)
class SeasonPreset:
    number: int
    episodes: list[EpisodeSpec]
    release_pace: ReleasePace
    announced_premiere: datetime | None = None
    """A season announced before its episodes are listed: its premiere (None with no episodes: to be announced)."""
    announced_count: int | None = None
    """... and how many episodes it will have, when known."""

    @property
    def release_at(self) -> datetime | None:
        """The earliest air time in the season (its announced premiere when no episode is listed; None: TBA)."""
        if not self.episodes:
            return self.announced_premiere
        return min(episode.airs_at for episode in self.episodes)

    @property
    def episode_count(self) -> int | None:
        return len(self.episodes) if self.episodes else self.announced_count


@dataclass(frozen=True, slots=True)
class ShowPreset:
    key: str
    title: str
    original_title: str | None
    short_name: str
    seasons: list[SeasonPreset]
    platform: str | None = None

    def season(self, number: int) -> SeasonPreset | None:
        return next((season for season in self.seasons if season.number == number), None)


class SpoilerMode(StrEnum):
    """Whom /episode thread warns before linking an episode beyond what they recorded watching."""

    TRACKED = "tracked"
    """Only members who recorded progress for the show (the default: fans opt in by recording progress)."""
    EVERYONE = "everyone"
    """Also members who recorded nothing (they count as having watched nothing)."""
    OFF = "off"
    """Nobody."""


def spoiler_warning_due(mode: SpoilerMode | str, season: int, episode: int, progress: EpisodeKey | None) -> bool:
    """Whether a member asking for an episode is warned first, under the server's spoiler mode."""
    mode = SpoilerMode(mode)
    if mode is SpoilerMode.OFF or (progress is None and mode is SpoilerMode.TRACKED):
        return False
    return is_beyond_progress(season, episode, progress)


def is_beyond_progress(season: int, episode: int, progress: EpisodeKey | None) -> bool:
    """Whether an episode lies past what a member has recorded watching.

    No recorded progress counts as nothing watched, so every episode is beyond it: spoiler safety errs on the
    side of asking.
    """
    if progress is None:
        return True
    return (season, episode) > tuple(progress)
