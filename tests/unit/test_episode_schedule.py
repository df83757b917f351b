from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain import episode_schedule as sched
from bot.domain.episode_models import EpisodeSpec
from bot.domain.episode_schedule import (
    ScheduleImportError,
    ScheduleValueError,
    parse_air_time,
    parse_schedule_csv,
    parse_schedule_toml,
)

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
RELEASE = datetime(2025, 1, 24, 8, 0, tzinfo=UTC)  # 17:00 KST


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2025-01-24 17:00", SEOUL, RELEASE),
        ("2025-01-24T17:00", SEOUL, RELEASE),
        ("2025-01-24 17:00:00", SEOUL, RELEASE),
        ("  2025-01-24   17:00  ", SEOUL, RELEASE),
        ("2025-01-24T17:00+09:00", UTC, RELEASE),
        ("2025-01-24 17:00 +09:00", UTC, RELEASE),
        ("2025-01-24T08:00Z", SEOUL, RELEASE),
        ("2025-01-24 08:00 Z", SEOUL, RELEASE),
        ("2025-01-24 17:00 Asia/Seoul", UTC, RELEASE),
        ("2025-01-24 17:00 asia/seoul", NEW_YORK, RELEASE),
        ("2025-01-24 08:00 UTC", SEOUL, RELEASE),
        ("2025-01-24 03:00 America/New_York", SEOUL, RELEASE),
        ("2025-01-24 17:00", "Asia/Seoul", RELEASE),
        # first of the two 01:30s when New York falls back
        ("2025-11-02 01:30", NEW_YORK, utc(2025, 11, 2, 5, 30)),
        ("2025-07-01 20:00", NEW_YORK, utc(2025, 7, 2, 0, 0)),
    ],
)
def test_parse_air_time_reads_every_supported_form(text, zone, expected):
    assert parse_air_time(text, default_zone=zone) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", sched.MISSING_VALUE),
        ("tomorrow", sched.BAD_DATE),
        ("2025-01-24", sched.BAD_DATE),
        ("2025-13-01 10:00", sched.BAD_DATE),
        ("24/01/2025 17:00", sched.BAD_DATE),
        ("2025-01-24 25:00", sched.BAD_DATE),
        ("2025-01-24T17:00+09:00 Asia/Seoul", sched.BAD_DATE),
        ("2025-01-24 17:00 Mars/Olympus", sched.UNKNOWN_ZONE),
        ("2025-01-24 17:00 KST", sched.UNKNOWN_ZONE),
        ("2025-03-09 02:30 America/New_York", sched.NONEXISTENT_TIME),
    ],
)
def test_parse_air_time_refuses_bad_values(text, key):
    with pytest.raises(ScheduleValueError) as caught:
        parse_air_time(text, default_zone=SEOUL)
    assert caught.value.message_key == key


KOREAN_CSV = (
    "season,episode,title,airs\n"
    "1,2,응급실의 신,2025-01-24 17:00\n"
    '1,1,"백강혁, 등장",2025-01-24T17:00+09:00\n'
    "1,3,,2025-01-24 17:00 Asia/Seoul\n"
)


@pytest.mark.parametrize(
    "source",
    [
        KOREAN_CSV,
        "\ufeff" + KOREAN_CSV,
        KOREAN_CSV.encode(),
        ("\ufeff" + KOREAN_CSV).encode(),
        KOREAN_CSV.replace("\n", "\r\n"),
        KOREAN_CSV.replace("season,episode,title,airs", " Season , EPISODE,Title ,airs"),
        KOREAN_CSV + "\n,,,\n\n",
        KOREAN_CSV.replace("airs\n", "airs,\n"),
    ],
    ids=["str", "str-bom", "bytes", "bytes-bom", "crlf", "header-case", "trailing-blank-rows", "blank-column"],
)
def test_csv_with_korean_titles_in_every_encoding_form(source):
    assert parse_schedule_csv(source, default_zone=SEOUL) == [
        EpisodeSpec(1, "백강혁, 등장", RELEASE, season=1),
        EpisodeSpec(2, "응급실의 신", RELEASE, season=1),
        EpisodeSpec(3, None, RELEASE, season=1),
    ]


def test_csv_title_column_is_optional_and_times_default_to_the_server_zone():
    text = "episode,season,airs\n1,2,2025-07-01 20:00\n"
    assert parse_schedule_csv(text, default_zone=NEW_YORK) == [EpisodeSpec(1, None, utc(2025, 7, 2), season=2)]


def test_csv_multiline_title_is_collapsed_and_later_lines_keep_file_numbering():
    text = 'season,episode,title,airs\n1,1,"첫 번째\n에피소드",2025-01-24 17:00\n1,x,,2025-01-24 17:00\n'
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(text, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(4, sched.BAD_NUMBER)]
    valid = text.replace("1,x,", "1,2,")
    assert parse_schedule_csv(valid, default_zone=SEOUL)[0].title == "첫 번째 에피소드"


HEADER = "season,episode,title,airs\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, sched.EMPTY)]),
        ("\n\n", [(1, sched.EMPTY)]),
        (HEADER, [(1, sched.NO_ROWS)]),
        ("season,episode,title\n1,1,x\n", [(1, sched.MISSING_COLUMN)]),
        ("season,title,when\n", [(1, sched.MISSING_COLUMN), (1, sched.MISSING_COLUMN), (1, sched.UNKNOWN_COLUMN)]),
        ("season,episode,airs,airs\n", [(1, sched.DUPLICATE_COLUMN)]),
        ("\n\nseason,episode,airs,notes\n", [(3, sched.UNKNOWN_COLUMN)]),
        (HEADER + "1,1,,tomorrow\n", [(2, sched.BAD_DATE)]),
        (HEADER + "1,1,,2025-01-24\n", [(2, sched.BAD_DATE)]),
        (HEADER + "1,1,,2025-01-24 17:00 Nowhere/City\n", [(2, sched.UNKNOWN_ZONE)]),
        (HEADER + "1,1,,\n", [(2, sched.MISSING_VALUE)]),
        (HEADER + "1,1\n", [(2, sched.MISSING_VALUE)]),
        (HEADER + ",1,,2025-01-24 17:00\n", [(2, sched.MISSING_VALUE)]),
        (HEADER + "1,1,,2025-01-24 17:00,extra\n", [(2, sched.EXTRA_VALUES)]),
        (HEADER + "1,1,,2025-01-24 17:00,,\n1,2,,x,,extra\n", [(3, sched.EXTRA_VALUES), (3, sched.BAD_DATE)]),
        (HEADER + "1,1,," + "x" * 200_000 + "\n", [(2, sched.BAD_CSV)]),
        (HEADER + "one,1,,2025-01-24 17:00\n", [(2, sched.BAD_NUMBER)]),
        (HEADER + "1,-1,,2025-01-24 17:00\n", [(2, sched.BAD_NUMBER)]),
        (HEADER + "1,1.5,,2025-01-24 17:00\n", [(2, sched.BAD_NUMBER)]),
        (HEADER + "1,0,,2025-01-24 17:00\n", [(2, sched.EPISODE_OUT_OF_RANGE)]),
        (HEADER + "1,201,,2025-01-24 17:00\n", [(2, sched.EPISODE_OUT_OF_RANGE)]),
        (HEADER + "0,1,,2025-01-24 17:00\n", [(2, sched.SEASON_OUT_OF_RANGE)]),
        (HEADER + "1,1," + "가" * 101 + ",2025-01-24 17:00\n", [(2, sched.TITLE_TOO_LONG)]),
        (
            HEADER + "1,1,,2025-01-24 17:00\n1,2,,2025-01-25 17:00\n1,1,,2025-01-26 17:00\n",
            [(4, sched.DUPLICATE_EPISODE)],
        ),
        (
            HEADER + "1,1,,2025-01-24 17:00\n\n1,0,,soon\n1,2,ok,2025-01-24 17:00\nx,2,,\n",
            [(4, sched.EPISODE_OUT_OF_RANGE), (4, sched.BAD_DATE), (6, sched.BAD_NUMBER), (6, sched.MISSING_VALUE)],
        ),
    ],
    ids=lambda value: None if isinstance(value, str) else str(value),
)
def test_csv_reports_every_bad_row_with_its_line(text, expected):
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(text, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == expected


def test_csv_nonexistent_local_time_names_the_time_and_zone():
    text = HEADER + "1,1,,2025-03-09 02:30\n"
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(text, default_zone=NEW_YORK)
    [problem] = caught.value.problems
    assert (problem.line, problem.message_key) == (2, sched.NONEXISTENT_TIME)
    assert problem.detail == "2025-03-09 02:30 America/New_York"


def test_csv_duplicate_detail_points_at_the_first_row():
    text = HEADER + "1,3,,2025-01-24 17:00\n1,3,,2025-01-24 17:00\n"
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(text, default_zone=SEOUL)
    assert caught.value.problems[0].detail == "S1E3 (first on line 2)"


def test_csv_bad_utf8_reports_the_line_of_the_bad_byte():
    data = (HEADER + "1,1,ok,2025-01-24 17:00\n").encode() + b"1,2,\xff\xfe,2025-01-24 17:00\n"
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(data, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(3, sched.BAD_ENCODING)]


def csv_rows(count: int) -> str:
    return HEADER + "".join(f"{1 + n // 200},{1 + n % 200},,2025-01-24 17:00\n" for n in range(count))


def test_csv_accepts_the_row_limit_and_refuses_one_more():
    assert len(parse_schedule_csv(csv_rows(sched.MAX_ROWS), default_zone=SEOUL)) == sched.MAX_ROWS
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_csv(csv_rows(sched.MAX_ROWS + 1), default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(sched.MAX_ROWS + 2, sched.TOO_MANY_ROWS)]


def test_import_error_message_lists_problems_in_line_order():
    error = ScheduleImportError([sched.RowProblem(5, "import.b", "x"), sched.RowProblem(2, "import.a")])
    assert str(error) == "line 2: import.a; line 5: import.b x"


KOREAN_TOML = """\
# 중증외상센터 시즌 1
[[episode]]
season = 1
episode = 2
title = "응급실의 신"
airs = 2025-01-24T17:00:00+09:00

[[episode]]
season = 1
episode = 1
title = '백강혁'
airs = 2025-01-24T17:00:00   # local: read in the server zone

[[episode]]  # a comment
season = 1
episode = 3
airs = "2025-01-24 17:00 Asia/Seoul"
"""


@pytest.mark.parametrize("source", [KOREAN_TOML, "\ufeff" + KOREAN_TOML, KOREAN_TOML.encode("utf-8-sig")])
def test_toml_with_korean_titles_and_every_airs_form(source):
    assert parse_schedule_toml(source, default_zone=SEOUL) == [
        EpisodeSpec(1, "백강혁", RELEASE, season=1),
        EpisodeSpec(2, "응급실의 신", RELEASE, season=1),
        EpisodeSpec(3, None, RELEASE, season=1),
    ]


def toml_episode(season="1", episode="1", airs='"2025-01-24 17:00"', extra="") -> str:
    return f"\n[[episode]]\nseason = {season}\nepisode = {episode}\nairs = {airs}\n{extra}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, sched.NO_ROWS)]),
        ('title = "x"\n', [(1, sched.NO_ROWS)]),
        ("[[episode]]\nseason = \n", [(2, sched.BAD_TOML)]),
        ('episode = [{season = 1, episode = 1, airs = "2025-01-24 17:00"}]\n', [(1, sched.BAD_TOML)]),
        ('episode = "1"\n', [(1, sched.BAD_TOML)]),
        # line 1 is blank: the [[episode]] header is line 2, airs is line 5
        (toml_episode(airs='"next friday"'), [(5, sched.BAD_DATE)]),
        (toml_episode(airs="2025-01-24"), [(5, sched.BAD_DATE)]),
        (toml_episode(airs="17:00:00"), [(5, sched.BAD_DATE)]),
        (toml_episode(airs="20250124"), [(5, sched.BAD_DATE)]),
        (toml_episode(airs="2025-03-09T02:30:00"), [(5, sched.NONEXISTENT_TIME)]),
        (toml_episode(episode="0"), [(4, sched.EPISODE_OUT_OF_RANGE)]),
        (toml_episode(episode="true"), [(4, sched.BAD_NUMBER)]),
        (toml_episode(season='"first"'), [(3, sched.BAD_NUMBER)]),
        (toml_episode(extra="title = 7\n"), [(6, sched.BAD_VALUE)]),
        (toml_episode(extra=f'title = "{"x" * 101}"\n'), [(6, sched.TITLE_TOO_LONG)]),
        (toml_episode(extra='note = "hi"\n'), [(2, sched.UNKNOWN_COLUMN)]),
        ('\n[[episode]]\nseason = 1\nairs = "2025-01-24 17:00"\n', [(2, sched.MISSING_VALUE)]),
        # problems point at the line of the field at fault, not the [[episode]] header
        (toml_episode() + toml_episode(episode="2") + toml_episode(), [(14, sched.DUPLICATE_EPISODE)]),
        (
            toml_episode(airs='"soon"') + toml_episode(episode="2") + toml_episode(episode="300"),
            [(5, sched.BAD_DATE), (14, sched.EPISODE_OUT_OF_RANGE)],
        ),
    ],
    ids=lambda value: None if isinstance(value, str) else str(value),
)
def test_toml_reports_every_bad_row_with_its_line(text, expected):
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_toml(text, default_zone=NEW_YORK)
    assert [(p.line, p.message_key) for p in caught.value.problems] == expected


def test_toml_line_numbers_ignore_characters_that_are_not_toml_line_breaks():
    text = '[[episode]]\nseason = 1\ntitle = "a\u2028b\x85c"\nepisode = 0\nairs = "2025-01-24 17:00"\n'
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_toml(text, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(4, sched.EPISODE_OUT_OF_RANGE)]


def test_toml_quoted_keys_and_single_line_tables_still_point_at_the_right_line():
    text = '[[episode]]\n"season" = 1\n  episode = 5000\nairs = "2025-01-24 17:00"\n'
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_toml(text, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(3, sched.EPISODE_OUT_OF_RANGE)]


def test_toml_refuses_one_row_beyond_the_limit():
    text = "".join(toml_episode(season=str(1 + n // 200), episode=str(1 + n % 200)) for n in range(sched.MAX_ROWS + 1))
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_toml(text, default_zone=SEOUL)
    assert [(p.line, p.message_key) for p in caught.value.problems] == [(5 * sched.MAX_ROWS + 2, sched.TOO_MANY_ROWS)]


def test_toml_duplicate_detail_points_at_the_first_episode_line():
    with pytest.raises(ScheduleImportError) as caught:
        parse_schedule_toml(toml_episode(episode="3") + toml_episode(episode="3"), default_zone=SEOUL)
    [problem] = caught.value.problems
    assert (problem.line, problem.detail) == (9, "S1E3 (first on line 4)")
