from datetime import UTC, datetime

import pytest

from bot.domain.episode_models import ReleasePace
from bot.domain.episode_presets import PresetError, list_presets, load_preset, parse_preset

MINIMAL = """\
title = "Show"
short_name = "Show"
zone = "Asia/Seoul"

[[season]]
number = 1
release_pace = "on_air"

[[episode]]
season = 1
episode = 1
airs = "2025-01-24 17:00"
"""


def test_trauma_code_preset_matches_the_netflix_release():
    preset = load_preset("trauma-code")
    assert (preset.key, preset.title, preset.original_title, preset.short_name, preset.platform) == (
        "trauma-code",
        "Trauma Code: Heroes on Call",
        "중증외상센터",
        "Trauma Code",
        "Netflix",
    )
    [season] = preset.seasons
    assert (season.number, season.release_pace) == (1, ReleasePace.ALL_AT_ONCE)
    assert [episode.number for episode in season.episodes] == list(range(1, 9))
    assert {episode.season for episode in season.episodes} == {1}
    release = datetime(2025, 1, 24, 8, 0, tzinfo=UTC)  # 17:00 KST
    assert {episode.airs_at for episode in season.episodes} == {release}
    assert season.release_at == release
    assert all(episode.airs_at.utcoffset().total_seconds() == 0 for episode in season.episodes)
    assert preset.season(1) is season
    assert preset.season(2) is None


@pytest.mark.parametrize("key", list_presets())
def test_every_shipped_preset_loads(key):
    assert load_preset(key).key == key


def test_shipped_presets_include_trauma_code():
    assert "trauma-code" in list_presets()


@pytest.mark.parametrize("key", [" Trauma-Code ", "TRAUMA-CODE"])
def test_preset_keys_are_case_and_space_insensitive(key):
    assert load_preset(key).key == "trauma-code"


@pytest.mark.parametrize("key", ["nope", "../episode_presets", "trauma-code.toml", "", "trauma code"])
def test_unknown_preset_names_the_file(key):
    with pytest.raises(PresetError) as caught:
        load_preset(key)
    assert "no such preset" in str(caught.value)
    assert caught.value.filename.endswith(".toml")


def replaced(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("title = ", "Invalid value"),
        (replaced('title = "Show"\n', ""), "missing 'title'"),
        (replaced('title = "Show"', "title = 3"), "'title' must be a non-empty string"),
        (replaced('short_name = "Show"', 'short_name = "   "'), "'short_name' must be a non-empty string"),
        (replaced('short_name = "Show"', f'short_name = "{"s" * 51}"'), "'short_name' is longer than 50"),
        (replaced('zone = "Asia/Seoul"', 'zone = "Asia/Nowhere"'), "unknown zone 'Asia/Nowhere'"),
        (replaced('zone = "Asia/Seoul"', 'zone = "../../etc"'), "unknown zone '../../etc'"),
        (replaced('zone = "Asia/Seoul"\n', ""), "missing 'zone'"),
        ('homepage = "x"\n' + MINIMAL, "unknown key 'homepage'"),
        (replaced('[[season]]\nnumber = 1\nrelease_pace = "on_air"\n', ""), "needs at least one [[season]]"),
        (replaced('"on_air"', '"weekly"'), "'release_pace' must be one of all_at_once, daily, on_air"),
        (replaced("number = 1", "number = 0"), "'number' must be a whole number from 1 to 100"),
        (replaced("number = 1", "number = 1\ncolor = 2"), "[[season]]: unknown key 'color'"),
        (MINIMAL + '[[season]]\nnumber = 1\nrelease_pace = "daily"\n', "season 1 is declared twice"),
        (MINIMAL + '[[season]]\nnumber = 2\nrelease_pace = "daily"\n', "season 2 has no episodes"),
        (replaced("season = 1\n", "season = 3\n"), "episodes of season 3, which has no [[season]] table"),
        (replaced("episode = 1\n", "episode = 2\n"), "season 1: episodes must be numbered 1 to n"),
        (replaced('airs = "2025-01-24 17:00"', 'airs = "soon"'), "line 12: import.bad_date soon"),
    ],
    ids=lambda value: value if len(value) < 60 else None,
)
def test_malformed_preset_names_the_file_and_the_problem(text, problem):
    with pytest.raises(PresetError) as caught:
        parse_preset(text, key="broken")
    message = str(caught.value)
    assert message.startswith("broken.toml: ")
    assert problem in message


def test_minimal_preset_is_valid():
    preset = parse_preset(MINIMAL, key="show")
    assert (preset.original_title, preset.platform, preset.seasons[0].release_pace) == (None, None, "on_air")


def test_presets_from_another_folder(tmp_path):
    (tmp_path / "good-show.toml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(MINIMAL.replace("zone", "tz"), encoding="utf-8")
    (tmp_path / "Not A Key.toml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "latin1.toml").write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    assert list_presets(tmp_path) == ["bad", "good-show", "latin1"]
    assert load_preset("good-show", tmp_path).title == "Show"
    with pytest.raises(PresetError, match=r"^bad\.toml: .*missing 'zone'"):
        load_preset("bad", tmp_path)
    with pytest.raises(PresetError, match=r"^latin1\.toml: cannot be read"):
        load_preset("latin1", tmp_path)


ANNOUNCED = MINIMAL + """
[[season]]
number = 2
release_pace = "all_at_once"
premiere = "tba"

[[season]]
number = 3
release_pace = "daily"
premiere = "2027-03-05 17:00"
episodes = 10
"""


def test_seasons_announced_before_their_episodes():
    preset = parse_preset(ANNOUNCED, key="show")
    one, two, three = preset.seasons
    assert (one.episode_count, one.release_at) == (1, datetime(2025, 1, 24, 8, tzinfo=UTC))
    assert (two.episodes, two.release_at, two.episode_count, two.release_pace) == ([], None, None, "all_at_once")
    assert (three.episodes, three.release_at, three.episode_count) == (
        [], datetime(2027, 3, 5, 8, tzinfo=UTC), 10)


@pytest.mark.parametrize(
    ("season_table", "problem"),
    [
        ('premiere = "soon"', "season 2: 'premiere' import.bad_date soon"),
        ('premiere = "tba"\nepisodes = 0', "season 2: 'episodes' must be a whole number from 1 to 200"),
        ("episodes = 4", "season 2: 'episodes' needs a 'premiere'"),
        ("premiere = 5", "season 2: 'premiere' must be a date and time or \"tba\""),
    ],
)
def test_bad_announced_seasons_are_named(season_table, problem):
    text = MINIMAL + f'\n[[season]]\nnumber = 2\nrelease_pace = "on_air"\n{season_table}\n'
    with pytest.raises(PresetError) as raised:
        parse_preset(text, key="show")
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_a_season_with_a_premiere_lists_no_episodes():
    text = MINIMAL.replace('release_pace = "on_air"', 'release_pace = "on_air"\npremiere = "tba"')
    with pytest.raises(PresetError) as raised:
        parse_preset(text, key="show")
    assert raised.value.problems == ["season 1 has a 'premiere' and [[episode]] tables: give one or the other"]
