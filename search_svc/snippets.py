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
from collections.abc import Sequence
from dataclasses import dataclass

from search_svc.query import MAX_TOKEN_CHARS, typo_budget, word_spans

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
    "term_matcher",
]

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
SNIPPET_CHARS = 200  # target window; the result is 160-240 characters of source text
SCAN_CHARS = 65_536  # matches are looked for in this much of a text at most
ELLIPSIS = "…"
_MAX_SCORED_MATCHES = 2000
_WORD = re.compile(r"[^\W_]+")  # as search_svc.query: runs of letters and digits


@dataclass(frozen=True, slots=True)
class Snippet:
    """A rendered window ``text[start:end]`` of the source, and its HTML."""

    html: str
    start: int
    end: int
    matches: int


def _distance_within(term: str, word: str, budget: int, prefix: bool) -> bool:
    """Optimal-string-alignment distance (a transposition costs 1, as in Tantivy's
    Levenshtein automata) ≤ ``budget``; with ``prefix``, against any prefix of ``word``."""
    if prefix:
        word = word[: len(term) + budget]
    elif abs(len(term) - len(word)) > budget:
        return False
    m, n = len(term), len(word)
    prev2: list[int] = []
    prev = list(range(n + 1))
    for i in range(1, m + 1):
        cur = [i] + [0] * n
        for j in range(1, n + 1):
            cost = 0 if term[i - 1] == word[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if (i > 1 and j > 1 and term[i - 1] == word[j - 2]
                    and term[i - 2] == word[j - 1]):
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        if min(cur) > budget:
            return False
        prev2, prev = prev, cur
    return (min(prev) if prefix else prev[n]) <= budget


class TermMatcher:
    """Which query term a folded word matches (index), or -1; memoised, so build one
    per query (``term_matcher``) and share it across that query's hits."""

    def __init__(self, terms: Sequence[str], *, prefix_last: bool, exact: bool) -> None:
        self.exact = exact
        last = len(terms) - 1
        self._plans = [(i, term, typo_budget(term), prefix_last and i == last,
                        str.maketrans("", "", term)) for i, term in enumerate(terms)]
        self._exact = {term: i for i, term in reversed(list(enumerate(terms)))}
        self._prefix = terms[last] if prefix_last and not exact and terms else None
        self._fuzzy = [plan for plan in self._plans if plan[2]] if not exact else []
        self._seen: set[str] = set()
        self._hits: dict[str, int] = {}

    def __call__(self, word: str) -> int:
        if word not in self._seen:
            self._learn(word)
        return self._hits.get(word, -1)

    def matching(self, words: set[str]) -> dict[str, int]:
        """The matching subset of ``words``; set operations keep known words cheap."""
        for word in words - self._seen:
            self._learn(word)
        return {w: self._hits[w] for w in words & self._hits.keys()}

    def _learn(self, word: str) -> None:
        self._seen.add(word)
        hit = self._compute(word)
        if hit >= 0:
            self._hits[word] = hit

    def _compute(self, word: str) -> int:
        if len(word) > MAX_TOKEN_CHARS:
            return -1
        hit = self._exact.get(word)
        if hit is not None:
            return hit
        if self._prefix is not None and word.startswith(self._prefix):
            return len(self._plans) - 1
        for i, term, budget, prefix, foreign in self._fuzzy:
            if not prefix and abs(len(word) - len(term)) > budget:
                continue
            # Each character the term lacks costs at least one edit (a cheap bound);
            # a matching prefix is never shorter than len(term) - budget.
            must_align = word[: len(term) - budget] if prefix else word
            if len(must_align.translate(foreign)) > budget:
                continue
            if _distance_within(term, word, budget, prefix):
                return i
        return -1


def term_matcher(terms: Sequence[str], *, prefix_last: bool = True,
                 exact: bool = False) -> TermMatcher:
    return TermMatcher(terms, prefix_last=prefix_last, exact=exact)


def find_matches(text: str, terms: Sequence[str], *, prefix_last: bool = True,
                 exact: bool = False,
                 matcher: TermMatcher | None = None) -> list[tuple[int, int, int]]:
    """``(start, end, term index)`` of every matching word in the first ``SCAN_CHARS``."""
    if not terms:
        return []
    match = matcher or term_matcher(terms, prefix_last=prefix_last, exact=exact)
    scan = text[:SCAN_CHARS]
    if scan.isascii():
        return _find_ascii(scan, match)
    found: list[tuple[int, int, int]] = []
    seen = -1
    for start, end, word in word_spans(scan):
        if start == seen:
            continue  # one source word folding into several words is marked once
        hit = match(word)
        if hit >= 0:
            found.append((start, end, hit))
            seen = start
    return found


def _find_ascii(scan: str, match: TermMatcher) -> list[tuple[int, int, int]]:
    """The same result as the general path, with the scanning done by ``re``: match
    each distinct word once, then find the matching ones in one pass."""
    low = scan.lower()  # ASCII: offsets are unchanged
    hits = match.matching(set(_WORD.findall(low)))
    if not hits:
        return []
    alternation = "|".join(re.escape(w) for w in sorted(hits, key=len, reverse=True))
    pattern = re.compile(rf"(?<![^\W_])(?:{alternation})(?![^\W_])")
    return [(m.start(), m.end(), hits[m.group()]) for m in pattern.finditer(low)]


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
                  matcher: TermMatcher | None = None) -> Snippet:
    """The ~``size``-character window of ``text`` with the most matches, highlighted."""
    matches = find_matches(text, terms, prefix_last=prefix_last, exact=exact,
                           matcher=matcher)
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
    the caller orders them), else the start of the first non-empty text."""
    fallback: Snippet | None = None
    for text in texts:
        if not text:
            continue
        snip = build_snippet(text, terms, prefix_last=prefix_last, exact=exact, size=size,
                             matcher=matcher)
        if snip.matches:
            return snip.html
        fallback = fallback or snip
    return fallback.html if fallback else ""
