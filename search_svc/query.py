"""Query text normalisation and the one text analyzer shared by index, query and snippets.

Owns: turning a visitor's raw ``q`` into a small frozen ``ParsedQuery`` (NFKC, control
characters stripped, whitespace collapsed, bounded, folded terms), the folding used by
every engine adapter at index *and* query time, and Meilisearch's typo budget. Pure: no
I/O, no engine imports. Query-syntax characters never survive as syntax — engines get
folded alphanumeric terms only, so no user text ever reaches a query parser.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MARK",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "RANKING_MAX_TERMS",
    "MAX_TOKEN_CHARS",
    "MIN_QUERY_CHARS",
    "ParsedQuery",
    "analyze",
    "ascii_words",
    "fold",
    "normalize_text",
    "parse_query",
    "typo_budget",
    "word_spans",
]

MAX_QUERY_CHARS = 128  # AWCMS site-search bound; longer input is cut, never an error
MAX_TERMS = 10  # Meilisearch only considers the first ten words; Tantivy follows suit
RANKING_MAX_TERMS = 32  # hybrid's keyword side (BM25, no expansions): 128 chars hold ~20
MAX_TOKEN_CHARS = 64  # longer "words" (hashes, base64) are not indexed nor searched
MIN_QUERY_CHARS = 2  # a single character is too short to search

Reason = Literal["empty", "too_short"]

# Invisible characters that join or hyphenate inside a word (soft hyphen, ZWNJ, ZWJ,
# word joiner, BOM): part of the word and dropped by the fold, as normalize_text drops
# them from a query ("pe&shy;merintahan" is indexed as the word a visitor types).
_JOINERS = "\u00ad\u200c\u200d\u2060\ufeff"
# Letters that NFKD does not decompose into base + mark but that readers expect folded
# (Lucene's ASCIIFoldingFilter does the same); applied after lowercasing.
_SPECIAL_FOLDS = str.maketrans({
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ı": "i",
    "þ": "th", "ħ": "h", "ŧ": "t", "ŋ": "n", "ĸ": "k", "ſ": "s", "ŀ": "l", "ɨ": "i",
    "ƒ": "f", "ǥ": "g", "ɍ": "r", "ʉ": "u", "ȼ": "c", "ɇ": "e", "ɉ": "j",
})


def _mark_class() -> str:
    """A regex class body for the combining marks (Mn, Mc, Me) of the Basic Multilingual
    Plane, every living script's but a few (~15 ms, once; the supplementary planes' ranges
    would make every word's regex match slower)."""
    runs: list[list[int]] = []
    for c in range(0x10000):
        if unicodedata.category(chr(c))[0] == "M":
            if runs and runs[-1][1] == c - 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)


# Combining marks (accents NFKC cannot compose, Arabic harakat, Indic vowel signs) and
# the invisible joiners.
_MARKS = _mark_class() + _JOINERS
MARK = re.compile(f"[{_MARKS}]")
# A word is a run of letters/digits (str.isalnum) with their combining marks (part of
# the letter: "بِسْمِ" is one word, folded to "بسم"; a mark never splits a word nor
# starts one); "_" and everything else separates. Possessive: one way to match.
_WORD = re.compile(rf"[^\W_]+(?:[{_MARKS}]+[^\W_]+)*+[{_MARKS}]*+")
# The text ends inside a word (a letter, perhaps followed by its marks).
_ENDS_IN_WORD = re.compile(rf"[^\W_][{_MARKS}]*\Z")
# The same for ASCII, as a byte table: letters and digits kept, every other byte a space
_ASCII_WORD_BYTES = bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))
_MAX_RAW_CHARS = 4096  # input beyond this is ignored before any work is done on it
# Quote characters a user may wrap a phrase in (after NFKC).
_QUOTES = "\"“”„«»‟〝〞＂"


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A visitor's query, normalised.

    ``text`` is canonical: ``parse_query(p.text) == p``, so it is what engines receive
    in ``SearchQuery.text`` and what caches key on. ``reason`` is set when the query
    must return an empty result (not an error).
    """

    text: str
    terms: tuple[str, ...]
    phrase: bool = False  # the whole query was quoted: terms must appear adjacent, exact
    prefix_last: bool = True  # the last term may match as a prefix (search-as-you-type)
    reason: Reason | None = None

    @property
    def searchable(self) -> bool:
        return self.reason is None


# Meilisearch counts a typo on a word's first letter as two typos: a word of 5-8 letters
# keeps its first letter, one of 9 or more may change it only as its one typo. Applied
# to words starting with a-z (the Tantivy engine's per-letter typo dictionaries).
TYPO_INITIALS = frozenset("abcdefghijklmnopqrstuvwxyz")


def typo_budget(term: str) -> int:
    """Meilisearch's rule: 0 typos under 5 characters, 1 from 5, 2 from 9."""
    n = len(term)
    return 0 if n < 5 else 1 if n < 9 else 2


def fold(text: str) -> str:
    """Lowercase and strip accents/ligatures (``Café`` → ``cafe``, ``Straße`` → ``strasse``)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    # ... and the marks of no combining class (vowel signs) and joiners a word holds:
    # folded words are letters and digits only
    return MARK.sub("", text).translate(_SPECIAL_FOLDS)


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, folded word)`` for every word of ``text``; offsets index ``text``.

    A source word may fold into several words (``½`` → ``1``, ``2``); each gets the
    source word's span. Words longer than ``MAX_TOKEN_CHARS`` are dropped.
    """
    spans: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(text):
        spans.extend((m.start(), m.end(), p) for p in _pieces(m.group()))
    return spans


def ascii_words(text: str) -> list[str]:
    r"""``_WORD.findall(text)`` for a text whose words are all ASCII (any other character,
    one ``?`` once encoded, separates words), in order. All in C (``bytes.translate``):
    a third of ``findall``'s time on a 1 kB text."""
    return text.encode("ascii", "replace").translate(_ASCII_WORD_BYTES).decode("ascii").split()


def analyze(text: str) -> list[str]:
    """The index analyzer: folded words in order. Engines index ``" ".join(analyze(t))``."""
    if text.isascii():
        words = ascii_words(text.lower())
        if max(map(len, words), default=0) <= MAX_TOKEN_CHARS:
            return words
        return [w for w in words if len(w) <= MAX_TOKEN_CHARS]
    out: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text)):
        if word.isascii():  # most words of most texts: folding is lowercasing
            if len(word) <= MAX_TOKEN_CHARS:
                out.append(word.lower())
        else:
            out.extend(_pieces(word))
    return out


def _pieces(word: str) -> list[str]:
    """The folded words one source word (a ``_WORD`` match) becomes, short enough to index."""
    folded = fold(word)
    if folded == word.lower() and _WORD.fullmatch(folded):
        pieces = [folded]
    else:
        pieces = _WORD.findall(folded)
    return [p for p in pieces if len(p) <= MAX_TOKEN_CHARS]


def normalize_text(raw: str) -> str:
    """NFKC, control/format characters removed, whitespace collapsed, at most 128 chars.

    A single trailing space is kept: it says the last word is complete (no prefix match).
    """
    text = unicodedata.normalize("NFKC", raw[:_MAX_RAW_CHARS])
    # read only as far as the 128 characters kept: NFKC can make one character 18
    # (U+FDFA), and a per-character pass over all of 2 kB of them cost ~5 ms a request
    out: list[str] = []
    after_space = True  # leading whitespace dropped
    for c in text:
        if c.isspace():
            if after_space:
                continue
            out.append(" ")
            after_space = True
        elif unicodedata.category(c)[0] != "C":
            out.append(c)
            after_space = False
        if len(out) > MAX_QUERY_CHARS:
            break
    text = "".join(out[:MAX_QUERY_CHARS])
    return text.rstrip(" ") + " " if text.endswith(" ") else text


def parse_query(raw: str | None, *, max_terms: int = MAX_TERMS) -> ParsedQuery:
    """Normalise a raw ``q`` into folded terms; never raises.

    ``max_terms`` is the visitor's search box rule by default; hybrid ranking keeps
    more words of a question (``RANKING_MAX_TERMS``): there the words past the tenth
    are often the ones that carry the meaning.
    """
    text = normalize_text(raw or "")
    body = text.strip(" ")
    phrase = len(body) >= 2 and body[0] in _QUOTES and body[-1] in _QUOTES
    terms = tuple(analyze(body))[:max_terms]
    if not terms:
        return ParsedQuery(text="", terms=(), phrase=False, prefix_last=False, reason="empty")
    # The last word is a prefix unless the visitor typed past it (space, quote, ".").
    last_open = not phrase and bool(_ENDS_IN_WORD.search(body)) and not text.endswith(" ")
    if len(terms) < len(analyze(body)):
        last_open = False  # cut at MAX_TERMS: the last kept word is complete
    # Folding can lengthen words ("ß" -> "ss"): the canonical text must stay within the
    # bound, or parsing it again would cut it elsewhere (and search other words).
    def room() -> int:  # a phrase's quotes, or the space closing a complete last word
        return MAX_QUERY_CHARS - (2 if phrase else 0 if last_open else 1)

    while len(" ".join(terms)) > room():
        last_open = False
        terms = terms[:-1] if len(terms) > 1 else (terms[0][:room()],)
    joined = " ".join(terms)
    canonical = f'"{joined}"' if phrase else joined if last_open else joined + " "
    if len(terms) == 1 and len(terms[0]) < MIN_QUERY_CHARS:
        return ParsedQuery(text=canonical, terms=terms, phrase=phrase,
                           prefix_last=last_open, reason="too_short")
    return ParsedQuery(text=canonical, terms=terms, phrase=phrase, prefix_last=last_open)
