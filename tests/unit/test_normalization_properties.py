"""Properties of keyword and link normalization (Hypothesis, deterministic profile).

- `normalize_text` is idempotent and NFKC-stable (the same result for a text and its NFKC/NFD/NFKD forms), and its
  output is NFKC, lower-case-folded, without invisible characters or doubled spaces;
- a keyword matches a headline exactly when it matches the headline's NFKC form, and a keyword written in a
  compatibility form ("ＴＲＡＵＭＡ") matches like its plain form; a keyword always matches a headline that is
  just that keyword;
- `parse_keyword` reads any text or refuses it with a KeywordError, nothing else;
- `normalize_link` is idempotent, keeps an NFKC link NFKC, never raises, and the entry key built from a link is the
  same for the link and its normalized form.
"""

from __future__ import annotations

import unicodedata

from hypothesis import assume, given
from hypothesis import strategies as st

import tests.unit.hypothesis_profiles  # noqa: F401  (loads the profile)
from bot.domain.feed_entries import entry_key, normalize_link
from bot.domain.news_match import KeywordError, compile_keywords, normalize_text, parse_keyword

# Text with the characters that make normalization hard: compatibility forms, combining marks, Hangul jamo and
# syllables, zero-width and bidi controls, odd spaces, ligatures, case-folding specials.
_TRICKY = ("ＴＲＡＵＭＡ", "ｃｏｄｅ", "①", "ﬁ", "ß", "ẞ", "İ", "ς", "Å", "A\u030a", "\u1100\u1161", "중증", "외상",
           "센터", "시즌", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066", "\u3164",
           "\u115f", "\u034f", "\u00a0", "\u3000", "\u2028", "\t", "\n", " ", "2", "season", "Code", "ｶ", "㍿", "™")
texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(_TRICKY) | st.text(max_size=3), max_size=12).map("".join),
)


@given(texts)
def test_normalize_text_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@given(texts, st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_normalize_text_is_stable_under_unicode_normalization(text, form):
    assert normalize_text(unicodedata.normalize(form, text)) == normalize_text(text)


@given(texts)
def test_normalized_text_is_clean(text):
    out = normalize_text(text)
    assert unicodedata.is_normalized("NFKC", out)
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch) == "Cf" for ch in out)
    assert not any(ch.isspace() and ch != " " for ch in out)


words = st.one_of(st.sampled_from(["trauma", "code", "중증외상센터", "시즌2", "season 2", "ＴＲＡＵＭＡ", "ﬁnale"]),
                  st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12))


@given(keyword=words, before=texts, after=texts)
def test_a_keyword_matches_a_headline_and_its_nfkc_form_alike(keyword, before, after):
    try:
        keywords = compile_keywords([keyword])
    except KeywordError:
        return
    headline = f"{before} {keyword} {after}"
    assert keywords.match(headline).matched == keywords.match(unicodedata.normalize("NFKC", headline)).matched


@given(keyword=words)
def test_a_keyword_matches_itself_in_any_compatibility_form(keyword):
    try:
        plain = compile_keywords([keyword])
    except KeywordError:
        return
    assert plain.match(keyword).matched
    assert plain.match(unicodedata.normalize("NFKD", keyword)).matched
    wide = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in keyword)  # fullwidth forms
    assert compile_keywords([wide]).match(keyword).matched
    assert plain.match(wide).matched


@given(st.one_of(texts, texts.map(lambda t: "re:" + t), texts.map(lambda t: "-" + t), texts.map(lambda t: f'"{t}"')))
def test_parse_keyword_reads_or_refuses(raw):
    try:
        keyword = parse_keyword(raw)
    except KeywordError as error:
        assert error.code in ("empty", "too_long", "bad_regex", "regex_too_complex")
        return
    compile_keywords([keyword]).match(raw)  # a keyword that was accepted can always be matched


_URL_PARTS = st.fixed_dictionaries({
    "scheme": st.sampled_from(["http", "https", "HTTP", "HtTpS", "ftp", "javascript", ""]),
    "host": st.sampled_from(["Example.COM", "news.google.com", "xn--bcher-kva.example", "[::1]", "127.0.0.1",
                             "bücher.example", "ＥＸＡＭＰＬＥ.com", "a..b", ""]),
    "port": st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x"]),
    "userinfo": st.sampled_from(["", "user@", "u:p@"]),
    "path": st.sampled_from(["", "/", "/a/b", "/%7Euser", "/한국", "/a b", "//x"]) | st.text(max_size=10),
    "query": st.lists(st.sampled_from(["utm_source=x", "b=2", "a=1", "fbclid=z", "a=1", "UTM_Medium=y", "=", "&", "x"])
                      | st.text(max_size=5), max_size=5).map("&".join),
    "fragment": st.sampled_from(["", "#top", "#"]),
})
links = st.one_of(
    _URL_PARTS.map(lambda p: f"{p['scheme']}://{p['userinfo']}{p['host']}{p['port']}{p['path']}"
                             f"{'?' + p['query'] if p['query'] else ''}{p['fragment']}"),
    st.text(max_size=60),
)


@given(links)
def test_normalize_link_is_idempotent(url):
    once = normalize_link(url)
    assert normalize_link(once) == once, f"{url!r} -> {once!r} -> {normalize_link(once)!r}"


@given(links)
def test_normalize_link_keeps_an_nfkc_link_nfkc(url):
    assume(unicodedata.is_normalized("NFKC", url))
    assert unicodedata.is_normalized("NFKC", normalize_link(url))


@given(links)
def test_a_link_and_its_normalized_form_give_one_entry_key(url):
    assume(url.strip())
    assert entry_key({"link": url}) == entry_key({"link": normalize_link(url)})
