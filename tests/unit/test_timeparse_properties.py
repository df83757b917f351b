"""Properties of `bot.domain.timeparse.parse_when` over generated input (Hypothesis, deterministic profile).

- any text, any zone, any "now": either a ParsedWhen or a WhenError, nothing else, in bounded time;
- a parsed time is never further in the past than PAST_TOLERANCE, never beyond MAX_AHEAD;
- a phrase that can only mean the future ("in 3 hours", "tomorrow 20:00", "sat 9pm", "내일 오후 9시", "2시간 후")
  is strictly after now;
- the display form of a moment ("Sat 2026-12-05 20:00 (Asia/Seoul)", "2026-12-05 (토) 20:00 (Asia/Seoul)" as
  `reading_text` shows it, and the same without the weekday) reads back as that same moment, whatever the
  member's own zone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

import tests.unit.hypothesis_profiles  # noqa: F401  (loads the profile)
from bot.domain.timeparse import MAX_AHEAD, PAST_TOLERANCE, ParsedWhen, WhenError, parse_when, reading_text
from bot.domain.timezones import localize

ZONES = ["UTC", "Asia/Seoul", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham",
         "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati", "America/Santiago"]
SLOW_PARSE_SECONDS = 2.0  # CPU seconds for one parse (load from other processes does not count); typical: ms

zones = st.sampled_from(ZONES).map(ZoneInfo)
nows = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)

_WORDS = ["in", "at", "tomorrow", "today", "tonight", "next", "week", "sat", "saturday", "sun", "mon", "pm", "am",
          "noon", "midnight", "hours", "hour", "minutes", "h", "m", "days", "KST", "UTC", "utc+9", "-05:00", "dec",
          "december", "feb", "29", "31", "2026", "20:00", "9pm", "12:30", "25:00", "0:00", "내일", "오늘", "모레",
          "오후", "오전", "밤", "새벽", "시", "분", "반", "토요일", "다음주", "이번주", "12월", "5일", "시간", "후",
          "뒤", "정오", "한국", "시간", "@", ",", ".", "(", ")", "\u200b", "\u202e", "\u0000", "\t", "１２：００"]
phrases = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(_WORDS) | st.integers(-5, 3000).map(str), max_size=8).map(" ".join),
)


def _parse(text: str, zone: ZoneInfo, now: datetime) -> ParsedWhen | WhenError:
    started = time.process_time()
    try:
        result: ParsedWhen | WhenError = parse_when(text, zone=zone, now=now)
    except WhenError as error:
        result = error
    elapsed = time.process_time() - started
    assert elapsed < SLOW_PARSE_SECONDS, f"{text!r} took {elapsed:.2f}s"
    return result


@given(text=phrases, zone=zones, now=nows)
def test_any_text_is_read_or_refused_never_raises(text, zone, now):
    result = _parse(text, zone, now)
    if isinstance(result, WhenError):
        reading_text(result, "en"), reading_text(result, "ko")  # the refusal can be shown in both languages
        return
    assert result.at.tzinfo is not None and result.at.utcoffset() == timedelta(0)
    assert result.at >= now - PAST_TOLERANCE, f"{text!r} read as {result.at}, before {now}"
    assert result.at - now <= MAX_AHEAD
    assert result.local == result.at  # the same instant, shown in the zone it was read in


_FUTURE_EN = st.one_of(
    st.tuples(st.integers(1, 500), st.sampled_from(["minutes", "mins", "hours", "h", "days"])).map(
        lambda p: f"in {p[0]} {p[1]}"
    ),
    st.tuples(st.sampled_from(["tomorrow", "sat", "sunday", "fri", "next monday", "day after tomorrow"]),
              st.integers(0, 23), st.integers(0, 59)).map(lambda p: f"{p[0]} {p[1]:02d}:{p[2]:02d}"),
    st.tuples(st.sampled_from(["tomorrow", "saturday", "wed"]), st.integers(1, 12), st.sampled_from(["am", "pm"])).map(
        lambda p: f"{p[0]} {p[1]}{p[2]}"
    ),
)
_FUTURE_KO = st.one_of(
    st.tuples(st.integers(1, 500), st.sampled_from(["분", "시간", "일"]), st.sampled_from(["후", "뒤"])).map(
        lambda p: f"{p[0]}{p[1]} {p[2]}"
    ),
    st.tuples(st.sampled_from(["내일", "모레", "토요일", "다음주 수요일"]),
              st.sampled_from(["오전", "오후", "저녁", "새벽"]), st.integers(1, 12)).map(
        lambda p: f"{p[0]} {p[1]} {p[2]}시"
    ),
)


@given(text=_FUTURE_EN | _FUTURE_KO, zone=zones, now=nows)
def test_a_future_phrase_is_never_read_as_a_past_time(text, zone, now):
    result = _parse(text, zone, now)
    if isinstance(result, WhenError):
        assert result.code in ("too_far", "unparseable", "ambiguous"), f"{text!r}: {result!r}"
        assert result.code != "past"
        return
    assert result.at > now, f"{text!r} at {now} read as {result.at}"


@given(zone=zones, now=nows, ahead=st.timedeltas(min_value=timedelta(minutes=3), max_value=timedelta(days=360)),
       form=st.sampled_from(["en", "ko", "plain"]), member_zone=st.sampled_from(ZONES))
def test_the_display_form_reads_back_as_the_same_moment(zone, now, ahead, form, member_zone):
    moment = (now + ahead).astimezone(zone).replace(second=0, microsecond=0)
    wall = moment.replace(tzinfo=None)
    # the second of two equal wall times (DST fold) has no display form of its own
    assume(localize(wall, zone).astimezone(UTC) == moment.astimezone(UTC))
    if form == "plain":
        text = f"{moment:%Y-%m-%d %H:%M} ({zone.key})"
    else:
        shown = reading_text(WhenError("past", moment=moment, zone_name=zone.key), form)
        assert shown is not None
        text = shown
    result = _parse(text, ZoneInfo(member_zone), now)
    assert isinstance(result, ParsedWhen), f"{text!r} not read back: {result!r}"
    assert result.at == moment.astimezone(UTC), f"{text!r} read back as {result.local}"
    assert result.zone_name == zone.key
