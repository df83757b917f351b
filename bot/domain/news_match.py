"""Keyword matching for news alerts, in English and Korean.

Text is normalized (NFKC, case folding, invisible characters removed, whitespace collapsed) before matching.
A plain keyword becomes a compiled pattern in which:

* spacing and punctuation between a word and a number, and anywhere inside Hangul/CJK runs, are optional
  ("season2" = "season 2", "시즌2" = "시즌 2", "중증외상센터" = "중증 외상 센터");
* two Latin words (or two numbers) need some separator between them ("trauma code" = "trauma-code");
* a Latin letter or digit at either end of the keyword must not touch another Latin letter or digit in the text
  ("s2" does not match "s20", "trauma" does not match "traumatic"); Hangul ends have no boundary, because
  Korean attaches particles ("시즌2가", "넷플릭스에서").

Regular expressions (``re:<pattern>``) are bounded in two ways, since Python's ``re`` has no timeout:

1. A static cost model over the parsed pattern (``re._parser``) refuses backreferences, quantified bodies that can
   match the same text in several ways (nested quantifiers like ``(a+)+``, alternations like ``(a|ab)*`` that are
   not a prefix-free set of literals), and patterns whose worst-case number of backtracking paths — the product
   of the choices of every quantifier and alternation (a prefix-free set of literal alternatives counts once: at
   most one of them matches at a position), times the number of start positions, times the number of
   variable-width quantifiers (each path through several of them costs more steps) — exceeds a budget calibrated
   so any accepted pattern runs in about 2 ms or less on a full field. One unbounded quantifier is fine
   (``season\\s*2``); two in sequence (``a.*b.*c``), or long counted repeats in sequence
   (``[a-z]{0,300}[a-z]{0,60}z``, 135 ms on 600 letters under the old budget), are not.
2. Regexes only ever see at most ``REGEX_TEXT_LIMIT`` characters of each field, which keeps that bound small.
"""

from __future__ import annotations

import enum
import functools
import re

# The regex parser is stdlib internals, the only way to inspect a pattern's structure. typeshed has no stubs for
# `re._parser`/`re._constants`; its stubs of the deprecated public aliases (`sre_parse`) type an opcode's argument
# as a union of every opcode's shape, which the dispatch on the opcode below cannot narrow. So: untyped here.
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parser  # type: ignore[import-not-found]
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_KEYWORD_LENGTH = 100
MAX_REGEX_LENGTH = 200
REGEX_TEXT_LIMIT = 300  # regexes see the title and the first 300 characters of the summary
REGEX_COST_BUDGET = 100_000  # one unbounded quantifier over REGEX_TEXT_LIMIT characters (~90k), ~1 ms

_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")

_SPACELESS_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7AF),  # Hangul Syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B
)
_SPACELESS_CLASS = "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in _SPACELESS_RANGES)
# A "word" character for boundary purposes: letters and digits outside the spaceless scripts.
_BOUNDARY_CHAR = f"[^\\W_{_SPACELESS_CLASS}]"
_OPTIONAL_GAP = r"[\W_]*"
_REQUIRED_GAP = r"[\W_]+"


def normalize_text(s: str) -> str:
    """NFKC, case folding, invisible characters removed and whitespace collapsed to single spaces."""
    if s.isascii():
        # Fast path (most English headlines and summaries): ASCII has no format characters and is its own
        # NFKC form, so only case folding and whitespace remain.
        return " ".join(s.lower().split())  # str.split's whitespace is exactly the regex \s (str.isspace)
    visible = "".join(ch for ch in s if ch not in _INVISIBLE_EXTRA and unicodedata.category(ch) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    folded = "".join(ch for ch in folded if ch not in _INVISIBLE_EXTRA)
    return " ".join(folded.split())


class KeywordKind(enum.Enum):
    INCLUDE = "include"
    EXCLUDE = "exclude"
    REGEX_INCLUDE = "regex_include"
    REGEX_EXCLUDE = "regex_exclude"

    @property
    def is_exclusion(self) -> bool:
        return self in (KeywordKind.EXCLUDE, KeywordKind.REGEX_EXCLUDE)

    @property
    def is_regex(self) -> bool:
        return self in (KeywordKind.REGEX_INCLUDE, KeywordKind.REGEX_EXCLUDE)


@dataclass(frozen=True, slots=True)
class Keyword:
    """One admin keyword. ``raw`` is what the admin typed (trimmed); ``term`` is the text or pattern to match."""

    kind: KeywordKind
    raw: str
    term: str

    @property
    def is_exclusion(self) -> bool:
        return self.kind.is_exclusion


class KeywordError(ValueError):
    """Bad keyword input. ``code`` is one of: empty, too_long, bad_regex, regex_too_complex."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class MatchResult:
    matched: bool
    keyword: str | None = None
    excluded_by: str | None = None


_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("‘", "’"), ("「", "」"), ("『", "』"))


def _strip_quotes(text: str) -> str:
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            return text[len(left) : -len(right)].strip()
    return text


def parse_keyword(raw: str) -> Keyword:
    """Parse ``word``, ``"a phrase"``, ``-exclusion``, ``re:pattern`` or ``-re:pattern``; raise KeywordError."""
    text = raw.strip()
    if not text:
        raise KeywordError("empty", "the keyword is empty")
    exclusion = text.startswith("-")
    body = text[1:].strip() if exclusion else text
    if body[:3].casefold() == "re:":
        pattern = body[3:].strip()
        if not pattern:
            raise KeywordError("empty", "the regular expression is empty")
        if len(pattern) > MAX_REGEX_LENGTH:
            raise KeywordError("too_long", f"regular expressions are limited to {MAX_REGEX_LENGTH} characters")
        _compile_regex(pattern)
        kind = KeywordKind.REGEX_EXCLUDE if exclusion else KeywordKind.REGEX_INCLUDE
        return Keyword(kind, text, pattern)
    term = _strip_quotes(body)
    if len(term) > MAX_KEYWORD_LENGTH:
        raise KeywordError("too_long", f"keywords are limited to {MAX_KEYWORD_LENGTH} characters")
    if not any(ch.isalnum() for ch in normalize_text(term)):
        raise KeywordError("empty", "the keyword has no letters or digits")
    return Keyword(KeywordKind.EXCLUDE if exclusion else KeywordKind.INCLUDE, text, term)


# --- plain keywords -------------------------------------------------------------------------------------------


def _char_class(ch: str) -> str:
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _SPACELESS_RANGES):
        return "spaceless"
    if ch.isdecimal():
        return "digit"
    if ch.isalnum() or unicodedata.category(ch).startswith("M"):
        return "letter"
    return "gap"


def _keyword_pattern(term: str) -> str:
    """Regex source for a plain keyword (see the module docstring for the rules)."""
    tokens: list[tuple[str, str]] = []  # (class, text); spaceless characters are one token each
    for ch in normalize_text(term):
        cls = _char_class(ch)
        if cls == "gap":
            if tokens and tokens[-1][0] != "gap":
                tokens.append(("gap", ""))
            continue
        if tokens and tokens[-1][0] == cls and cls != "spaceless":
            tokens[-1] = (cls, tokens[-1][1] + ch)
        else:
            tokens.append((cls, ch))
    if tokens and tokens[-1][0] == "gap":
        tokens.pop()

    words = [(cls, text) for cls, text in tokens if cls != "gap"]
    parts: list[str] = []
    previous: str | None = None
    for cls, text in words:
        if previous is not None:
            same_spaced_class = previous == cls and cls in ("letter", "digit")
            parts.append(_REQUIRED_GAP if same_spaced_class else _OPTIONAL_GAP)
        parts.append(re.escape(text))
        previous = cls
    first, last = words[0][0], words[-1][0]
    prefix = f"(?<!{_BOUNDARY_CHAR})" if first != "spaceless" else ""
    suffix = f"(?!{_BOUNDARY_CHAR})" if last != "spaceless" else ""
    return prefix + "".join(parts) + suffix


# --- regex keywords: static cost bound ------------------------------------------------------------------------


def _literal_alternatives(branches: Sequence[sre_parser.SubPattern]) -> list[str] | None:
    """The alternatives as literal strings, or None when any alternative is not a plain literal."""
    words = []
    for branch in branches:
        chars = []
        for op, av in branch:
            if op is not sre_constants.LITERAL:
                return None
            chars.append(chr(av))
        words.append("".join(chars))
    return words


def _is_prefix_free(words: Sequence[str]) -> bool:
    return not any(i != j and b.startswith(a) for i, a in enumerate(words) for j, b in enumerate(words))


def _repeat_body_is_unambiguous(body: sre_parser.SubPattern) -> bool:
    """A quantified body must match any text in at most one way: fixed width with no inner choices,
    or a prefix-free set of literal alternatives (uniquely decodable, so no exponential backtracking)."""
    items = list(body)
    if len(items) == 1 and items[0][0] is sre_constants.SUBPATTERN:
        return _repeat_body_is_unambiguous(items[0][1][3])
    if len(items) == 1 and items[0][0] is sre_constants.BRANCH:
        words = _literal_alternatives(items[0][1][1])
        return words is not None and all(words) and _is_prefix_free(words)
    lo, hi = body.getwidth()
    return lo == hi and _cost(body, 1) == 1


def _cost(pattern: sre_parser.SubPattern, text_limit: int) -> int:
    """Upper bound on backtracking paths through ``pattern`` for one start position; raises KeywordError."""
    total = 1
    for op, av in pattern:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise KeywordError("regex_too_complex", "backreferences are not allowed")
        if op is sre_constants.SUBPATTERN:
            total *= _cost(av[3], text_limit)
        elif op is sre_constants.ATOMIC_GROUP:
            total *= _cost(av, text_limit)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            total *= _cost(av[1], text_limit)
        elif op is sre_constants.BRANCH:
            words = _literal_alternatives(av[1])
            if words is None or not all(words) or not _is_prefix_free(words):
                total *= sum(_cost(branch, text_limit) for branch in av[1])
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, high, body = av
            if high > 1 and not _repeat_body_is_unambiguous(body):
                raise KeywordError(
                    "regex_too_complex", "a repeated part can match the same text in several ways (nested quantifier)"
                )
            span = text_limit if high == sre_constants.MAXREPEAT else high
            total *= max(1, min(span, text_limit) - low + 1)
        if total > REGEX_COST_BUDGET:
            raise KeywordError("regex_too_complex", "the pattern could take too long to match")
    return total


def _compile_regex(pattern: str) -> re.Pattern[str]:
    try:
        parsed = sre_parser.parse(pattern, re.IGNORECASE)
        compiled = re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise KeywordError("bad_regex", str(exc)) from exc
    steps = _cost(parsed, REGEX_TEXT_LIMIT) * REGEX_TEXT_LIMIT * max(1, _variable_repeats(parsed))
    if steps > REGEX_COST_BUDGET:
        raise KeywordError("regex_too_complex", "the pattern could take too long to match")
    return compiled


def _variable_repeats(pattern: sre_parser.SubPattern) -> int:
    """How many quantifiers of ``pattern`` can match a variable number of times."""
    count = 0
    for op, av in pattern:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            count += int(av[1] != av[0]) + _variable_repeats(av[2])
        elif op is sre_constants.SUBPATTERN:
            count += _variable_repeats(av[3])
        elif op is sre_constants.ATOMIC_GROUP:
            count += _variable_repeats(av)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            count += _variable_repeats(av[1])
        elif op is sre_constants.BRANCH:
            count += sum(_variable_repeats(branch) for branch in av[1])
    return count


# --- compiled matchers ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """A keyword compiled once; ``search`` takes already-normalized text."""

    keyword: Keyword
    pattern: re.Pattern[str]

    def search(self, normalized: str) -> bool:
        if self.keyword.kind.is_regex:
            normalized = normalized[:REGEX_TEXT_LIMIT]
        return self.pattern.search(normalized) is not None


@functools.lru_cache(maxsize=4096)
def compile_keyword(keyword: Keyword) -> KeywordMatcher:
    if keyword.kind.is_regex:
        return KeywordMatcher(keyword, _compile_regex(keyword.term))
    return KeywordMatcher(keyword, re.compile(_keyword_pattern(keyword.term)))


@dataclass(frozen=True, slots=True)
class KeywordSet:
    """Includes and exclusions compiled once, for matching many entries."""

    includes: tuple[KeywordMatcher, ...]
    exclusions: tuple[KeywordMatcher, ...]

    def match(self, title: str, summary: str = "") -> MatchResult:
        return self.match_normalized((normalize_text(title or ""), normalize_text(summary or "")))

    def match_normalized(self, fields: Sequence[str]) -> MatchResult:
        """``match`` on fields already passed through normalize_text (normalize once, match for many servers)."""
        for matcher in self.exclusions:
            if any(matcher.search(field) for field in fields):
                included = next((m.keyword.raw for m in self.includes if any(m.search(f) for f in fields)), None)
                return MatchResult(False, included, matcher.keyword.raw)
        if not self.includes:
            return MatchResult(True)
        for matcher in self.includes:
            if any(matcher.search(field) for field in fields):
                return MatchResult(True, matcher.keyword.raw)
        return MatchResult(False)

    def accepts(self, fields: Sequence[str]) -> bool:
        """`match_normalized(fields).matched` without the explanation (which keyword): the ingest's hot path."""
        for matcher in self.exclusions:
            for field in fields:
                if matcher.search(field):
                    return False
        return not self.includes or any(matcher.search(field) for matcher in self.includes for field in fields)


def compile_keywords(keywords: Iterable[Keyword | str]) -> KeywordSet:
    """Compile keywords (Keyword objects or raw strings, which are parsed) into a KeywordSet."""
    matchers = [compile_keyword(k if isinstance(k, Keyword) else parse_keyword(k)) for k in keywords]
    return KeywordSet(
        includes=tuple(m for m in matchers if not m.keyword.is_exclusion),
        exclusions=tuple(m for m in matchers if m.keyword.is_exclusion),
    )


def match_entry(keywords: KeywordSet | Iterable[Keyword | str], title: str, summary: str = "") -> MatchResult:
    """Posted when any include matches and no exclusion does; with no includes, everything not excluded matches."""
    keyword_set = keywords if isinstance(keywords, KeywordSet) else compile_keywords(keywords)
    return keyword_set.match(title, summary)
