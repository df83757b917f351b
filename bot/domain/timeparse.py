"""Read a watch-party start time written in plain English or Korean.

How text is read (`parse_when`):
1. A zone written at the end ("KST", "Asia/Seoul", "seoul time", "한국 시간", "UTC+9", "+09:00") replaces the
   member's zone for the whole text; otherwise the text is read in the member's zone.
2. Pure durations ("in 2 hours", "in 1h30m", "90 minutes later", "2시간 후", "1시간 반 뒤") are added to `now` as
   real elapsed time, so they stay right across a DST change.
3. Korean is translated to a plain English form first (dateparser's Korean misreads "내일 오후 9시"):
   오늘/내일/모레/글피 -> today/tomorrow/day after tomorrow/in 3 days; 토요일 -> saturday;
   이번주/다음주 토요일 -> that ISO (Monday-first) week's Saturday as a date (English "next week saturday" too);
   12월 5일 -> 5 december;
   오전/아침/새벽 N시 -> N am, 오후/낮/점심/저녁/밤 N시 -> N pm (밤 1-4시 and 밤 12시 are after midnight, so on
   the next day when a day was named); N시 반 -> N:30; 정오 -> 12:00.
4. dateparser reads the result with `now` (in the zone) as its base and future dates preferred.

Decisions:
- A clock must be a real one: 0-23 on a 24-hour clock, 1-12 with am/pm (오전/오후 etc. with 0-12 시; 24시 is the
  end of the day, 00:00 next day), minutes 0-59; and the time dateparser returns must be the clock written (it
  reads "25:00" or "13pm" as the current time of day). Anything else is "unparseable".
- A clock time is required: "tomorrow", "dec 5", "8", "at 8", "sat 8", "8시" or "midnight" are refused as
  "ambiguous" (for a bare hour the reading offers both "08:00 / 20:00"). HH:MM is a 24-hour clock ("8:00" is 08:00).
- A time without a day ("9pm") is the next such time: today if still ahead, else tomorrow.
- A weekday ("sat 20:00", "토요일 저녁 8시") is the next future such moment: today if the time is still ahead,
  else next week. "next saturday" is left to dateparser (the coming Saturday).
- A day and month without a year that has just passed ("nov 28 14:00" on Nov 28 at 15:00) is refused as "past"
  rather than quietly moved to next year; one that passed more than 30 days ago means next year.
- A local time that does not exist (DST spring gap) moves forward by the gap; one that occurs twice takes the first.
- Refused: more than PAST_TOLERANCE in the past ("past"), more than MAX_AHEAD ahead ("too_far").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from dateparser.date import DateDataParser

from bot.domain.timezones import localize, lookup_timezone

__all__ = [
    "EXAMPLES_EN",
    "EXAMPLES_KO",
    "MAX_AHEAD",
    "PAST_TOLERANCE",
    "ParsedWhen",
    "WhenError",
    "parse_when",
]

PAST_TOLERANCE = timedelta(minutes=2)
MAX_AHEAD = timedelta(days=366)
_YEAR_ROLLOVER_WINDOW = timedelta(days=30)

EXAMPLES_EN: tuple[str, ...] = ("tomorrow 9pm", "sat 20:00", "2026-12-05 20:00 KST", "in 2 hours", "dec 5 8:30pm")
EXAMPLES_KO: tuple[str, ...] = (
    "내일 오후 9시", "토요일 저녁 8시", "12월 5일 오후 8시 KST", "2시간 후", "다음주 토요일 오후 8시",
)

WHEN_ERROR_CODES = frozenset({"empty", "unparseable", "past", "ambiguous", "too_far"})


@dataclass(frozen=True, slots=True)
class ParsedWhen:
    at: datetime  # aware, UTC
    local: datetime  # aware, in the zone the text was read in
    zone_name: str
    zone_abbreviation: str | None = None  # "KST" when the text named an abbreviation (members see a catalog note)


class WhenError(ValueError):
    """`code` is one of WHEN_ERROR_CODES; `reading` shows how the text was read, when it was read at all."""

    def __init__(self, code: str, reading: str | None = None, *, moment: datetime | None = None,
                 zone_name: str | None = None) -> None:
        if code not in WHEN_ERROR_CODES:
            raise ValueError(f"unknown WhenError code {code!r}")
        super().__init__(f"{code}: {reading}" if reading else code)
        self.code = code
        self.reading = reading  # English, for logs; members get `reading_text(error, language)`
        self.moment = moment  # the local time read, when there is one (zone_name set) or the date guessed (not)
        self.zone_name = zone_name


_WEEKDAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), "ko": ("월", "화", "수", "목", "금", "토", "일")}


def reading_text(error: WhenError, language: str) -> str | None:
    """How the text was read, with the weekday in `language` ("en" or "ko"): "Sat 2026-05-02 21:00 (Asia/Seoul)",
    "2026-05-02 (토) 21:00 (Asia/Seoul)"; a guessed date alone ends with " ?"."""
    if error.moment is None:
        return error.reading
    korean = language == "ko"
    weekday = _WEEKDAYS["ko" if korean else "en"][error.moment.weekday()]
    day = f"{error.moment:%Y-%m-%d} ({weekday})" if korean else f"{weekday} {error.moment:%Y-%m-%d}"
    if error.zone_name is None:
        return f"{day} ?"
    return f"{day} {error.moment:%H:%M} ({error.zone_name})"


# ---------------------------------------------------------------------------------------------------------------
# explicit zones


_OFFSET_RE = re.compile(
    r"(?:^|(?<=\s)|(?<=\d))(?:(?P<base>utc|gmt)\s*(?P<sign1>[+-])\s*(?P<h1>\d{1,2})(?::?(?P<m1>\d{2}))?"
    r"|(?P<sign2>[+-])(?P<h2>\d{2}):?(?P<m2>\d{2}))$",
    re.IGNORECASE,
)
_ZONE_FILLERS = ("time", "timezone", "시간", "기준", "in")


@dataclass(frozen=True, slots=True)
class _Zone:
    tz: tzinfo
    name: str
    abbreviation: str | None = None


def _split_zone(text: str) -> tuple[str, _Zone | None]:
    """Take a zone off the end of the text, if one is there."""
    text = " ".join(text.replace("(", " ").replace(")", " ").split())
    offset = _OFFSET_RE.search(text)
    if offset is not None:
        sign = offset["sign1"] or offset["sign2"]
        hours = int(offset["h1"] or offset["h2"])
        minutes = int(offset["m1"] or offset["m2"] or 0)
        if hours <= 14 and minutes < 60:
            delta = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
            name = "UTC" if not delta else f"UTC{sign}{hours:02d}:{minutes:02d}"
            return text[: offset.start()].strip(), _Zone(ZoneInfo("UTC") if not delta else timezone(delta), name)
    original = text
    words = text.split(" ")
    while len(words) > 1 and words[-1].lower() in _ZONE_FILLERS:
        words.pop()
    for size in (3, 2, 1):
        if len(words) <= size:
            continue
        found = lookup_timezone(" ".join(words[-size:]))
        if found is not None:
            rest = words[:-size]
            while rest and rest[-1].lower() in ("in", "at", "기준"):
                rest.pop()
            return " ".join(rest), _Zone(found.zone, found.name, found.abbreviation)
    return original, None


# ---------------------------------------------------------------------------------------------------------------
# durations


_EN_UNITS = {"d": "days", "day": "days", "days": "days", "h": "hours", "hr": "hours", "hrs": "hours",
             "hour": "hours", "hours": "hours", "m": "minutes", "min": "minutes", "mins": "minutes",
             "minute": "minutes", "minutes": "minutes", "일": "days", "시간": "hours", "분": "minutes"}
_DURATION_PART = r"(?:\d+|an?)\s*(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|일|시간(?:\s*반)?|분)"
_DURATION_RE = re.compile(
    rf"^(?:in\s+)?(?P<parts>{_DURATION_PART}(?:\s*(?:,|and)?\s*{_DURATION_PART})*)"
    r"(?P<suffix>\s*(?:later|from now|후|뒤|있다가|이따가?))?$",
    re.IGNORECASE,
)
_DURATION_PIECE_RE = re.compile(r"(\d+|an?)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|일|시간|분)(\s*반)?", re.I)


def _pure_duration(text: str) -> timedelta | None:
    match = _DURATION_RE.match(text)
    if match is None or not (text.lower().startswith("in ") or match["suffix"]):
        return None
    total = timedelta()
    for amount, unit, half in _DURATION_PIECE_RE.findall(match["parts"]):
        count = 1 if amount.lower() in ("a", "an") else int(amount)
        total += timedelta(**{_EN_UNITS[unit.lower()]: count})
        if half:
            total += timedelta(minutes=30)
    return total


# ---------------------------------------------------------------------------------------------------------------
# Korean -> English


_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
_KO_WEEKDAYS = {"월": "monday", "화": "tuesday", "수": "wednesday", "목": "thursday", "금": "friday",
                "토": "saturday", "일": "sunday"}
_KO_DAY_WORDS = {"오늘": "today", "오늘밤": "today", "내일": "tomorrow", "낼": "tomorrow", "모레": "day after tomorrow",
                 "내일모레": "day after tomorrow", "글피": "in 3 days"}
_KO_AM = {"오전", "아침", "새벽"}
_KO_DAY_RE = re.compile(r"(내일\s*모레|오늘\s*밤|오늘|내일|낼|모레|글피)")
_KO_WEEK_RE = re.compile(r"(?:(이번\s*주|금주|다음\s*주|담주|다다음\s*주)\s*)?([월화수목금토일])요일")
# The weekday the bot shows after an ISO date ("2026-12-05 (토) 20:00", parentheses already gone): redundant.
_KO_DATE_WEEKDAY_RE = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})\s*[월화수목금토일](?:요일)?(?![\uac00-\ud7a3])")
_KO_DATE_RE = re.compile(r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(\d{1,2})\s*일")
_KO_TIME_RE = re.compile(
    r"(?:(오전|오후|아침|낮|점심|저녁|밤|새벽)\s*)?(?:(\d{1,2})\s*시\s*(?:(\d{1,2})\s*분|(반))?|(\d{1,2}):(\d{2}))"
)
_KO_FILLER_RE = re.compile(r"(에|부터|쯤|경|정각|시작|으로|로|,)")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")


def _ko_hour(period: str | None, hour: int, minute: int) -> tuple[int, int, bool]:
    """(hour, minute, after_midnight) for a Korean period word and clock hour; raise WhenError when unclear."""
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise WhenError("unparseable", f"{hour}시 {minute}분")
    if period is None:
        if 1 <= hour <= 12:
            raise WhenError("ambiguous", f"{hour:02d}:{minute:02d} / {(hour + 12) % 24:02d}:{minute:02d}")
        return hour % 24, minute, hour == 24
    if hour > 12:  # "오후 13시", "오전 13시": a 12-hour period word with a 24-hour clock contradicts itself
        raise WhenError("unparseable", f"{period} {hour}시")
    if period in _KO_AM:
        return hour % 12, minute, False
    if period == "밤" and (hour == 12 or hour <= 4):
        return hour % 12, minute, True
    if period in ("낮", "점심") and 7 <= hour <= 11:
        return hour, minute, False
    return hour % 12 + 12, minute, False


def _day_in_week(local_now: datetime, weeks_ahead: int, weekday: int) -> str:
    """ISO date of `weekday` (0 = Monday) in the Monday-first week `weeks_ahead` weeks from now's week."""
    monday = local_now.date() - timedelta(days=local_now.weekday()) + timedelta(weeks=weeks_ahead)
    return (monday + timedelta(days=weekday)).isoformat()


def _korean_to_english(text: str, local_now: datetime) -> tuple[str, int]:
    """English text dateparser reads reliably, plus days to add afterwards (밤 1시 on a named day)."""
    rest = _KO_DATE_WEEKDAY_RE.sub(r"\1 ", text.replace("정오", "12:00 "))
    day = ""
    week = _KO_WEEK_RE.search(rest)
    if week is not None:
        prefix = (week[1] or "").replace(" ", "")
        weekday = list(_KO_WEEKDAYS).index(week[2])
        if prefix:
            weeks_ahead = {"이번주": 0, "금주": 0, "다음주": 1, "담주": 1, "다다음주": 2}[prefix]
            day = _day_in_week(local_now, weeks_ahead, weekday)
        else:
            day = _KO_WEEKDAYS[week[2]]
        rest = rest[: week.start()] + " " + rest[week.end():]
    date = _KO_DATE_RE.search(rest)
    if date is not None:
        day = f"{int(date[3])} {_MONTHS[int(date[2]) - 1] if 1 <= int(date[2]) <= 12 else date[2]} {date[1] or ''}"
        rest = rest[: date.start()] + " " + rest[date.end():]
    day_word = _KO_DAY_RE.search(rest)
    night_hint = False
    if day_word is not None:
        word = day_word[1].replace(" ", "")
        night_hint = word == "오늘밤"
        day = _KO_DAY_WORDS[word]
        rest = rest[: day_word.start()] + " " + rest[day_word.end():]
    clock = ""
    after_midnight = False
    when = _KO_TIME_RE.search(rest)
    if when is not None:
        period = when[1] or ("밤" if night_hint else None)
        if when[5] is not None:  # HH:MM, a 24-hour clock unless a period word says otherwise
            hour, minute = int(when[5]), int(when[6])
            if period is not None:
                hour, minute, after_midnight = _ko_hour(period, hour, minute)
            elif hour > 23 or minute > 59:
                raise WhenError("unparseable", when[0])
        else:
            minute = 30 if when[4] else int(when[3] or 0)
            hour, minute, after_midnight = _ko_hour(period, int(when[2]), minute)
        clock = f"{hour:02d}:{minute:02d}"
        rest = rest[: when.start()] + " " + rest[when.end():]
    leftover = _KO_FILLER_RE.sub(" ", rest).strip()
    if _HANGUL_RE.search(leftover):
        raise WhenError("unparseable", None)
    english = " ".join(part for part in (day, leftover, clock) if part)
    return english, 1 if after_midnight and day else 0


# ---------------------------------------------------------------------------------------------------------------
# English clean-up and checks


_EN_FIXES = (
    (re.compile(r"\b(?:tmrw?|tmr|tomorow|tommorow|tommorrow)\b", re.I), "tomorrow"),
    (re.compile(r"\btues\b", re.I), "tuesday"),
    (re.compile(r"\bwed(?:s|nes)?\b", re.I), "wednesday"),
    (re.compile(r"\bthu(?:rs?)?\b", re.I), "thursday"),
    (re.compile(r"@"), " at "),
    (re.compile(r"\b(\d{1,2})\.(\d{2})\s*(am|pm|a\.m\.?|p\.m\.?)(?![a-z])", re.I), r"\1:\2 \3"),  # 8.30pm
    (re.compile(r"\btonight\s+(?:at\s+)?(\d{1,2}(?::\d{2})?)\s*$", re.I), r"today \1 pm"),
)
_CLOCK_RE = re.compile(r"\d{1,2}:\d{2}|\d{1,2}\s*(?:am|pm|a\.m\.?|p\.m\.?)(?![a-z])|\bnoon\b", re.IGNORECASE)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)"
_WEEKDAY_RE = re.compile(rf"(?<!next )\b{_WEEKDAY}\b", re.IGNORECASE)
_BARE_HOUR_RE = re.compile(
    rf"^(?:(?:today|tomorrow|day after tomorrow|tonight|{_WEEKDAY})\s+)?(?:at\s+)?(\d{{1,2}})$", re.IGNORECASE
)
_YEAR_RE = re.compile(r"\b\d{4}\b")
# A date written out ("2026-12-05", "12/5", "dec 5"): a weekday next to it only repeats it, never moves it.
_DATE_RE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}|\b\d{1,2}/\d{1,2}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I
)
# Every clock written in the text: "20:00", "20:00:00", "9pm", "9:15 p.m.", "noon" (a bare number is no clock).
_CLOCK_PART_RE = re.compile(
    r"(?<![\d:.])(?P<hour>\d{1,2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
    r"(?:\s*(?P<half>am|pm|a\.m\.?|p\.m\.?))?(?![a-z\d])|\b(?P<noon>noon)\b",
    re.IGNORECASE,
)


_NEXT_WEEK_RE = re.compile(r"\bnext\s+week(?:'s)?\s+(mon|tue|wed|thu|fri|sat|sun)[a-z]*", re.IGNORECASE)
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clean_english(text: str, local_now: datetime) -> str:
    for pattern, replacement in _EN_FIXES:
        text = pattern.sub(replacement, text)
    text = _NEXT_WEEK_RE.sub(
        lambda m: _day_in_week(local_now, 1, _EN_WEEKDAYS.index(m[1].lower())), text
    )
    return " ".join(text.split())


def _dateparse(text: str, base: datetime, languages: tuple[str, ...]) -> datetime | None:
    """Naive local datetime from dateparser, with `base` (naive local now) for relative words."""
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}
    found: datetime | None = DateDataParser(languages=list(languages), settings=settings).get_date_data(text).date_obj
    if found is None:
        return None
    return found.replace(tzinfo=None) if found.tzinfo is not None else found


def _written_clocks(text: str) -> list[tuple[int, int]]:
    """(hour, minute) of every clock in the English text; WhenError("unparseable") for an impossible one: hour
    over 23 (24-hour clock) or outside 1..12 (with am/pm), minute or second over 59."""
    clocks = []
    for match in _CLOCK_PART_RE.finditer(text):
        if match["noon"]:
            clocks.append((12, 0))
            continue
        if match["minute"] is None and match["half"] is None:
            continue  # a bare number: a day, a year, a count
        hour, minute, second = int(match["hour"]), int(match["minute"] or 0), int(match["second"] or 0)
        if minute > 59 or second > 59 or (hour > 23 if match["half"] is None else not 1 <= hour <= 12):
            raise WhenError("unparseable", match[0].strip())
        if match["half"] is not None:
            hour = hour % 12 + (0 if match["half"].lower().startswith("a") else 12)
        clocks.append((hour, minute))
    return clocks


def _read_as(code: str, moment: datetime, zone_name: str) -> WhenError:
    return WhenError(code, f"{moment:%a %Y-%m-%d %H:%M} ({zone_name})", moment=moment, zone_name=zone_name)


def parse_when(
    text: str, *, zone: tzinfo, now: datetime, languages: tuple[str, ...] = ("en", "ko")
) -> ParsedWhen:
    """Read `text` as a future start time; raise WhenError(code, reading) when it cannot be used."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise WhenError("empty")
    body, explicit = _split_zone(cleaned)
    used = explicit or _Zone(zone, getattr(zone, "key", None) or str(zone))
    if not body:
        raise WhenError("unparseable")

    duration = _pure_duration(body)
    if duration is not None:
        return _checked(now.astimezone(UTC) + duration, now, used)

    local_now = now.astimezone(used.tz)
    extra_days = 0
    if _HANGUL_RE.search(body):
        body, extra_days = _korean_to_english(body, local_now)
    body = _clean_english(body, local_now)
    if not body:
        raise WhenError("unparseable")

    base = local_now.replace(tzinfo=None)
    if not _CLOCK_RE.search(body):
        bare = _BARE_HOUR_RE.match(body)
        if bare is not None and 1 <= int(bare[1]) <= 12:
            hour = int(bare[1])
            raise WhenError("ambiguous", f"{hour:02d}:00 / {(hour + 12) % 24:02d}:00")
        guess = _dateparse(body, base, languages)
        if guess is None:
            raise WhenError("unparseable")
        raise WhenError("ambiguous", f"{guess:%a %Y-%m-%d} ?", moment=guess)

    clocks = _written_clocks(body)
    wall = _dateparse(body, base, languages)
    if wall is None or any(clock != (wall.hour, wall.minute) for clock in clocks):
        # dateparser reads an impossible clock ("25:00", "13pm") as the current time of day, and may drop one it
        # cannot place ("12:00 noon"): the time it returns must be the one written
        raise WhenError("unparseable")
    wall += timedelta(days=extra_days)
    if (_WEEKDAY_RE.search(body) and not _DATE_RE.search(body)
            and (wall - timedelta(days=7)).date() >= base.date()):
        earlier = wall - timedelta(days=7)
        if localize(earlier, used.tz) > now:
            wall = earlier
    if not _YEAR_RE.search(body):
        year_before = wall.replace(year=wall.year - 1) if not (wall.month == 2 and wall.day == 29) else None
        if year_before is not None and timedelta(0) < base - year_before <= _YEAR_ROLLOVER_WINDOW:
            raise _read_as("past", year_before, used.name)
    return _checked(localize(wall, used.tz).astimezone(UTC), now, used)


def _checked(at: datetime, now: datetime, used: _Zone) -> ParsedWhen:
    at = at.astimezone(UTC)
    local = at.astimezone(used.tz)
    if at < now - PAST_TOLERANCE:
        raise _read_as("past", local, used.name)
    if at - now > MAX_AHEAD:
        raise _read_as("too_far", local, used.name)
    return ParsedWhen(at=at, local=local, zone_name=used.name, zone_abbreviation=used.abbreviation)
