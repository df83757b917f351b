"""Names for episode threads and forum tags, within Discord's length limits."""

from __future__ import annotations

THREAD_NAME_LIMIT = 100
TAG_NAME_LIMIT = 20
SEPARATOR = " · "
ELLIPSIS = "…"
_SHOW_NAME_KEPT = 20
"""How much of the show name survives when even the suffix must be shortened."""


def episode_label(season: int, episode: int) -> str:
    return f"S{season}E{episode}"


def episode_thread_name(short_name: str, season: int, episode: int, *, suffix: str = "Discussion") -> str:
    """``Trauma Code · S1E3 · Discussion``, at most 100 characters.

    When too long the show name is shortened first (with an ellipsis); the suffix only once the show name is
    down to 20 characters. The episode label is never cut.
    """
    show, label, suffix = _clean(short_name), episode_label(season, episode), _clean(suffix)
    name = _join(show, label, suffix)
    if len(name) <= THREAD_NAME_LIMIT:
        return name
    room_for_show = THREAD_NAME_LIMIT - len(_join(label, suffix)) - len(SEPARATOR)
    if room_for_show >= _SHOW_NAME_KEPT:
        return _join(truncate(show, room_for_show), label, suffix)
    show = truncate(show, _SHOW_NAME_KEPT)
    room_for_suffix = THREAD_NAME_LIMIT - len(_join(show, label)) - len(SEPARATOR)
    return _join(show, label, truncate(suffix, room_for_suffix))


def show_tag_name(short_name: str) -> str:
    """Forum tag for a show: its short name, cut to Discord's 20 characters."""
    return truncate(_clean(short_name), TAG_NAME_LIMIT)


def episode_tag_name(season: int, episode: int) -> str:
    """Forum tag for an episode, shared by every show: ``S1E3``."""
    return episode_label(season, episode)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def _clean(text: str) -> str:
    return " ".join(text.split())


def _join(*parts: str) -> str:
    return SEPARATOR.join(part for part in parts if part)
