"""Which words of a text match a query's terms: as typed, by the last term's prefix, by
Snowball stem, or within the term's typo budget (the engines' rules). Pure: no I/O, no
markup; ``search_svc.snippets`` turns the matches into highlighted windows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA

from search_svc.query import MARK, MAX_TOKEN_CHARS, TYPO_INITIALS, typo_budget, word_spans
from search_svc.stemming import LANGUAGES, query_stems, word_stems

__all__ = ["NON_ASCII_WORD_CHAR", "Stemmed", "TermMatcher", "term_matcher", "word_start"]

# the terms whose stems matched: known, asked for when first needed, or None (all)
Stemmed = Collection[str] | Callable[[], Collection[str]] | None
TermStems = tuple[int, str, frozenset[tuple[str, str]]]  # (index, term, {(language, stem)})
# typed_spans searches texts up to this long with str.find, longer ones with a regex
_FIND_MAX_CHARS = 2048
# A letter, digit or combining mark outside ASCII: only such text needs per-word folding
# (a mark belongs to its letter's word). ("…", "—" and other non-ASCII punctuation
# separate words and keep their length when lowercased.)
NON_ASCII_WORD_CHAR = re.compile(rf"(?![\x00-\x7f])[^\W_]|{MARK.pattern}")


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
        # another term starts with the prefix: a word equal to it is that term's span
        self._prefix_shadowed = self._prefix is not None and any(
            t != self._prefix and t.startswith(self._prefix) for t in self._exact)
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
        self._typed_pattern: re.Pattern[str] | None = None  # typed_spans, long texts
        # every typo-tolerant term keeps the first-letter rule (typo_candidates' premise)
        self._typo_initials = all(t[0] in TYPO_INITIALS for _, t, _, _ in self._fuzzy)
        # typo_candidates' regexes (whole words; pieces of words), compiled when first used
        self._typo_shapes: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None
        # typed_spans' str.find loop skips past each occurrence of a term, which holds for
        # terms of letters and digits only (parse_query's): others (an empty term, which
        # the loop would find at the same place forever, "a-b") get the regex at any length
        self._findable = all(term.isalnum() for term in self._exact)
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
        if not (scan.isascii() or not NON_ASCII_WORD_CHAR.search(scan)):
            return frozenset(self._terms[i] for i in
                             self._typed_hits({w for _, _, w in word_spans(scan)}).values())
        low = scan.lower()  # ASCII words: lowercasing is the fold, offsets unchanged
        found = {t for t in self._exact if _has_word(low, t, whole=True)}
        if self._prefix is not None and _has_word(low, self._prefix, whole=False):
            found.add(self._prefix)
        return frozenset(found)

    def typed_scan(self, scan: str) -> tuple[frozenset[str], list[tuple[int, int, int]] | None]:
        """``typed_in(scan)`` and, for text whose words are all ASCII, where: the
        ``typed_spans`` of its lowercase, which a snippet of it needs anyway (None for
        other text), so the text is searched for the terms once, not twice."""
        if not (scan.isascii() or not NON_ASCII_WORD_CHAR.search(scan)):
            return self.typed_in(scan), None
        low = scan.lower()
        spans = self.typed_spans(low)
        found = {self._terms[i] for _, _, i in spans}
        prefix = self._prefix
        if prefix is not None and prefix not in found and self._prefix_shadowed \
                and _has_word(low, prefix, whole=False):
            found.add(prefix)  # its words matched as the longer term they equal
        return frozenset(found), spans

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
        """``(start, end, term index)`` of the terms as typed (and the words starting
        with the last term's prefix), in order, in lowercased text whose words are all
        ASCII: ``matching``'s typed hits, found in place. A word equal to a term is that
        term's even when it also starts with the prefix.

        A short text is searched with ``str.find`` per term, its word boundaries checked
        per occurrence in Python: twice as fast as one regex of every term on 0.7 kB. A
        long one gets the regex, whose C loop passes over occurrences inside words (a
        term such as "an" is inside every other Indonesian word) 3x faster."""
        if len(low) > _FIND_MAX_CHARS or not self._findable:
            if self._typed_pattern is None:
                self._typed_pattern = self._compile_typed()
            exact, last = self._exact, self._last
            return [(*m.span(), exact.get(m[0], last))
                    for m in self._typed_pattern.finditer(low)]
        n, prefix, last = len(low), self._prefix, self._last
        found: dict[int, tuple[int, int, int]] = {}
        for term, i in self._exact.items():
            if len(term) > MAX_TOKEN_CHARS:
                continue  # no token: never a word of the text
            start = low.find(term)
            while start != -1:
                end = start + len(term)
                if start == 0 or not low[start - 1].isalnum():
                    if end == n or not low[end].isalnum():
                        found[start] = (start, end, i)
                    elif term == prefix:
                        stop = end
                        while stop < n and low[stop].isalnum():
                            stop += 1
                        if stop - start <= MAX_TOKEN_CHARS:
                            found.setdefault(start, (start, stop, last))
                        end = stop
                start = low.find(term, end)
        return [found[k] for k in sorted(found)] if len(found) > 1 else list(found.values())

    def typo_candidates(self, low: str) -> set[str] | None:
        """The words of ``low`` (lowercased text whose words are all ASCII) that may be
        a term's typo, for ``matching`` to try instead of every word of the text; None
        (try them all) while some term may match by stem or starts with other than a-z.

        A word within a term's budget that keeps its first letter is as long as the term
        give or take the budget (a prefix: at least the term less the budget); one that
        changes it spends a typo of two on it, so the other typo is none: the word holds
        the term less its first two letters. One regex pass in C finds the first kind
        whole and the second by that piece, where trying every word was ~40 us a text."""
        if not self._typo_initials or self._may_stem():
            return None
        if self._typo_shapes is None:
            self._typo_shapes = self._compile_typo_shapes()
        words, pieces = self._typo_shapes
        found = set(words.findall(low)) if words is not None else set()
        if pieces is not None:
            n = len(low)
            for m in pieces.finditer(low):  # a piece of 7+ letters: few matches
                start, end = m.span()
                while start and low[start - 1].isalnum():
                    start -= 1
                while end < n and low[end].isalnum():
                    end += 1
                found.add(low[start:end])
        return found

    def _compile_typo_shapes(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        word = r"[^\W_]"
        shapes, pieces = [], []
        for _, term, budget, prefix in self._fuzzy:
            n = len(term)
            shortest = n - budget
            longest = MAX_TOKEN_CHARS if prefix else min(n + budget, MAX_TOKEN_CHARS)
            if shortest <= longest:
                shapes.append(word_start(term[0])
                              + f"{word}{{{shortest - 1},{longest - 1}}}(?!{word})")
            if budget > 1:
                pieces.append(re.escape(term[2:]))
        return (re.compile("|".join(shapes)) if shapes else None,
                re.compile("|".join(pieces)) if pieces else None)

    def _compile_typed(self) -> re.Pattern[str]:
        """``typed_spans``'s regex: each term as a whole word, longest first, then a word
        starting with the prefix (words over MAX_TOKEN_CHARS are no tokens: never)."""
        word = r"[^\W_]"
        shapes = [word_start(t) + rf"(?!{word})"
                  for t in sorted(self._exact, key=len, reverse=True)
                  if len(t) <= MAX_TOKEN_CHARS]
        prefix = self._prefix
        if prefix is not None and len(prefix) <= MAX_TOKEN_CHARS:
            rest = MAX_TOKEN_CHARS - len(prefix)
            shapes.append(word_start(prefix) + f"{word}{{0,{rest}}}(?!{word})")
        return re.compile("|".join(shapes) if shapes else "(?!)")

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


def word_start(literal: str) -> str:
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
