"""Properties of `re:` keywords (Hypothesis, deterministic profile): any pattern an admin can type is either
refused with a KeywordError or, once accepted, matches any field in bounded time, however hostile the text.

Patterns are generated from a grammar of the constructs that make backtracking explode (nested and adjacent
quantifiers, overlapping alternations, counted repeats, lookarounds, backreferences); texts are the classic
worst cases for them (a long run of one character with a mismatch at the end), at the longest length a regex
ever sees (REGEX_TEXT_LIMIT after normalization) and beyond.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from hypothesis import example, given
from hypothesis import strategies as st

import tests.unit.hypothesis_profiles  # noqa: F401  (loads the profile)
from bot.domain.news_match import REGEX_TEXT_LIMIT, KeywordError, compile_keywords, parse_keyword

# Per field the budget aims at ~2 ms (see bot/domain/news_match.py); CPU time is measured, so other processes
# loading the machine do not count, and the limit still leaves a wide margin.
SECONDS_PER_MATCH = 0.25

atoms = st.sampled_from(["a", "b", "ab", ".", r"\w", r"\W", r"\s", r"\d", "[ab]", "[^b]", "x", "시즌", "^", "$", r"\b"])


def _timed(match: Callable[[], object]) -> float:
    """CPU seconds of one match, without a garbage collection of the whole test process landing inside it."""
    gc.disable()
    try:
        started = time.process_time()
        match()
        return time.process_time() - started
    finally:
        gc.enable()


def _quantified(inner: str, quantifier: str) -> str:
    return f"(?:{inner}){quantifier}"


patterns = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, inner).map(lambda p: f"(?:{p[0]}|{p[1]})"),
        st.tuples(inner, st.sampled_from(["*", "+", "?", "*?", "{2,}", "{0,300}", "{1,60}", "{5}", "++", "*+"])).map(
            lambda p: _quantified(*p)
        ),
        inner.map(lambda p: f"({p})"),
        inner.map(lambda p: f"(?={p})"),
        inner.map(lambda p: f"(?!{p})"),
        inner.map(lambda p: f"(?>{p})"),
        inner.map(lambda p: f"({p})\\1"),
    ),
    max_leaves=8,
)
hostile_texts = st.sampled_from(["a", "ab", "x", "시즌", " ", "aab"]).flatmap(
    lambda unit: st.tuples(st.just(unit), st.sampled_from(["!", "b", "", "\n", "z"]))
).map(lambda p: p[0] * (2 * REGEX_TEXT_LIMIT // len(p[0])) + p[1])


@given(pattern=patterns, text=hostile_texts, exclusion=st.booleans())
@example(pattern="(a+)+$", text="a" * 600 + "!", exclusion=False)
@example(pattern="(?:a|ab)*c", text="ab" * 300 + "!", exclusion=False)
@example(pattern=r"(?:\w*)*\d", text="a" * 600, exclusion=True)
@example(pattern="a.*b.*c.*d", text="ab" * 300, exclusion=False)
@example(pattern="[a-z]{0,300}[a-z]{0,60}z", text="a" * 600, exclusion=False)
def test_an_accepted_regex_matches_any_field_in_bounded_time(pattern, text, exclusion):
    raw = f"{'-' if exclusion else ''}re:{pattern}"
    try:
        keyword = parse_keyword(raw)
    except KeywordError as error:
        assert error.code in ("bad_regex", "regex_too_complex", "too_long", "empty"), error
        return
    keywords = compile_keywords([keyword])
    elapsed = _timed(lambda: keywords.match(text, text))
    assert elapsed < SECONDS_PER_MATCH, f"{raw!r} took {elapsed * 1000:.0f} ms on {len(text)} characters"


@given(st.text(max_size=220))
def test_any_typed_regex_is_accepted_or_refused_never_raises(pattern):
    try:
        keyword = parse_keyword("re:" + pattern)
    except KeywordError:
        return
    keywords = compile_keywords([keyword])
    assert _timed(lambda: keywords.match("a" * 600 + "!", "ab" * 300)) < SECONDS_PER_MATCH
