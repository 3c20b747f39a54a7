"""Highlighted snippets: the only HTML any search response carries.

Owns: finding query-term matches in a document's raw text (after the same folding as
the index, typo-tolerant within each term's budget, prefix on the last term), choosing
the window with the most matches, and rendering it. The text is HTML-escaped FIRST and
only then wrapped in ``<mark>``/``</mark>``; no other markup can appear. Pure: no I/O,
no engine imports (engines' own highlighters are empty for fuzzy queries or don't escape).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from search_svc.query import MAX_TOKEN_CHARS, TYPO_INITIALS, typo_budget, word_spans
from search_svc.stemming import LANGUAGES, query_stems, word_stems

__all__ = [
    "MARK_CLOSE",
    "MARK_OPEN",
    "SCAN_CHARS",
    "SNIPPET_CHARS",
    "Snippet",
    "TermMatcher",
    "best_snippet",
    "build_snippet",
    "find_matches",
    "holds_every_term",
    "term_matcher",
]

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
# the terms whose stems matched: known, asked for when first needed, or None (all)
Stemmed = Collection[str] | Callable[[], Collection[str]] | None
TermStems = tuple[int, str, frozenset[tuple[str, str]]]  # (index, term, {(language, stem)})
SNIPPET_CHARS = 200  # target window; the result is 160-240 characters of source text
SCAN_CHARS = 65_536  # matches are looked for in this much of a text at most
ELLIPSIS = "…"
_MAX_SCORED_MATCHES = 2000
# A letter or digit outside ASCII: only such text needs per-word folding. ("…", "—" and
# other non-ASCII punctuation separate words and keep their length when lowercased.)
_NON_ASCII_WORD_CHAR = re.compile(r"(?![\x00-\x7f])[^\W_]")


@dataclass(frozen=True, slots=True)
class Snippet:
    """A rendered window ``text[start:end]`` of the source, and its HTML."""

    html: str
    start: int
    end: int
    matches: int


class TermMatcher:
    """Which query term each word of a text matches; memoised, so build one per query
    (``term_matcher``) and share it across that query's hits.

    Exact words and the last term's prefix are found with set operations. Variants of
    a term (words sharing its Snowball stem, then words within its typo budget) are
    looked for only in a document that lacks the term as typed (``present``; within
    one text when used alone): where the visitor's word is present, that is what gets
    marked (it is also what ranked the document highest), and the costly stemming and
    distance checks are skipped.
    """

    def __init__(self, terms: Sequence[str], *, prefix_last: bool, exact: bool,
                 stemmed: Stemmed = None) -> None:
        self.exact = exact
        last = len(terms) - 1
        self._exact = {term: i for i, term in reversed(list(enumerate(terms)))}
        self._prefix = terms[last] if prefix_last and not exact and terms else None
        self._terms, self._last = tuple(terms), last
        # (index, term, budget, prefix) per typo-tolerant term
        self._fuzzy = [] if exact else [(i, term, typo_budget(term), prefix_last and i == last)
                                        for i, term in enumerate(terms) if typo_budget(term)]
        self._prefix_checked: set[str] = set()  # words tried against the prefix
        self._prefixed: set[str] = set()  # ... and those starting with it
        self._checked: list[set[str]] = [set() for _ in self._fuzzy]  # words tried per term
        self._near: list[set[str]] = [set() for _ in self._fuzzy]  # ... and those within budget
        self.typo_terms = frozenset(term for _, term, _, _ in self._fuzzy)
        # Snowball stems, as the engine's stemmed fields match them ("dikirim" for
        # "kirim"): (index, term, {(language, stem)}) per term
        stems: list[TermStems] = [] if exact else [
            (i, term, frozenset((lang, stem) for lang in LANGUAGES
                                for stem in query_stems(term, lang)))
            for i, term in enumerate(terms)]
        self._stemmed: set[str] = set()  # words stemmed so far
        self._by_stem: dict[tuple[str, str], set[str]] = {}  # wanted stem -> such words
        self._typed_pattern: re.Pattern[str] | None = None
        # ``stemmed``: the terms whose stems the engine matched (None: every term); a
        # callable is asked only when some text lacks a term as typed, which most hits
        # of most queries do not (Tantivy: one query saved, ~0.1 ms)
        self._pending: Callable[[], Collection[str]] | None = None
        self._candidates: list[TermStems] = []  # (a pending ``stemmed``) terms with stems
        self._stems: list[TermStems] = []  # the terms that may be matched by stem
        self._wanted: frozenset[tuple[str, str]] = frozenset()
        self._stem_cores: re.Pattern[str] | None = None
        if callable(stemmed):
            self._pending, self._candidates = stemmed, [s for s in stems if s[2]]
            # until asked: every term that has a stem (the answer is among them)
            self.variant_terms = frozenset(t for _, t, _ in self._candidates) | self.typo_terms
        else:
            self._use_stems([s for s in stems if stemmed is None or s[1] in stemmed])

    def _use_stems(self, stems: list[TermStems]) -> None:
        self._stems = stems
        self._wanted = wanted = frozenset().union(*(keys for _, _, keys in stems))
        # A word can stem to a wanted stem only if it holds the stem's core (the stem
        # without its first letter, which Indonesian meN-/peN- drop, nor its last, which
        # Porter rewrites): one regex pass picks the few words worth stemming.
        cores = {stem[1:-1] if len(stem) > 3 else stem for _, stem in wanted}
        self._stem_cores = re.compile(
            "|".join(map(re.escape, sorted(cores, key=len, reverse=True)))) if cores else None
        # terms that get variants (stems, typos) where the document lacks them as typed
        self.variant_terms = frozenset(term for _, term, _ in stems) | self.typo_terms

    def _may_stem(self) -> bool:
        """Whether any term may have stem variants; asks a pending ``stemmed`` first."""
        if self._pending is not None:
            stemmed, self._pending = self._pending(), None
            self._use_stems([s for s in self._candidates if s[1] in stemmed])
        return bool(self._stems)

    def __call__(self, word: str) -> int:
        """The term ``word`` matches on its own (a one-word text), or -1."""
        return self.matching({word}).get(word, -1)

    def typed_in(self, scan: str) -> frozenset[str]:
        """The terms ``scan`` holds as typed (a whole word, or the last term's prefix)."""
        if not (scan.isascii() or not _NON_ASCII_WORD_CHAR.search(scan)):
            return frozenset(self._terms[i] for i in
                             self._typed_hits({w for _, _, w in word_spans(scan)}).values())
        low = scan.lower()  # ASCII words: lowercasing is the fold, offsets unchanged
        found = {t for t in self._exact if _has_word(low, t, whole=True)}
        if self._prefix is not None and _has_word(low, self._prefix, whole=False):
            found.add(self._prefix)
        return frozenset(found)

    def matching(self, words: set[str], present: frozenset[str] = frozenset(),
                 typed: dict[str, int] | None = None) -> dict[str, int]:
        """The words of one text that match, each with the index of its term. A term in
        ``present`` (found as typed elsewhere in the document) gets no stem or typo
        search; a term found by its stem gets no typo search. ``typed``: the text's
        words that are a term as typed, when the caller has found them already."""
        hits = self._typed_hits(words) if typed is None else dict(typed)
        if not self.variant_terms:
            return hits
        present = present | {self._terms[i] for i in hits.values()}
        rest = words - hits.keys()
        if rest and not self.variant_terms <= present and self._may_stem():
            self._learn_stems(rest - self._stemmed)
            for i, term, keys in self._stems:
                if term in present:
                    continue
                for key in keys & self._by_stem.keys():
                    for w in self._by_stem[key] & rest:
                        hits.setdefault(w, i)
            present = present | {self._terms[i] for i in hits.values()}
            rest = words - hits.keys()
        for k, (i, term, budget, prefix_ok) in enumerate(self._fuzzy):
            if term in present or not rest:
                continue
            new = rest - self._checked[k]
            if new:
                self._near[k].update(_near_words(term, budget, prefix_ok, list(new)))
                self._checked[k] |= new
            near = self._near[k]
            for w in rest & near:
                if w not in hits:
                    hits[w] = i
        return hits

    def term(self, index: int) -> str:
        return self._terms[index]

    def typed_spans(self, low: str) -> list[tuple[int, int, int]]:
        """``(start, end, term index)`` of the terms as typed (and the last term's
        prefix) in lowercased text whose words are all ASCII: ``matching``'s typed hits,
        found in place by one precompiled regex."""
        if self._typed_pattern is None:
            # words over MAX_TOKEN_CHARS are no tokens: the pattern never matches them
            word = r"[^\W_]"
            shapes = [_word_start(t) + rf"(?!{word})"
                      for t in sorted(self._exact, key=len, reverse=True)
                      if len(t) <= MAX_TOKEN_CHARS]
            prefix = self._prefix
            if prefix is not None and len(prefix) <= MAX_TOKEN_CHARS:
                rest = MAX_TOKEN_CHARS - len(prefix)
                shapes.append(_word_start(prefix) + f"{word}{{0,{rest}}}(?!{word})")
            self._typed_pattern = re.compile("|".join(shapes) if shapes else "(?!)")
        exact, last = self._exact, self._last
        return [(*m.span(), exact.get(m[0], last)) for m in self._typed_pattern.finditer(low)]

    def _learn_stems(self, new: set[str]) -> None:
        if not new or self._stem_cores is None:
            return
        self._stemmed |= new
        joined = "\n".join(new)
        candidates: set[str] = set()
        for m in self._stem_cores.finditer(joined):  # the words holding a core
            start = joined.rfind("\n", 0, m.start()) + 1
            end = joined.find("\n", m.end())
            candidates.add(joined[start:end if end != -1 else len(joined)])
        words = [w for w in candidates if len(w) <= MAX_TOKEN_CHARS]
        for lang in LANGUAGES:
            for word, stems in zip(words, word_stems(words, lang), strict=True):
                for stem in stems:
                    if (lang, stem) in self._wanted:
                        self._by_stem.setdefault((lang, stem), set()).add(word)

    def _typed_hits(self, words: set[str]) -> dict[str, int]:
        """The words that are a term as typed, or start with the last term's prefix."""
        hits = {w: self._exact[w] for w in words & self._exact.keys()}
        prefix = self._prefix
        if prefix is not None:
            new = words - self._prefix_checked
            if new:
                self._prefixed.update(w for w in new
                                      if w.startswith(prefix) and len(w) <= MAX_TOKEN_CHARS)
                self._prefix_checked |= new
            for w in words & self._prefixed:
                hits.setdefault(w, self._last)
        return hits


def _word_start(literal: str) -> str:
    """A pattern for ``literal`` at the start of a word. The boundary is checked after
    the literal (a lookbehind over it), so ``re`` can skip ahead to the literal instead
    of trying a leading lookbehind at every position: ~13x faster on a 1.3 kB text."""
    escaped = re.escape(literal)
    return rf"{escaped}(?<![^\W_]{escaped})"


def _has_word(low: str, term: str, *, whole: bool) -> bool:
    """``low`` has a word equal to ``term`` (``whole``) or starting with it, at most
    ``MAX_TOKEN_CHARS`` long; ``str.find`` first, the boundaries checked per hit."""
    n = len(low)
    start = low.find(term)
    while start != -1:
        end = start + len(term)
        if start == 0 or not low[start - 1].isalnum():
            if whole:
                if end == n or not low[end].isalnum():
                    return True
            else:
                while end < n and low[end].isalnum():
                    end += 1
                if end - start <= MAX_TOKEN_CHARS:
                    return True
        start = low.find(term, start + 1)
    return False


def _near_words(term: str, budget: int, prefix: bool, words: list[str]) -> list[str]:
    """The ``words`` within ``term``'s typo budget (OSA distance; with ``prefix``, of any
    of their prefixes), a changed first letter costing two typos as in the engines
    (``TYPO_INITIALS``); each distance computed in C by rapidfuzz."""
    words = [w for w in words if len(w) <= MAX_TOKEN_CHARS]
    if term[0] in TYPO_INITIALS:
        same = [w for w in words if w[:1] == term[0]]
        other = [w for w in words if w[:1] != term[0]] if budget > 1 else []
        return _within(term, budget, prefix, same) + _within(term, budget - 1, prefix, other)
    return _within(term, budget, prefix, words)


def _within(term: str, budget: int, prefix: bool, words: list[str]) -> list[str]:
    n = len(term)
    # a distance is at least the difference in length: only words (with ``prefix``:
    # words long enough for a prefix) within the budget of it get a distance computed
    words = [w for w in words if len(w) >= n - budget and (prefix or len(w) <= n + budget)]
    if not words:
        return []
    if not prefix:
        return [words[idx] for _, _, idx in process.extract(
            term, words, scorer=OSA.distance, score_cutoff=budget, limit=None)]
    # the prefixes of each word that may be near: all lengths in one call
    heads = [w[:k] for k in range(max(1, n - budget), n + budget + 1) for w in words]
    found = {idx % len(words) for _, _, idx in process.extract(
        term, heads, scorer=OSA.distance, score_cutoff=budget, limit=None)}
    return [words[idx] for idx in found]


def term_matcher(terms: Sequence[str], *, prefix_last: bool = True, exact: bool = False,
                 stemmed: Stemmed = None) -> TermMatcher:
    """A matcher for one query's ``terms``; ``stemmed`` limits stem matching to the
    terms whose stems the engine matched (an engine without stemmed fields: none), or
    is a function asked for them the first time a text lacks a term as typed."""
    return TermMatcher(terms, prefix_last=prefix_last, exact=exact, stemmed=stemmed)


def find_matches(text: str, terms: Sequence[str], *, prefix_last: bool = True,
                 exact: bool = False, matcher: TermMatcher | None = None,
                 present: frozenset[str] = frozenset(),
                 typed: frozenset[str] | None = None) -> list[tuple[int, int, int]]:
    """``(start, end, term index)`` of every matching word in the first ``SCAN_CHARS``;
    terms in ``present`` (typed elsewhere in the document) get no stem or typo search;
    ``typed``, when given, is the matcher's ``typed_in`` of that scan, already known."""
    if not terms:
        return []
    match = matcher or term_matcher(terms, prefix_last=prefix_last, exact=exact)
    scan = text[:SCAN_CHARS]
    if scan.isascii() or not _NON_ASCII_WORD_CHAR.search(scan):
        return _find_ascii(scan, match, present,
                           match.typed_in(scan) if typed is None else typed)
    spans = word_spans(scan)
    hits = match.matching({word for _, _, word in spans}, present)
    found: list[tuple[int, int, int]] = []
    seen = -1
    for start, end, word in spans:
        if start == seen:
            continue  # one source word folding into several words is marked once
        hit = hits.get(word, -1)
        if hit >= 0:
            found.append((start, end, hit))
            seen = start
    return found


def holds_every_term(texts: Sequence[str], terms: Sequence[str], *, prefix_last: bool = True,
                     exact: bool = False, matcher: TermMatcher | None = None) -> bool:
    """Whether a document's ``texts`` match every one of the ``terms`` somewhere: as
    typed, by the last term's prefix, by stem or within the term's typo budget (the
    snippet's rules): Meilisearch's "words" rule, all words. False without terms."""
    if not terms:
        return False
    match = matcher or term_matcher(terms, prefix_last=prefix_last, exact=exact)
    found: set[int] = set()
    for text in texts:
        if text and len(found) < len(terms):
            found.update(i for _, _, i in find_matches(text, terms, prefix_last=prefix_last,
                                                       exact=exact, matcher=match))
    return len(found) == len(terms)


def _find_ascii(scan: str, match: TermMatcher, present: frozenset[str],
                typed: frozenset[str]) -> list[tuple[int, int, int]]:
    """For text whose words are all ASCII: the same result as the general path, with
    the scanning done by ``re``: match each distinct word once, then find the matching
    ones in one pass."""
    low = scan.lower()  # ASCII words, punctuation of any kind: offsets are unchanged
    typed_words: dict[str, int] = {}  # none when ``typed`` is empty
    if typed:
        spans = match.typed_spans(low)
        if match.variant_terms <= present | {match.term(i) for _, _, i in spans}:
            return spans  # every term typed here or elsewhere: no variant to look for
        typed_words = {low[s:e]: i for s, e, i in spans}
    hits = match.matching(_ascii_words(low), present, typed_words)
    if not hits:
        return []
    pattern = re.compile("|".join(_word_start(w) + r"(?![^\W_])"
                                  for w in sorted(hits, key=len, reverse=True)))
    return [(m.start(), m.end(), hits[m.group()]) for m in pattern.finditer(low)]


# ASCII letters and digits kept, every other byte a space
_ASCII_WORD_BYTES = bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))


def _ascii_words(text: str) -> set[str]:
    r"""The distinct words (runs of letters and digits, as ``search_svc.query``) of a
    text whose words are all ASCII: its other characters, each encoded as one ``?``,
    become spaces. All in C (``bytes.translate``): 9 us on a 1.2 kB text, where
    ``set(re.findall(r"[^\W_]+", ...))`` took 33 us."""
    return set(text.encode("ascii", "replace").translate(_ASCII_WORD_BYTES).decode("ascii").split())


def _best_cluster(matches: list[tuple[int, int, int]], size: int) -> tuple[int, int]:
    """Indices [i, j) of the run of matches fitting in ``size`` chars with the most
    distinct terms, then the most matches; earliest wins ties."""
    matches = matches[:_MAX_SCORED_MATCHES]
    best, best_ij = (-1, -1), (0, 1)
    counts: dict[int, int] = {}
    j = 0
    for i in range(len(matches)):
        if j < i:
            j = i
        while j < len(matches) and matches[j][1] - matches[i][0] <= size:
            counts[matches[j][2]] = counts.get(matches[j][2], 0) + 1
            j += 1
        score = (len(counts), j - i)
        if score > best:
            best, best_ij = score, (i, j)
        if j > i:
            t = matches[i][2]
            counts[t] -= 1
            if not counts[t]:
                del counts[t]
    return best_ij


def _window(text: str, first: int, last: int, size: int) -> tuple[int, int]:
    """A window of about ``size`` chars containing [first, last), cut at spaces."""
    n = len(text)
    if n <= size:
        return 0, n
    slack = max(0, size - (last - first))
    start = max(0, min(first - slack // 3, n - size))
    end = min(n, max(start + size, last))
    if start > 0:
        space = text.find(" ", start, first)
        if space != -1 and space - start < size // 10:
            start = space + 1
    if end < n:
        space = text.rfind(" ", last, end)
        if space != -1 and end - space < size // 10:
            end = space
    return start, end


def render(text: str, start: int, end: int, spans: Sequence[tuple[int, int, int]],
           *, ellipsis: str = ELLIPSIS) -> str:
    """Escape ``text[start:end]`` and only then wrap each span inside it in ``<mark>``."""
    out = [ellipsis if start > 0 else ""]
    pos = start
    for s, e, _ in spans:
        if s < pos or e > end:
            continue
        out.append(html.escape(text[pos:s]))
        out.append(MARK_OPEN + html.escape(text[s:e]) + MARK_CLOSE)
        pos = e
    out.append(html.escape(text[pos:end]))
    out.append(ellipsis if end < len(text) else "")
    return "".join(out)


def build_snippet(text: str, terms: Sequence[str], *, prefix_last: bool = True,
                  exact: bool = False, size: int = SNIPPET_CHARS,
                  matcher: TermMatcher | None = None,
                  present: frozenset[str] = frozenset(),
                  typed: frozenset[str] | None = None) -> Snippet:
    """The ~``size``-character window of ``text`` with the most matches, highlighted."""
    return _snippet(text, find_matches(text, terms, prefix_last=prefix_last, exact=exact,
                                       matcher=matcher, present=present, typed=typed), size)


def _snippet(text: str, matches: list[tuple[int, int, int]], size: int) -> Snippet:
    if not matches:
        start, end = _window(text, 0, 0, size)
        return Snippet(render(text, start, end, ()), start, end, 0)
    i, j = _best_cluster(matches, size)
    start, end = _window(text, matches[i][0], matches[j - 1][1], size)
    inside = [m for m in matches if m[0] >= start and m[1] <= end]
    return Snippet(render(text, start, end, inside), start, end, len(inside))


def best_snippet(texts: Sequence[str], terms: Sequence[str], *, prefix_last: bool = True,
                 exact: bool = False, size: int = SNIPPET_CHARS,
                 matcher: TermMatcher | None = None) -> str:
    """The snippet of the first text that matches (body, then summary, then title, as
    the caller orders them), else the start of the first non-empty text.

    A term the document holds as typed anywhere gets no stem or typo search in any of
    its texts, so a text holding no term as typed is passed over after a few
    ``str.find`` calls."""
    texts = [text for text in texts if text]
    if not texts:
        return ""
    if terms:
        match = matcher or term_matcher(terms, prefix_last=prefix_last, exact=exact)
        typed: list[frozenset[str] | None] = [None] * len(texts)

        def typed_at(k: int) -> frozenset[str]:
            found = typed[k]
            if found is None:
                found = typed[k] = match.typed_in(texts[k][:SCAN_CHARS])
            return found

        for k, text in enumerate(texts):
            here = typed_at(k)
            searched = match.variant_terms - here  # terms this text would look for variants of
            if searched:  # ... unless the document holds them as typed elsewhere
                searched -= frozenset().union(*(typed_at(i) for i in range(len(texts))))
            if not here and not searched:
                continue  # nothing to mark here: no word as typed, no variant to look for
            matches = find_matches(text, terms, prefix_last=prefix_last, exact=exact,
                                   matcher=match, present=match.variant_terms - searched,
                                   typed=here)
            if matches:  # (a text without any is passed over unrendered)
                return _snippet(text, matches, size).html
    start, end = _window(texts[0], 0, 0, size)
    return render(texts[0], start, end, ())
