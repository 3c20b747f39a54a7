"""search_svc.snippets and .matching: matching after folding, typo budgets, prefix, window, escaping."""

from __future__ import annotations

import html
import re
import signal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search_svc.matching import term_matcher
from search_svc.query import analyze
from search_svc.snippets import (
    ELLIPSIS,
    SNIPPET_CHARS,
    _best_cluster,
    best_snippet,
    build_snippet,
    find_matches,
    render,
)

MARKS = re.compile(r"</?mark>")


def marked(snippet: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", snippet)]


@pytest.mark.parametrize(("text", "terms", "expected"), [
    ("Café au lait", ["cafe"], ["Café"]),
    ("CAFE au lait", ["cafe"], ["CAFE"]),
    ("Rumah makan", ["rumha"], ["Rumah"]),  # transposition: 1 typo at 5 chars
    ("Rumah makan", ["rumeh"], ["Rumah"]),  # substitution
    ("kota Jakarta", ["jkarta"], ["Jakarta"]),  # deletion
    ("pemerintahan daerah", ["pemrintahn"], ["pemerintahan"]),  # 2 typos at 9+
    ("pemerintahan daerah", ["pemrntahn"], []),  # 3 typos
    ("kucing", ["kuxing"], ["kucing"]),
    ("kota", ["kote"], []),  # under 5 chars: exact only
    ("kota", ["kot"], ["kota"]),  # ... but the last term is a prefix
    ("makanan khas", ["makan"], ["makanan"]),
    ("masakan", ["mak"], []),
    ("pemerintahan", ["pmerin"], ["pemerintahan"]),  # fuzzy prefix within budget
    ("Rumah makan", ["mumah"], []),  # a first-letter typo counts two
    ("pemerintahan", ["femerintahan"], ["pemerintahan"]),  # ... allowed alone at 9+
    ("pemerintahan", ["femerintahxn"], []),
])
def test_matches_after_folding_with_typo_budget_and_prefix(text: str, terms: list[str],
                                                           expected: list[str]) -> None:
    assert marked(best_snippet([text], terms)) == expected


def test_a_mark_never_separates_a_letter_from_its_combining_marks() -> None:
    # decomposed text (NFD, as macOS and some editors write it): the whole word is
    # marked, accent included, and a window never starts on a combining mark
    text = "Minum di Cafe\u0301 dan nai\u0308ve"
    assert marked(best_snippet([text], ["cafe", "naive"])) == ["Cafe\u0301", "nai\u0308ve"]
    words = " ".join(["ก\u0e34" * 30] * 4)  # long words: the window cuts inside them
    text = f"{words} kopi {words}"
    for size in range(100, 110):
        snip = build_snippet(text, ["kopi"], size=size)
        assert text[snip.start] != "\u0e34" and text[snip.end:snip.end + 1] != "\u0e34"


def test_prefix_applies_to_the_last_term_only() -> None:
    text = "kopling padang"
    assert marked(best_snippet([text], ["kop", "pad"])) == ["padang"]
    assert marked(best_snippet([text], ["kop", "pad"], prefix_last=False)) == []


def test_words_sharing_the_stem_are_marked_where_the_word_as_typed_is_missing() -> None:
    # the engine finds "dikirim" and "pengiriman" for "kirim" by their Snowball stem
    text = "Paket dikirim besok, pengiriman cepat"
    assert marked(best_snippet([text], ["kirim"], prefix_last=False)) == [
        "dikirim", "pengiriman"]
    assert marked(best_snippet(["cached pages"], ["caching"], prefix_last=False)) == ["cached"]
    # where "kirim" itself is in the document, only it is marked
    assert marked(best_snippet(["kirim atau dikirim"], ["kirim"], prefix_last=False)) == [
        "kirim"]


@pytest.mark.parametrize(("texts", "matched", "asked"), [
    (["Paket kirim besok", "kirim"], ["kirim"], 0),  # typed in every text: never asked
    (["Sudah dikirim besok", "Paket kirim"], ["kirim"], 0),  # typed in another text
    (["Paket dikirim besok, pengiriman cepat"], ["kirim"], 1),  # a variant: asked, once
    (["Paket dikirim besok, pengiriman cepat"], [], 1),  # ... whose stem matched no hit
])
def test_the_stemmed_terms_are_asked_for_only_when_a_text_lacks_a_term(
        texts: list[str], matched: list[str], asked: int) -> None:
    calls: list[int] = []

    def stemmed() -> list[str]:
        calls.append(1)
        return matched

    lazy = term_matcher(["kirim"], prefix_last=False, stemmed=stemmed)
    known = term_matcher(["kirim"], prefix_last=False, stemmed=matched)
    for _ in range(2):  # a second hit asks nothing more
        assert best_snippet(texts, ["kirim"], prefix_last=False, matcher=lazy) == \
            best_snippet(texts, ["kirim"], prefix_last=False, matcher=known)
    assert len(calls) == asked


def test_exact_mode_has_no_typos_nor_prefix() -> None:
    assert marked(best_snippet(["rumah makanan"], ["rumha", "makan"], exact=True)) == []
    assert marked(best_snippet(["rumah makan"], ["rumah", "makan"], exact=True)) == [
        "rumah", "makan"]


def test_markup_in_the_text_is_escaped_before_marking() -> None:
    text = 'Hello <script>alert("x")</script> & <b>world</b>'
    out = best_snippet([text], ["script", "world"])
    assert "<script>" not in out and "<b>" not in out
    assert "&lt;<mark>script</mark>&gt;" in out
    assert "&amp;" in out and "&quot;x&quot;" in out
    assert MARKS.sub("", out).count("<") == 0


def test_window_holds_the_most_distinct_terms() -> None:
    text = ("filler " * 60 + "alpha " + "filler " * 60 + "alpha beta gamma " + "filler " * 60)
    snip = build_snippet(text, ["alpha", "beta", "gamma"])
    assert marked(snip.html) == ["alpha", "beta", "gamma"]
    assert 160 <= snip.end - snip.start <= 240
    assert snip.html.startswith(ELLIPSIS) and snip.html.endswith(ELLIPSIS)


def test_window_does_not_cut_words() -> None:
    text = " ".join(f"word{i}" for i in range(200)) + " target " + " ".join(
        f"tail{i}" for i in range(200))
    snip = build_snippet(text, ["target"])
    inner = text[snip.start:snip.end]
    assert text[snip.start - 1] == " " and text[snip.end] == " "
    assert "target" in inner


def test_no_match_gives_the_start_of_the_first_non_empty_text() -> None:
    assert best_snippet(["", "Summary <i>here</i>", "Title"], ["zzz"]) == \
        "Summary &lt;i&gt;here&lt;/i&gt;"
    assert best_snippet(["", ""], ["zzz"]) == ""


def test_first_matching_text_wins() -> None:
    assert marked(best_snippet(["no hit", "summary rumah", "rumah title"], ["rumah"])) == [
        "rumah"]
    assert best_snippet(["no hit", "summary rumah"], ["rumah"]).startswith("summary")


def test_empty_terms_give_a_plain_head() -> None:
    assert best_snippet(["a <b> c"], []) == "a &lt;b&gt; c"


def test_a_word_folding_into_several_pieces_is_marked_once() -> None:
    assert find_matches("½ cup", ["1", "2"], prefix_last=False) == [(0, 1, 0)]


def test_huge_text_is_bounded() -> None:
    text = "lorem ipsum " * 20_000 + "needle"
    snip = build_snippet(text, ["needle"])
    assert snip.matches == 0 and snip.end - snip.start <= SNIPPET_CHARS


def _plain(snippet_html: str, start: int, end: int, text: str) -> str:
    core = snippet_html
    if start > 0:
        assert core.startswith(ELLIPSIS)
        core = core[len(ELLIPSIS):]
    if end < len(text):
        assert core.endswith(ELLIPSIS)
        core = core[: -len(ELLIPSIS)]
    return core


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600), st.lists(st.text(min_size=1, max_size=12), max_size=4),
       st.booleans())
def test_snippet_is_escaped_text_plus_marks_only(text: str, raw_terms: list[str],
                                                 prefix_last: bool) -> None:
    terms = [w for t in raw_terms for w in analyze(t)]
    snip = build_snippet(text, terms, prefix_last=prefix_last)
    core = _plain(snip.html, snip.start, snip.end, text)
    stripped = MARKS.sub("", core)
    assert "<" not in stripped and ">" not in stripped
    assert html.unescape(stripped) == text[snip.start:snip.end]
    assert core.count("<mark>") == core.count("</mark>") == snip.matches
    assert "<mark></mark>" not in core


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab <>&\"'é", max_size=50),
       st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=5))
def test_render_never_emits_other_markup(text: str, cuts: list[tuple[int, int]]) -> None:
    spans = sorted({(min(a, b), max(a, b), 0) for a, b in cuts
                    if min(a, b) < max(a, b) <= len(text)})
    out = render(text, 0, len(text), spans)
    assert html.unescape(MARKS.sub("", out)) == text
    assert "<" not in MARKS.sub("", out)


def _osa(a: str, b: str) -> int:
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcde", min_size=1, max_size=11),
       st.text(alphabet="abcde", min_size=1, max_size=14), st.booleans())
def test_matcher_agrees_with_a_brute_force_distance(term: str, word: str, prefix: bool) -> None:
    from search_svc.query import typo_budget
    from search_svc.stemming import LANGUAGES, query_stems, word_stems

    budget = typo_budget(term)
    if word[:1] != term[:1]:
        budget -= 1  # a typo on the first letter counts two (Meilisearch's rule)
    if prefix:
        expected = any(_osa(term, word[:k]) <= budget for k in range(len(word) + 1))
    else:
        expected = _osa(term, word) <= budget
    # ... or the two share a Snowball stem, as the engine's stemmed fields match them
    expected = expected or any(set(word_stems([word], lang)[0]) & set(query_stems(term, lang))
                               for lang in LANGUAGES)
    assert (term_matcher([term], prefix_last=prefix)(word) == 0) is expected


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab cdE_.-1?\t…—’“”\u0301", max_size=300),
       st.lists(st.text(alphabet="abcde1", min_size=1, max_size=10), min_size=1, max_size=3),
       st.booleans())
def test_ascii_fast_path_equals_the_general_path(text: str, terms: list[str],
                                                 prefix_last: bool) -> None:
    # Text whose letters are all ASCII ("…" and curly quotes are not letters) takes the
    # fast path; a trailing non-ASCII word forces the per-word folding path on the same
    # text, and both must find the same matches.
    fast = find_matches(text, terms, prefix_last=prefix_last)
    general = find_matches(text + " é", terms, prefix_last=prefix_last)
    assert fast == [m for m in general if m[1] <= len(text)]


@st.composite
def _near_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Terms, and a text of their near misses (up to three edits of any kind, at the
    first letter too) among other words, mixed case, with separators of several kinds."""
    terms = draw(st.lists(st.text(alphabet="abcdek1", min_size=4, max_size=12),
                          min_size=1, max_size=3))
    letters = st.sampled_from("abcdekx1")
    words = []
    for _ in range(draw(st.integers(0, 12))):
        word = list(draw(st.sampled_from(terms)))
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(word)))
            edit = draw(st.sampled_from(["sub", "ins", "del", "swap"]))
            if edit == "ins":
                word.insert(at, draw(letters))
            elif at < len(word) and edit == "sub":
                word[at] = draw(letters)
            elif at < len(word) and edit == "del":
                del word[at]
            elif at + 1 < len(word):
                word[at], word[at + 1] = word[at + 1], word[at]
        word.extend(draw(st.text(alphabet="abk", max_size=draw(st.sampled_from([0, 0, 3, 60])))))
        words.append("".join(word).upper() if draw(st.booleans()) else "".join(word))
        words.append(draw(st.sampled_from([" ", "_", "-", "…", ". ", " kabe "])))
    return "".join(words), terms


@settings(max_examples=600, deadline=None)
@example(text_terms=("sembangkan embangkan kmebangkan xkembangkan kembangan",
                     ["kembangkan"]), prefix_last=False)
@example(text_terms=("kirm kiriim kirmi pirim ikrim kirimkan", ["kirim"]), prefix_last=True)
@given(_near_text(), st.booleans())
def test_typo_candidates_hold_every_typo_the_general_path_finds(
        text_terms: tuple[str, list[str]], prefix_last: bool) -> None:
    # With no term matched by stem, the ASCII path tries only the words a regex picks by
    # first letter and length (or by the term less its first two letters), not every
    # word: it must mark what trying every word marks (the general path, which a
    # trailing non-ASCII word forces on the same text).
    text, terms = text_terms
    fast = find_matches(text, terms, prefix_last=prefix_last,
                        matcher=term_matcher(terms, prefix_last=prefix_last, stemmed=()))
    general = find_matches(text + " é", terms, prefix_last=prefix_last,
                           matcher=term_matcher(terms, prefix_last=prefix_last, stemmed=()))
    assert fast == [m for m in general if m[1] <= len(text)]


def test_typo_candidates_are_the_words_a_typo_budget_can_reach() -> None:
    match = term_matcher(["kirim"], stemmed=())  # 1 typo, the last term: a prefix
    assert match.typo_candidates("kirm, kiriman pirim ikrim kir xkirim") == {
        "kirm", "kiriman"}  # the first letter kept, at least 4 letters long
    match = term_matcher(["kembangkan"], prefix_last=False, stemmed=())  # 2 typos
    assert match.typo_candidates(
        "sembangkan embangkan kmbangkn kelapasawitnya kembangkanlah xyz") == {
        "kmbangkn",  # the first letter kept, 8 to 12 letters long
        "sembangkan", "embangkan", "kembangkanlah"}  # holding "mbangkan" (then tried)
    # a term matched by stem, or one starting with other than a-z: every word is tried
    assert term_matcher(["kirim"]).typo_candidates("dikirim") is None
    assert term_matcher(["1kirim"], stemmed=()).typo_candidates("1kirm") is None


def test_typo_variants_are_marked_only_where_the_word_as_typed_is_missing() -> None:
    # the visitor's word is in the text: that is what gets marked, not its near misses
    assert marked(best_snippet(["rumah dan rumha"], ["rumah"])) == ["rumah"]
    # only a near miss is there: it is marked
    assert marked(best_snippet(["rumha saja"], ["rumah"])) == ["rumha"]
    # per term: one term present as typed, the other only as a typo
    assert marked(best_snippet(["kopi arabika"], ["kopi", "arabica"])) == ["kopi", "arabika"]


def test_typo_variants_are_looked_for_only_when_the_document_lacks_the_word() -> None:
    # the title holds "rumah" as typed: the body's near miss is not the match, the title is
    assert marked(best_snippet(["dijual rumha murah", "", "Rumah dijual"], ["rumah"])) == [
        "Rumah"]
    # nowhere as typed: the body's near miss is marked
    assert marked(best_snippet(["dijual rumha murah", "", "Dijual cepat"], ["rumah"])) == [
        "rumha"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab cdE_.-1é…", max_size=80), min_size=1, max_size=3),
       st.lists(st.text(alphabet="abcde1", min_size=1, max_size=10), min_size=1, max_size=3),
       st.booleans())
def test_passing_over_a_text_never_loses_its_matches(texts: list[str], terms: list[str],
                                                     prefix_last: bool) -> None:
    # best_snippet skips a text after a cheap check; the text it settles on is the first
    # one that find_matches, told what the document holds as typed, finds matches in

    match = term_matcher(terms, prefix_last=prefix_last)
    present = frozenset().union(*(match.typed_in(t) for t in texts if t)) & match.variant_terms
    expected = next((t for t in texts if t and find_matches(
        t, terms, prefix_last=prefix_last, present=present)), None)
    got = best_snippet(texts, terms, prefix_last=prefix_last)
    if expected is None:
        assert not MARKS.search(got)
    else:
        assert got == build_snippet(expected, terms, prefix_last=prefix_last,
                                    present=present).html


@settings(max_examples=400, deadline=None)
@example(text="kopiah kop an ana", terms=["kopiah", "kop"], prefix_last=True)
@given(st.text(alphabet="ab cdE_.-1…é", max_size=200),
       st.lists(st.text(alphabet="abcde1", min_size=1, max_size=6), min_size=1, max_size=3),
       st.booleans())
def test_typed_scan_finds_what_typed_in_finds(text: str, terms: list[str],
                                              prefix_last: bool) -> None:
    # e.g. terms "kopiah kop": the word "kopiah" is that term's span, and the prefix
    # "kop" is still typed in the text
    match = term_matcher(terms, prefix_last=prefix_last)
    typed, spans = match.typed_scan(text)
    assert typed == match.typed_in(text)
    if spans is not None:  # words all ASCII
        assert spans == sorted(spans) and {match.term(i) for _, _, i in spans} <= typed
        # texts over a few kB are searched by a regex, shorter ones by str.find
        assert spans == match.typed_spans(text.lower() + " " * 5000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 120), st.integers(1, 30), st.integers(0, 2)),
                min_size=1, max_size=12),
       st.integers(30, 250))
def test_the_best_cluster_has_the_most_terms_then_matches_earliest_first(
        raw: list[tuple[int, int, int]], size: int) -> None:
    # matches are words in text order (at most MAX_TOKEN_CHARS long) and a window is
    # ~SNIPPET_CHARS: each fits one
    matches, pos = [], 0
    for gap, length, term in raw:
        matches.append((pos + gap, pos + gap + length, term))
        pos += gap + length

    def score(i: int, j: int) -> tuple[int, int]:
        return len({t for _, _, t in matches[i:j]}), j - i

    # every run of matches that fits in ``size`` characters, the best one by brute force
    runs = [(i, j) for i in range(len(matches)) for j in range(i + 1, len(matches) + 1)
            if matches[j - 1][1] - matches[i][0] <= size]
    best = max(score(i, j) for i, j in runs)
    assert _best_cluster(matches, size) == min((i, j) for i, j in runs if score(i, j) == best)


@pytest.mark.parametrize(("text", "terms"), [
    ("a-b-c d", ["a-b", "b-c"]),  # overlapping occurrences: the regex keeps the first
    ("hello, world", [""]),  # found at the same offset by str.find, again and again
    ("hello, world", ["", "world"]),
])
def test_terms_not_of_letters_and_digits_find_as_the_regex_finds(text: str,
                                                                 terms: list[str]) -> None:
    # parse_query makes no such terms, but find_matches and best_snippet take any; the
    # short-text str.find loop is only right for letters and digits (and never ended on
    # an empty term)
    def hung(*_: object) -> None:
        raise TimeoutError("typed_spans did not finish")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        for prefix_last in (False, True):
            match = term_matcher(terms, prefix_last=prefix_last)
            long = match.typed_spans(text + " " * 5000)  # over 2 kB: the regex
            assert match.typed_spans(text) == [s for s in long if s[1] <= len(text)]
            find_matches(text, terms, prefix_last=prefix_last)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
