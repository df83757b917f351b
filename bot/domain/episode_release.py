"""When each episode's discussion thread opens, given the season's release pace."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo

from bot.domain.episode_models import EpisodeSpec, ReleasePace


def thread_open_times(
    episodes: Iterable[EpisodeSpec],
    pace: ReleasePace | str,
    release_at: datetime | None = None,
    *,
    zone: tzinfo | None = None,
) -> list[tuple[EpisodeSpec, datetime]]:
    """Each episode with the aware UTC instant its thread opens, in episode order.

    - ``all_at_once``: every thread opens at ``release_at``;
    - ``daily``: the first episode at ``release_at``, the next one day later at the same wall-clock time in
      ``zone`` (default: ``release_at``'s own zone), so a daily pace keeps its local hour across DST changes;
    - ``on_air``: each thread at its episode's own air time.

    ``release_at`` defaults to the earliest air time. No thread opens before its episode airs. Raises ValueError
    for an unknown pace or a naive ``release_at``.
    """
    pace = ReleasePace(pace)
    ordered = sorted(episodes, key=lambda episode: episode.key)
    if not ordered:
        return []
    if release_at is None:
        release_at = min(episode.airs_at for episode in ordered)
    if release_at.tzinfo is None:
        raise ValueError("release_at must be timezone-aware")
    if pace is ReleasePace.ON_AIR:
        return [(episode, episode.airs_at.astimezone(UTC)) for episode in ordered]
    if pace is ReleasePace.ALL_AT_ONCE:
        planned = [release_at] * len(ordered)
    else:
        planned = _daily(release_at, len(ordered), zone or release_at.tzinfo)
    return [(episode, max(at, episode.airs_at).astimezone(UTC)) for episode, at in zip(ordered, planned, strict=True)]


def _daily(first: datetime, count: int, zone: tzinfo) -> list[datetime]:
    """``count`` instants a day apart on the wall clock of ``zone``; a time skipped by DST moves forward."""
    wall = first.astimezone(zone).replace(tzinfo=None)
    return [(wall + timedelta(days=day)).replace(tzinfo=zone).astimezone(UTC) for day in range(count)]
