"""search_svc.query: normalisation, folding, terms, reasons and the typo budget."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_svc.engines.base import SearchQuery
from search_svc.query import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    RANKING_MAX_TERMS,
    ParsedQuery,
    analyze,
    fold,
    normalize_text,
    parse_query,
    typo_budget,
    word_spans,
)


@pytest.mark.parametrize(("term", "budget"), [
    ("", 0), ("a", 0), ("abcd", 0), ("abcde", 1), ("abcdefgh", 1), ("abcdefghi", 2),
    ("pemerintahan", 2), ("rumah", 1), ("café", 0), ("kafee", 1),
])
def test_typo_budget_follows_meilisearch_word_sizes(term: str, budget: int) -> None:
    assert typo_budget(term) == budget


@pytest.mark.parametrize(("raw", "folded"), [
    ("Café", "cafe"), ("STRASSE", "strasse"), ("Straße", "strasse"), ("Ærø", "aero"),
    ("Łódź", "lodz"), ("İstanbul", "istanbul"), ("naïve", "naive"), ("ﬁsh", "fish"),
    ("Đà Nẵng", "da nang"), ("ÅNGSTRÖM", "angstrom"), ("plain", "plain"),
])
def test_fold_lowercases_and_strips_accents(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(("text", "words"), [
    ("Rumah Makan Padang", ["rumah", "makan", "padang"]),
    ("e-commerce_site, v2.0!", ["e", "commerce", "site", "v2", "0"]),
    ("Café crème brûlée", ["cafe", "creme", "brulee"]),
    ("hello🎉world", ["hello", "world"]),
    ("½ cup", ["1", "2", "cup"]),
    ("x" * 65 + " ok", ["ok"]),
    ("", []),
    # a combining mark belongs to the letter before it, never breaks a word: Arabic
    # harakat (and accents NFKC cannot compose) fold away like any accent
    ("بِسْمِ اللَّهِ", ["بسم", "الله"]),
    ("q\u0307uick c\u0308at", ["quick", "cat"]),
    # invisible joiners inside a word (an HTML &shy;, a Persian ZWNJ) are not breaks
    # either: a query drops them (normalize_text), so the index must too
    ("pe\u00admerintahan", ["pemerintahan"]), ("می\u200cخواهم", ["میخواهم"]),
])
def test_analyze_splits_folded_words(text: str, words: list[str]) -> None:
    assert analyze(text) == words


def test_word_spans_point_into_the_source_text() -> None:
    text = "Hé <b>Café</b>"
    assert [(text[s:e], w) for s, e, w in word_spans(text)] == [
        ("Hé", "he"), ("b", "b"), ("Café", "cafe"), ("b", "b")]


def test_a_word_span_holds_the_combining_marks_of_its_letters() -> None:
    text = "nai\u0308ve Cafe\u0301 كِتَاب"
    assert [(text[s:e], w) for s, e, w in word_spans(text)] == [
        ("nai\u0308ve", "naive"), ("Cafe\u0301", "cafe"), ("كِتَاب", "كتاب")]


@pytest.mark.parametrize(("raw", "expected"), [
    ("  a\t\tb\n c  ", "a b c "),
    ("a\x00b\x01c\u200bd\u202ee", "abcde"),
    ("Ｆｕｌｌ", "Full"),
    ("x" * 500, "x" * MAX_QUERY_CHARS),
    ("", ""),
])
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(("raw", "terms", "reason"), [
    ("", (), "empty"), (None, (), "empty"), ("   ", (), "empty"), ("!!! ??? ***", (), "empty"),
    ("a", ("a",), "too_short"), ('"a"', ("a",), "too_short"), ("é", ("e",), "too_short"),
    ("ab", ("ab",), None), ("a b", ("a", "b"), None), ("ß", ("ss",), None),
])
def test_empty_and_too_short_queries_carry_a_reason(raw: str | None, terms: tuple[str, ...],
                                                    reason: str | None) -> None:
    parsed = parse_query(raw)
    assert parsed.terms == terms
    assert parsed.reason == reason
    assert parsed.searchable is (reason is None)


@pytest.mark.parametrize("raw", [
    'title:"foo" AND bar OR (baz)~2 -qux* +x^3 [a TO b] {c} \\ / ! : & | ?',
    "foo\" OR 1=1 --", "'; DROP TABLE blogs; --", "*:*", "NOT NOT NOT",
])
def test_query_syntax_never_survives(raw: str) -> None:
    parsed = parse_query(raw)
    assert all(term.isalnum() for term in parsed.terms)
    assert not set(parsed.text) & set("()[]{}:*~^+-\\/!&|?'=;")


def test_quoted_query_is_a_phrase_without_prefix() -> None:
    parsed = parse_query('  “Rumah Makan”  ')
    assert parsed == ParsedQuery(text='"rumah makan"', terms=("rumah", "makan"),
                                 phrase=True, prefix_last=False)


def test_unbalanced_quote_is_not_a_phrase() -> None:
    parsed = parse_query('"rumah makan')
    assert not parsed.phrase and parsed.terms == ("rumah", "makan") and parsed.prefix_last


@pytest.mark.parametrize(("raw", "prefix_last"), [
    ("rumah mak", True), ("rumah mak ", False), ("rumah.", False), ("rum", True),
    ("كِتَ", True),  # a word ending in a mark (a vowel sign) is still being typed
])
def test_last_word_is_a_prefix_only_while_being_typed(raw: str, prefix_last: bool) -> None:
    assert parse_query(raw).prefix_last is prefix_last


def test_terms_are_capped_and_the_last_kept_word_is_complete() -> None:
    parsed = parse_query(" ".join(f"w{i}" for i in range(30)))
    assert len(parsed.terms) == MAX_TERMS
    assert parsed.terms[-1] == f"w{MAX_TERMS - 1}" and not parsed.prefix_last


def test_ten_kilobytes_of_hostile_text_is_bounded() -> None:
    parsed = parse_query(("\"(*" + "😀" * 5 + "ünï AND ") * 1000)
    assert len(parsed.text) <= MAX_QUERY_CHARS + 2
    assert len(parsed.terms) <= MAX_TERMS


@pytest.mark.parametrize("raw", [
    " ".join(["ßßßßßßß"] * 9) + " kopi", " ".join(["ßßßßßßß"] * 9) + " kopi ",
    '"' + " ".join(["ßßßßßßß"] * 9) + ' kopi"', "ß" * 120, "æ" * 64 + " þ",
    "Straße " * 18,
    # a word dropped: the last kept one is complete, and its closing space must fit too
    "ß" * 20 + "a " + "ß" * 21 + " " + "ß" * 21 + "a xy",
])
def test_words_that_fold_longer_keep_the_text_canonical(raw: str) -> None:
    # "ß" folds to "ss": the canonical text outgrew the bound and, parsed again by the
    # engine, was cut elsewhere (a search for other words than the API echoed)
    for max_terms in (MAX_TERMS, RANKING_MAX_TERMS):
        parsed = parse_query(raw, max_terms=max_terms)
        assert len(parsed.text) <= MAX_QUERY_CHARS
        assert parse_query(parsed.text, max_terms=max_terms) == parsed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_is_canonical_and_bounded(raw: str) -> None:
    parsed = parse_query(raw)
    assert parse_query(parsed.text) == parsed
    assert len(parsed.terms) <= MAX_TERMS
    assert all(t and t == fold(t) and t.isalnum() for t in parsed.terms)
    assert (parsed.reason == "empty") is (not parsed.terms)
    assert len(normalize_text(raw)) <= MAX_QUERY_CHARS + 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fold_is_idempotent_and_analyze_agrees_with_itself(text: str) -> None:
    words = analyze(text)
    assert analyze(" ".join(words)) == words
    assert all(fold(w) == w for w in words)


_ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=300)
# what content holds: ASCII words among accented ones, curly quotes, dashes, digits
_MIXED_TEXT = st.lists(st.sampled_from(
    ["kopi", "Kopi", "KOPI", "café", "Crème", "ß", "½", "İstanbul", "“", "—", "…", "_",
     "x" * 64, "y" * 65, "é" * 70, "v2.0", "e-commerce", " ", "\n", "🎉", "Ⅻ", "ﬁ"]),
    max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ASCII_TEXT, _MIXED_TEXT, st.text(max_size=200)))
def test_analyze_gives_the_words_word_spans_finds(text: str) -> None:
    # analyze's shortcuts (ASCII text, ASCII words) must fold exactly as word_spans,
    # which snippets use to find the same words in the source text
    assert analyze(text) == [w for _, _, w in word_spans(unicodedata.normalize("NFKC", text))]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_normalized_text_has_no_control_characters(raw: str) -> None:
    text = normalize_text(raw)
    assert "  " not in text and not text.startswith(" ")
    assert all(c == " " or c.isprintable() or not c.isspace() for c in text)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text)


@pytest.mark.parametrize("facet,field,value", [
    ("type", "types", ("blog",)), ("category", "categories", ("Kopi",)),
    ("tags", "tags", ("a", "b")), ("locale", "locale", "id"),
])
def test_a_query_without_a_facets_filter_keeps_the_tenant_and_its_scope(
        facet: str, field: str, value: object) -> None:
    q = SearchQuery(tenant_id="t1", text="kopi", scope_types=("blog", "page"),
                    published_before=100, **{field: value})  # type: ignore[arg-type]
    assert q.filters(facet)
    bare = q.without_filter(facet)
    assert not bare.filters(facet) and bare == SearchQuery(
        tenant_id="t1", text="kopi", scope_types=("blog", "page"), published_before=100)
    assert not SearchQuery(tenant_id="t1").filters(facet)


def _normalize_whole(raw: str) -> str:
    """normalize_text as it read all of the text (the reference)."""
    import re

    text = unicodedata.normalize("NFKC", raw[:4096])
    text = "".join(" " if c.isspace() else c for c in text
                   if c.isspace() or unicodedata.category(c)[0] != "C")
    text = re.sub(r"\s+", " ", text).lstrip(" ")[:MAX_QUERY_CHARS]
    return text.rstrip(" ") + " " if text.endswith(" ") else text


@given(st.text(max_size=400) | st.lists(st.sampled_from(
    ["\ufdfa", " ", "\u3000", "\x00", "\u200b", "a", "\u0301", "\n", "ﬁ"]), max_size=600
).map("".join))
@settings(max_examples=300, deadline=None)
def test_reading_only_what_is_kept_normalises_as_reading_everything(raw: str) -> None:
    assert normalize_text(raw) == _normalize_whole(raw)
