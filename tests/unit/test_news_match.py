import time

import pytest

from bot.domain.news_match import (
    MAX_KEYWORD_LENGTH,
    REGEX_TEXT_LIMIT,
    Keyword,
    KeywordError,
    KeywordKind,
    KeywordSet,
    compile_keywords,
    match_entry,
    normalize_text,
    parse_keyword,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Trauma  Code", "trauma code"),
        ("  \tSeason\n2 ", "season 2"),
        ("ＳＥＡＳＯＮ　２", "season 2"),  # fullwidth letters, digit and ideographic space (NFKC)
        ("trau\u00adma", "trauma"),  # soft hyphen
        ("sea\u200bson\u200c 2\u200d", "season 2"),  # zero-width space / non-joiner / joiner
        ("\ufeffBOM\u2060", "bom"),  # BOM and word joiner
        ("중증\u200b외상센터", "중증외상센터"),
        ("STRASSE Straße", "strasse strasse"),  # case folding, not just lower()
        ("시즌①", "시즌1"),
        ("\u3164hangul filler", "hangul filler"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "term"),
    [
        ("season 2", KeywordKind.INCLUDE, "season 2"),
        ('"season 2"', KeywordKind.INCLUDE, "season 2"),
        ("“시즌 2”", KeywordKind.INCLUDE, "시즌 2"),
        ("-season 3", KeywordKind.EXCLUDE, "season 3"),
        ('-"season 3"', KeywordKind.EXCLUDE, "season 3"),
        ("re:season\\s*2", KeywordKind.REGEX_INCLUDE, "season\\s*2"),
        ("RE: (시즌|season)\\s*2", KeywordKind.REGEX_INCLUDE, "(시즌|season)\\s*2"),
        ("-re:rumou?r", KeywordKind.REGEX_EXCLUDE, "rumou?r"),
        ("  renewal  ", KeywordKind.INCLUDE, "renewal"),
    ],
)
def test_parse_keyword(raw, kind, term):
    keyword = parse_keyword(raw)
    assert keyword == Keyword(kind, raw.strip(), term)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-", "empty"),
        ('""', "empty"),
        ("re:", "empty"),
        ("-re:  ", "empty"),
        ("!!!", "empty"),
        ("x" * (MAX_KEYWORD_LENGTH + 1), "too_long"),
        ("re:" + "a" * 201, "too_long"),
        ("re:[", "bad_regex"),
        ("re:(unclosed", "bad_regex"),
        ("re:a{2,1}", "bad_regex"),
        ("re:(a+)+$", "regex_too_complex"),
        ("re:(\\w+\\s?)+$", "regex_too_complex"),
        ("re:(a|aa)*b", "regex_too_complex"),
        ("re:(a|a)*b", "regex_too_complex"),
        ("re:(.*)*x", "regex_too_complex"),
        ("re:(a)\\1", "regex_too_complex"),
        ("re:(?P<x>a)(?(x)b|c)", "regex_too_complex"),
        ("re:a.*b.*c", "regex_too_complex"),
        ("re:\\s*\\s*x", "regex_too_complex"),
        ("re:" + "a?" * 30 + "a" * 30, "regex_too_complex"),
        ("re:(?=.*a)(?=.*b)", "regex_too_complex"),
        ("re:(?i)[a-z]{0,300}[a-z]{0,60}z", "regex_too_complex"),  # ~200 ms per 600-char field before
        ("re:a{0,599}a{0,30}y", "regex_too_complex"),
        ("re:\\w+\\s?\\w+x", "regex_too_complex"),
    ],
)
def test_parse_keyword_errors(raw, code):
    with pytest.raises(KeywordError) as info:
        parse_keyword(raw)
    assert info.value.code == code
    assert info.value.detail


@pytest.mark.parametrize(
    "pattern",
    ["season\\s*2", "(시즌|season)\\s*2", "(foo|bar)+ baz", "s0?2\\b", "\\d{4}년", "trauma.{0,40}season", "^breaking"],
)
def test_reasonable_regexes_are_accepted(pattern):
    assert parse_keyword(f"re:{pattern}").kind is KeywordKind.REGEX_INCLUDE


def test_catastrophic_pattern_is_refused_quickly():
    started = time.perf_counter()
    for pattern in ["(a+)+$", "(x+x+)+y", "(.*a){12}", "a.*b.*c.*d", "(ab|a)+$", "(\\w|\\d\\d)+$"]:
        with pytest.raises(KeywordError) as info:
            parse_keyword(f"re:{pattern}")
        assert info.value.code == "regex_too_complex", pattern
    assert time.perf_counter() - started < 0.1


def test_accepted_regex_on_adversarial_text_stays_fast():
    keywords = compile_keywords(["re:trauma.{0,40}season ?2", "re:(시즌|season)\\s*2", "re:s0?2\\b"])
    hostile = ("trauma " * 200 + "season " * 200 + "a" * 5000)[: REGEX_TEXT_LIMIT * 10]
    started = time.perf_counter()
    for _ in range(20):
        keywords.match(hostile, hostile)
    assert time.perf_counter() - started < 0.5


MATCH_CASES = [
    # (keywords, title, summary, matched, keyword, excluded_by)
    (["season 2"], "Trauma Code Season 2 confirmed", "", True, "season 2", None),
    (["season 2"], "Trauma Code Season2 confirmed", "", True, "season 2", None),
    (["Season2"], "trauma code season 2 confirmed", "", True, "Season2", None),
    (["season 2"], "Trauma Code SEASON-2?", "", True, "season 2", None),
    (["season 2"], "Top 10 shows of season 20", "", False, None, None),
    (["season 2"], "season 2nd half", "", False, None, None),
    (["season 2"], "preseason 2 games", "", False, None, None),
    (["S2"], "Trauma Code S2 teaser", "", True, "S2", None),
    (["S2"], "Galaxy S20 review", "", False, None, None),
    (["S2"], "XS2 adapter", "", False, None, None),
    (["trauma"], "Traumatic week for fans", "", False, None, None),
    (["trauma"], "A trauma surgeon drama", "", True, "trauma", None),
    (["trauma code"], "trauma-code renewed", "", True, "trauma code", None),
    (["trauma code"], "traumacode renewed", "", False, None, None),
    (["Trauma Code: Heroes on Call"], "‘Trauma Code – Heroes on Call’ returns", "", True, None, None),
    (["renewal"], "Nothing here", "Netflix confirms renewal.", True, "renewal", None),
    (["season 2"], "Season", "2 episodes", False, None, None),  # title and summary are matched separately
    (["trauma"], "trau\u00adma surgeon", "", True, "trauma", None),  # soft hyphen
    (["season 2"], "sea\u200bson 2", "", True, "season 2", None),  # zero-width space
    (["season 2"], "ＳＥＡＳＯＮ ２", "", True, "season 2", None),  # fullwidth
    # Korean: spacing optional anywhere inside Hangul, digits keep their boundary
    (["시즌2"], "중증외상센터 시즌 2 제작 확정", "", True, "시즌2", None),
    (["시즌 2"], "중증외상센터 시즌2 제작 확정", "", True, "시즌 2", None),
    (["시즌2"], "시즌2가 온다", "", True, "시즌2", None),  # particle attached
    (["시즌2"], "시즌20 특집", "", False, None, None),
    (["시즌2"], "시즌 12 특집", "", False, None, None),
    (["중증외상센터 시즌2"], "중증 외상 센터 시즌 2 제작", "", True, "중증외상센터 시즌2", None),
    (["중증외상센터"], "드라마 '중증외상센터'의 인기", "", True, "중증외상센터", None),
    (["외상센터"], "권역외상센터 지원 확대", "", True, "외상센터", None),
    (["netflix"], "넷플릭스 Netflix에서 공개", "", True, "netflix", None),
    (["속편"], "후속 소식 없음", "", False, None, None),
    (["Season 2", "시즌2"], "중증외상센터 시즌 2", "", True, "시즌2", None),
    # exclusions win; no includes means everything not excluded
    (["season 2", "-rumor"], "Season 2 rumor mill", "", False, "season 2", "-rumor"),
    (["season 2", "-rumor"], "Season 2 confirmed", "", True, "season 2", None),
    (["-rumor"], "Anything at all", "", True, None, None),
    (["-rumor"], "A rumor", "", False, None, "-rumor"),
    ([], "Anything at all", "", True, None, None),
    (["-시즌 3"], "중증외상센터 시즌3 루머", "", False, None, "-시즌 3"),
    (["season 2", '-"season 20"'], "Season 2 and Season 20", "", False, "season 2", '-"season 20"'),
    (["-re:rumou?r"], "Rumour has it", "", False, None, "-re:rumou?r"),
    # regex keywords see normalized (case-folded, NFKC) text
    (["re:season\\s*2\\b"], "SEASON 2 confirmed", "", True, "re:season\\s*2\\b", None),
    (["re:season\\s*2\\b"], "season 25", "", False, None, None),
    (["re:(시즌|season)\\s*2"], "중증외상센터 시즌２", "", True, "re:(시즌|season)\\s*2", None),
]


@pytest.mark.parametrize(("keywords", "title", "summary", "matched", "keyword", "excluded_by"), MATCH_CASES)
def test_match_entry(keywords, title, summary, matched, keyword, excluded_by):
    result = match_entry(keywords, title, summary)
    assert result.matched is matched
    assert result.excluded_by == excluded_by
    if keyword is not None or not matched:
        assert result.keyword == keyword
    fields = (normalize_text(title), normalize_text(summary))
    assert compile_keywords(keywords).accepts(fields) is matched  # the ingest's yes/no agrees


def test_compiled_set_is_reusable_and_equivalent():
    keywords = [parse_keyword(raw) for raw in ["season 2", "시즌2", "-rumor"]]
    compiled = compile_keywords(keywords)
    assert isinstance(compiled, KeywordSet)
    assert len(compiled.includes) == 2
    assert len(compiled.exclusions) == 1
    for title in ["Season 2 now", "시즌 2 확정", "Season 2 rumor", "nothing"]:
        assert compiled.match(title) == match_entry(keywords, title)


def test_match_entry_rejects_bad_raw_keyword():
    with pytest.raises(KeywordError):
        match_entry(["re:(a+)+"], "title", "")


ADVERSARIAL_FIELDS = ["a" * 600, " " * 600, "ab" * 300, "abab " * 120, "a1" * 300, "가나" * 300, "season " * 85 + "s",
                      "trauma " * 85 + "t", "x" * 600, "1" * 600]


@pytest.mark.parametrize("raw", [
    "re:(?i)(season|시즌)\\s*(2|two|둘)", "re:trauma.{0,40}season ?2", "re:\\w+x", "re:.*x", "re:(?:a|b)*c",
    "re:[a-z]+1", "re:(?:ab|cd)+x", "re:[^z]*z", "re:(\\w+)z", "re:.{0,599}z", "re:[a-z]{0,10}[a-z]{0,10}z",
])
def test_every_accepted_regex_runs_well_under_5_ms_on_a_600_char_field(raw):
    """The worst cases the cost bound allows (one unbounded quantifier, short counted repeats in sequence) on
    texts built to make them backtrack; best of 3 runs, so a busy machine does not fail the test."""
    [matcher] = compile_keywords([raw]).includes
    for field in ADVERSARIAL_FIELDS:
        best = min(_timed(matcher.search, field) for _ in range(3))
        assert best < 0.005, (raw, field[:10], best)


def _timed(search, text: str) -> float:
    started = time.perf_counter()
    search(text)
    return time.perf_counter() - started
