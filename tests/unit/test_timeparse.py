from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timeparse import (
    EXAMPLES_EN,
    EXAMPLES_KO,
    MAX_AHEAD,
    ParsedWhen,
    WhenError,
    parse_when,
    reading_text,
)

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")

SAT_AFTERNOON = datetime(2026, 11, 28, 15, 0, tzinfo=SEOUL)  # a Saturday
WED_MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=SEOUL)  # a Wednesday
NY_BEFORE_FALL_BACK = datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK)  # EDT; clocks go back at 02:00
NY_BEFORE_SPRING_FORWARD = datetime(2027, 3, 13, 12, 0, tzinfo=NEW_YORK)  # clocks go forward 2027-03-14 02:00
YEAR_END = datetime(2026, 12, 31, 22, 0, tzinfo=SEOUL)
NY_FRIDAY_MORNING = datetime(2026, 5, 1, 7, 0, tzinfo=NEW_YORK)


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


ACCEPTED = [
    # text, zone, now, expected local start (in the zone the text is read in)
    ("tomorrow 9pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    ("sat 20:00", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20)),  # today, still ahead
    ("sat 10:00", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 10)),  # passed today -> next week
    ("saturday 8pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20)),
    ("saturday 8pm", SEOUL, WED_MORNING, local(SEOUL, 2026, 11, 28, 20)),
    ("Sun 9am", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 9)),
    ("thurs 9pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 3, 21)),
    ("next saturday 8pm", SEOUL, WED_MORNING, local(SEOUL, 2026, 11, 28, 20)),
    ("next week saturday 8pm", SEOUL, WED_MORNING, local(SEOUL, 2026, 12, 5, 20)),
    ("next week Monday 9pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 30, 21)),
    ("8pm tomorrow", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 20)),
    ("in 2 days at 3pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 30, 15)),
    ("tomorrow 9:15 p.m.", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21, 15)),
    ("tomorrow 9pm pst", SEOUL, SAT_AFTERNOON, local(LA, 2026, 11, 28, 21)),  # "tomorrow" in LA
    ("내일 저녁 8시 반", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 20, 30)),
    ("오후 8시 30분 토요일", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20, 30)),
    ("2026-12-05 20:00 KST", LA, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("2026-12-05 20:00", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("2026-12-05 20:00", LA, SAT_AFTERNOON, local(LA, 2026, 12, 5, 20)),
    ("2026-12-05 20:00 EST", SEOUL, SAT_AFTERNOON, local(NEW_YORK, 2026, 12, 5, 20)),
    ("tomorrow 9pm America/new_york", SEOUL, SAT_AFTERNOON, local(NEW_YORK, 2026, 11, 29, 21)),
    ("tomorrow 9pm new york", SEOUL, SAT_AFTERNOON, local(NEW_YORK, 2026, 11, 29, 21)),
    ("9pm seoul time", LA, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 21)),
    ("dec 5 8:30pm (KST)", LA, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20, 30)),
    ("in 2 hours", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 17)),
    ("in 30 minutes", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 15, 30)),
    ("in 1h30m", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 16, 30)),
    ("in an hour", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 16)),
    ("90 minutes later", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 16, 30)),
    ("9pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 21)),  # still ahead today
    ("1pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 13)),  # passed -> tomorrow
    ("20:00", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20)),
    ("tonight 8", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20)),
    ("tmr 9pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    ("tomorrow noon", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 12)),
    ("December 5 8pm", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("2026-12-05 20:00 +01:00", SEOUL, SAT_AFTERNOON, datetime(2026, 12, 5, 19, tzinfo=UTC)),
    ("tomorrow 21:00 UTC+9", LA, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    # Korean
    ("내일 오후 9시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    ("토요일 저녁 8시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 20)),
    ("토요일 저녁 8시", SEOUL, WED_MORNING, local(SEOUL, 2026, 11, 28, 20)),
    ("토요일 오전 10시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 10)),
    ("오늘 밤 10시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 22)),
    ("오늘밤 11시 30분", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 23, 30)),
    ("12월 5일 오후 8시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("2026년 12월 5일 오후 8시 30분", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20, 30)),
    ("12월 5일 20:00", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("2시간 후", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 17)),
    ("30분 뒤", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 15, 30)),
    ("1시간 반 후", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 28, 16, 30)),
    ("모레 오후 3시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 30, 15)),
    ("내일모레 오후 3시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 30, 15)),
    ("글피 저녁 7시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 1, 19)),
    ("다음주 토요일 오후 8시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("다음주 토요일 오후 8시", SEOUL, WED_MORNING, local(SEOUL, 2026, 12, 5, 20)),  # not this Saturday
    ("다음 주 월요일 오후 8시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 30, 20)),
    ("이번주 일요일 오후 8시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 20)),
    ("토요일 밤 1시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 1)),  # Saturday night = Sunday 01:00
    ("오늘 밤 12시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 0)),
    ("내일 새벽 2시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 2)),
    ("내일 아침 7시 반", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 7, 30)),
    ("내일 정오", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 12)),
    ("내일 21시", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    ("내일 오후 9시에", SEOUL, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    ("12월 5일 오후 8시 한국 시간", LA, SAT_AFTERNOON, local(SEOUL, 2026, 12, 5, 20)),
    ("내일 오후 9시 KST", NEW_YORK, SAT_AFTERNOON, local(SEOUL, 2026, 11, 29, 21)),
    # near the autumn DST change in New York: durations are real elapsed time, wall times stay wall times
    ("in 2 hours", NEW_YORK, NY_BEFORE_FALL_BACK, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ("tomorrow 8pm", NEW_YORK, NY_BEFORE_FALL_BACK, local(NEW_YORK, 2026, 11, 2, 20)),
    ("today 9pm", NEW_YORK, NY_BEFORE_FALL_BACK, datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),
    # spring gap: 02:30 does not exist on 2027-03-14 in New York, it moves forward to 03:30 EDT
    ("tomorrow 2:30am", NEW_YORK, NY_BEFORE_SPRING_FORWARD, datetime(2027, 3, 14, 7, 30, tzinfo=UTC)),
    # end of the year
    ("tomorrow 9pm", SEOUL, YEAR_END, local(SEOUL, 2027, 1, 1, 21)),
    ("1월 2일 오후 8시", SEOUL, YEAR_END, local(SEOUL, 2027, 1, 2, 20)),
    ("jan 2 8pm", SEOUL, YEAR_END, local(SEOUL, 2027, 1, 2, 20)),
    ("12월 31일 오후 11시", SEOUL, YEAR_END, local(SEOUL, 2026, 12, 31, 23)),
    ("다음주 토요일 오후 8시", SEOUL, YEAR_END, local(SEOUL, 2027, 1, 9, 20)),
    ("in 3 hours", SEOUL, YEAR_END, local(SEOUL, 2027, 1, 1, 1)),
    # clock edge cases that are real times
    ("tomorrow 12am", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 0)),
    ("tomorrow 12pm", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 12)),
    ("tomorrow 0:30", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 0, 30)),
    ("tomorrow 23:59", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 23, 59)),
    ("tomorrow 8.30pm", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 20, 30)),
    ("2026-05-03T20:00:00", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 3, 20)),
    ("내일 오전 0시", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 0)),
    ("내일 오후 12시 30분", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 12, 30)),
    ("내일 23:59", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 2, 23, 59)),
    ("내일 24시", NEW_YORK, NY_FRIDAY_MORNING, local(NEW_YORK, 2026, 5, 3, 0)),  # the end of tomorrow
]


@pytest.mark.parametrize(("text", "zone", "now", "expected"), ACCEPTED)
def test_accepted(text: str, zone: ZoneInfo, now: datetime, expected: datetime) -> None:
    parsed = parse_when(text, zone=zone, now=now)
    assert parsed.at == expected
    assert parsed.at.tzinfo is UTC
    assert parsed.local.astimezone(UTC) == expected  # (PEP 495: an aware time in a fold never == across zones)
    if expected.tzinfo is not UTC:  # rows given in UTC are instants around DST changes, checked below
        assert parsed.local.utcoffset() == expected.utcoffset()  # shown in the zone it was read in


def test_zone_name() -> None:
    member = parse_when("tomorrow 9pm", zone=LA, now=SAT_AFTERNOON)
    assert member.zone_name == "America/Los_Angeles"
    named = parse_when("tomorrow 9pm KST", zone=LA, now=SAT_AFTERNOON)
    assert named.zone_name == "Asia/Seoul"


@pytest.mark.parametrize(
    ("text", "zone", "now", "wall", "offset_hours"),
    [
        ("in 2 hours", NEW_YORK, NY_BEFORE_FALL_BACK, (1, 30), -5),  # the second 01:30, after falling back
        ("today 9pm", NEW_YORK, NY_BEFORE_FALL_BACK, (21, 0), -5),
        ("tomorrow 2:30am", NEW_YORK, NY_BEFORE_SPRING_FORWARD, (3, 30), -4),
        ("2026-12-05 20:00 +01:00", SEOUL, SAT_AFTERNOON, (20, 0), 1),
    ],
)
def test_local_time_and_offset(
    text: str, zone: ZoneInfo, now: datetime, wall: tuple[int, int], offset_hours: int
) -> None:
    parsed = parse_when(text, zone=zone, now=now)
    assert (parsed.local.hour, parsed.local.minute) == wall
    assert parsed.local.utcoffset() == timedelta(hours=offset_hours)


def test_wall_time_is_kept_across_fall_back() -> None:
    parsed = parse_when("tomorrow 8pm", zone=NEW_YORK, now=NY_BEFORE_FALL_BACK)
    assert parsed.at == datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 20:00 EST = UTC-5
    assert parsed.local.hour == 20


REFUSED = [
    # text, zone, now, code, reading (None: no reading, str: must appear in the reading)
    ("", SEOUL, SAT_AFTERNOON, "empty", None),
    ("   ", SEOUL, SAT_AFTERNOON, "empty", None),
    ("asdf", SEOUL, SAT_AFTERNOON, "unparseable", None),
    ("banana o'clock", SEOUL, SAT_AFTERNOON, "unparseable", None),
    ("내일 오후 9시 바나나", SEOUL, SAT_AFTERNOON, "unparseable", None),
    ("오전 13시", SEOUL, SAT_AFTERNOON, "unparseable", "13"),
    ("8", SEOUL, SAT_AFTERNOON, "ambiguous", "08:00 / 20:00"),
    ("at 8", SEOUL, SAT_AFTERNOON, "ambiguous", "08:00 / 20:00"),
    ("sat 8", SEOUL, SAT_AFTERNOON, "ambiguous", "08:00 / 20:00"),
    ("tomorrow at 9", SEOUL, SAT_AFTERNOON, "ambiguous", "09:00 / 21:00"),
    ("8시", SEOUL, SAT_AFTERNOON, "ambiguous", "08:00 / 20:00"),
    ("내일 8시", SEOUL, SAT_AFTERNOON, "ambiguous", "08:00 / 20:00"),
    ("tomorrow", SEOUL, SAT_AFTERNOON, "ambiguous", "2026-11-29"),  # a day without a time
    ("dec 5", SEOUL, SAT_AFTERNOON, "ambiguous", "2026-12-05"),
    ("내일", SEOUL, SAT_AFTERNOON, "ambiguous", "2026-11-29"),
    ("2025-12-01 20:00", SEOUL, SAT_AFTERNOON, "past", "2025-12-01 20:00"),
    ("today 10am", SEOUL, SAT_AFTERNOON, "past", "2026-11-28 10:00"),
    ("오늘 오전 10시", SEOUL, SAT_AFTERNOON, "past", "2026-11-28 10:00"),
    ("nov 28 14:00", SEOUL, SAT_AFTERNOON, "past", "2026-11-28 14:00"),  # not quietly moved to next year
    ("11월 27일 오후 2시", SEOUL, SAT_AFTERNOON, "past", "2026-11-27 14:00"),
    ("dec 30 20:00", SEOUL, YEAR_END, "past", "2026-12-30 20:00"),
    ("2028-01-01 10:00", SEOUL, SAT_AFTERNOON, "too_far", "2028-01-01 10:00"),
    ("in 400 days", SEOUL, SAT_AFTERNOON, "too_far", None),
    # impossible clock times are refused, never read as the current time of day (Fri 07:00 in New York)
    ("tomorrow 25:00", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 13pm", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 0pm", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 8:75pm", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 99:99", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 12:60", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 24:00", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 20:00:75", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("tomorrow 12:00 noon", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),  # dateparser drops the time
    ("sat 13pm", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("2026-05-03 25:00", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 25시", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 24시 30분", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 오후 13시", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 저녁 20시", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 오후 13:00", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 오후 9시 75분", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 오후 8:75", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 25:00", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
    ("내일 99:99", NEW_YORK, NY_FRIDAY_MORNING, "unparseable", None),
]


@pytest.mark.parametrize(("text", "zone", "now", "code", "reading"), REFUSED)
def test_refused(text: str, zone: ZoneInfo, now: datetime, code: str, reading: str | None) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, zone=zone, now=now)
    assert caught.value.code == code
    if reading is not None:
        assert caught.value.reading is not None
        assert reading in caught.value.reading


def test_small_past_tolerance() -> None:
    just_now = SAT_AFTERNOON.replace(hour=14, minute=59)
    assert parse_when("today 14:59", zone=SEOUL, now=SAT_AFTERNOON + timedelta(seconds=30)).at == just_now


def test_limit_is_max_ahead() -> None:
    inside = parse_when("in 365 days", zone=SEOUL, now=SAT_AFTERNOON)
    assert inside.at - SAT_AFTERNOON <= MAX_AHEAD


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_when("tomorrow 9pm", zone=SEOUL, now=datetime(2026, 11, 28, 15))


def test_examples_parse() -> None:
    for example in (*EXAMPLES_EN, *EXAMPLES_KO):
        assert isinstance(parse_when(example, zone=SEOUL, now=SAT_AFTERNOON), ParsedWhen), example


def test_unknown_error_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown"):
        WhenError("nope")


def test_a_named_abbreviation_is_kept_for_the_members_note() -> None:
    assert parse_when("tomorrow 9pm KST", zone=LA, now=SAT_AFTERNOON).zone_abbreviation == "KST"
    assert parse_when("tomorrow 9pm", zone=LA, now=SAT_AFTERNOON).zone_abbreviation is None


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("yesterday 9pm", "en", "Thu 2026-11-26 21:00 (America/Los_Angeles)"),  # now: Fri 22:00 in Los Angeles
    ("yesterday 9pm", "ko", "2026-11-26 (목) 21:00 (America/Los_Angeles)"),
])
def test_the_reading_names_the_weekday_in_the_members_language(text, language, expected) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, zone=LA, now=SAT_AFTERNOON)
    assert caught.value.code == "past"
    assert reading_text(caught.value, language) == expected


def test_a_guessed_date_and_a_bare_hour_read_in_both_languages() -> None:
    with pytest.raises(WhenError) as guessed:
        parse_when("tomorrow", zone=LA, now=SAT_AFTERNOON)
    assert (reading_text(guessed.value, "en"), reading_text(guessed.value, "ko")) == (
        "Sat 2026-11-28 ?", "2026-11-28 (토) ?")
    with pytest.raises(WhenError) as bare:
        parse_when("8", zone=LA, now=SAT_AFTERNOON)
    assert reading_text(bare.value, "ko") == "08:00 / 20:00"
