import pytest

from bot.domain.episode_naming import (
    TAG_NAME_LIMIT,
    THREAD_NAME_LIMIT,
    episode_label,
    episode_tag_name,
    episode_thread_name,
    show_tag_name,
    truncate,
)


@pytest.mark.parametrize(("season", "episode", "label"), [(1, 3, "S1E3"), (2, 10, "S2E10"), (100, 200, "S100E200")])
def test_episode_label_and_tag(season, episode, label):
    assert episode_label(season, episode) == label
    assert episode_tag_name(season, episode) == label


@pytest.mark.parametrize(
    ("show", "season", "episode", "suffix", "expected"),
    [
        ("Trauma Code", 1, 3, "Discussion", "Trauma Code · S1E3 · Discussion"),
        ("중증외상센터", 1, 8, "토론", "중증외상센터 · S1E8 · 토론"),
        ("  Trauma \n Code ", 2, 1, " Live  chat ", "Trauma Code · S2E1 · Live chat"),
        ("Trauma Code", 1, 3, "", "Trauma Code · S1E3"),
        ("", 1, 3, "Discussion", "S1E3 · Discussion"),
        ("x" * 80, 1, 3, "Discussion", "x" * 80 + " · S1E3 · Discussion"),
        ("x" * 81, 1, 3, "Discussion", "x" * 79 + "… · S1E3 · Discussion"),
        ("Trauma Code " * 10, 1, 3, "Discussion", "Trauma Code " * 6 + "Trauma… · S1E3 · Discussion"),
        ("가" * 150, 100, 200, "Discussion", "가" * 75 + "… · S100E200 · Discussion"),
        ("Show", 1, 3, "s" * 150, "Show · S1E3 · " + "s" * 85 + "…"),
        ("x" * 60, 1, 3, "s" * 150, "x" * 19 + "… · S1E3 · " + "s" * 69 + "…"),
    ],
)
def test_episode_thread_name(show, season, episode, suffix, expected):
    name = episode_thread_name(show, season, episode, suffix=suffix)
    assert name == expected
    assert len(name) <= THREAD_NAME_LIMIT


def test_default_suffix_is_discussion():
    assert episode_thread_name("Trauma Code", 1, 3) == "Trauma Code · S1E3 · Discussion"


@pytest.mark.parametrize("show_length", range(70, 130, 7))
@pytest.mark.parametrize("suffix_length", [0, 10, 60, 90, 120])
def test_thread_name_never_exceeds_the_limit_and_keeps_the_label(show_length, suffix_length):
    name = episode_thread_name("n" * show_length, 12, 150, suffix="s" * suffix_length)
    assert len(name) <= THREAD_NAME_LIMIT
    assert " · S12E150" in name


@pytest.mark.parametrize(
    ("show", "tag"),
    [
        ("Trauma Code", "Trauma Code"),
        ("중증외상센터", "중증외상센터"),
        ("Trauma Code: Heroes on Call", "Trauma Code: Heroes…"),
        ("Trauma  Code:\tHeroes", "Trauma Code: Heroes"),
        ("x" * 20, "x" * 20),
        ("x" * 21, "x" * 19 + "…"),
    ],
)
def test_show_tag_name_fits_discord_tag_limit(show, tag):
    assert show_tag_name(show) == tag
    assert len(tag) <= TAG_NAME_LIMIT


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("abc", 3, "abc"), ("abcd", 3, "ab…"), ("ab cd", 4, "ab…"), ("", 1, "")],
)
def test_truncate(text, limit, expected):
    assert truncate(text, limit) == expected
