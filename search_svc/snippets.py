"""Highlighted snippets: the only HTML any search response carries.

Owns: finding where a document's raw text matches the query (which words match is
``search_svc.matching``'s), choosing the window with the most matches, and rendering it.
The text is HTML-escaped FIRST and only then wrapped in ``<mark>``/``</mark>``; no other
markup can appear. Pure: no I/O, no engine imports (engines' own highlighters are empty
for fuzzy queries or don't escape).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from search_svc.matching import NON_ASCII_WORD_CHAR, TermMatcher, term_matcher, word_start
from search_svc.query import MARK, ascii_words, word_spans

__all__ = [
    "MARK_CLOSE",
    "MARK_OPEN",
    "SCAN_CHARS",
    "SNIPPET_CHARS",
    "Snippet",
    "best_snippet",
    "build_snippet",
    "find_matches",
    "holds_every_term",
]

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
SNIPPET_CHARS = 200  # target window; the result is 160-240 characters of source text
SCAN_CHARS = 65_536  # matches are looked for in this much of a text at most
ELLIPSIS = "…"
_MAX_SCORED_MATCHES = 2000
_ESCAPED = re.compile("[&<>\"']")  # the characters html.escape(quote=True) replaces


@dataclass(frozen=True, slots=True)
class Snippet:
    """A rendered window ``text[start:end]`` of the source, and its HTML."""

    html: str
    start: int
    end: int
    matches: int

Scanned = tuple[frozenset[str], list[tuple[int, int, int]] | None]  # TermMatcher.typed_scan


def find_matches(text: str, terms: Sequence[str], *, prefix_last: bool = True,
                 exact: bool = False, matcher: TermMatcher | None = None,
                 present: frozenset[str] = frozenset(),
                 scanned: Scanned | None = None) -> list[tuple[int, int, int]]:
    """``(start, end, term index)`` of every matching word in the first ``SCAN_CHARS``;
    terms in ``present`` (typed elsewhere in the document) get no stem or typo search;
    ``scanned``, when given, is the matcher's ``typed_scan`` of that scan, already known."""
    if not terms:
        return []
    match = matcher or term_matcher(terms, prefix_last=prefix_last, exact=exact)
    scan = text[:SCAN_CHARS]
    if scanned is None and (scan.isascii() or not NON_ASCII_WORD_CHAR.search(scan)):
        scanned = match.typed_scan(scan)  # (other text: the general path below, not typed_in)
    if scanned is not None and scanned[1] is not None:  # words all ASCII
        return _find_ascii(scan, match, present, scanned[1])
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
                spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """For text whose words are all ASCII, given its ``typed_spans``: the same result as
    the general path, with the scanning done by ``re``: match each distinct word once
    (only the few that may be typos, when no term is matched by stem), then find the
    matching ones in one pass."""
    if match.variant_terms <= present | {match.term(i) for _, _, i in spans}:
        return spans  # every term typed here or elsewhere: no variant to look for
    low = scan.lower()  # ASCII words, punctuation of any kind: offsets are unchanged
    typed_words = {low[s:e]: i for s, e, i in spans}
    words = match.typo_candidates(low)
    hits = match.matching(set(ascii_words(low)) if words is None else words, present,
                          typed_words)
    if not hits:
        return []
    pattern = re.compile("|".join(word_start(w) + r"(?![^\W_])"
                                  for w in sorted(hits, key=len, reverse=True)))
    return [(m.start(), m.end(), hits[m.group()]) for m in pattern.finditer(low)]


def _best_cluster(matches: list[tuple[int, int, int]], size: int) -> tuple[int, int]:
    """Indices [i, j) of the run of matches fitting in ``size`` chars with the most
    distinct terms, then the most matches; earliest wins ties."""
    matches = matches[:_MAX_SCORED_MATCHES]
    if matches[-1][1] - matches[0][0] <= size:
        return 0, len(matches)  # all in one window (most texts): the loop's answer
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
    # never between a letter and its combining marks (text without spaces: Thai, CJK)
    while 0 < start and MARK.match(text, start):
        start -= 1
    while end < n and MARK.match(text, end):
        end += 1
    return start, end


def render(text: str, start: int, end: int, spans: Sequence[tuple[int, int, int]],
           *, ellipsis: str = ELLIPSIS) -> str:
    """Escape ``text[start:end]`` and only then wrap each span inside it in ``<mark>``."""
    # most windows hold nothing to escape: one search instead of an escape per piece
    escape = html.escape if _ESCAPED.search(text, start, end) else str
    out = [ellipsis if start > 0 else ""]
    pos = start
    for s, e, _ in spans:
        if s < pos or e > end:
            continue
        out.append(escape(text[pos:s]))
        out.append(MARK_OPEN + escape(text[s:e]) + MARK_CLOSE)
        pos = e
    out.append(escape(text[pos:end]))
    out.append(ellipsis if end < len(text) else "")
    return "".join(out)


def build_snippet(text: str, terms: Sequence[str], *, prefix_last: bool = True,
                  exact: bool = False, size: int = SNIPPET_CHARS,
                  matcher: TermMatcher | None = None,
                  present: frozenset[str] = frozenset()) -> Snippet:
    """The ~``size``-character window of ``text`` with the most matches, highlighted."""
    return _snippet(text, find_matches(text, terms, prefix_last=prefix_last, exact=exact,
                                       matcher=matcher, present=present), size)


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
        scans: list[Scanned | None] = [None] * len(texts)

        def scanned(k: int) -> Scanned:
            found = scans[k]
            if found is None:
                found = scans[k] = match.typed_scan(texts[k][:SCAN_CHARS])
            return found

        for k, text in enumerate(texts):
            here = scanned(k)[0]
            searched = match.variant_terms - here  # terms this text would look for variants of
            if searched:  # ... unless the document holds them as typed elsewhere
                searched -= frozenset().union(*(scanned(i)[0] for i in range(len(texts))))
            if not here and not searched:
                continue  # nothing to mark here: no word as typed, no variant to look for
            matches = find_matches(text, terms, prefix_last=prefix_last, exact=exact,
                                   matcher=match, present=match.variant_terms - searched,
                                   scanned=scanned(k))
            if matches:  # (a text without any is passed over unrendered)
                return _snippet(text, matches, size).html
    start, end = _window(texts[0], 0, 0, size)
    return render(texts[0], start, end, ())
