"""Known-item queries over a judged collection: a visitor types a word they saw in a
title, as typed or misspelled, and wants that one document.

The judged sets (Cranfield, the Indonesian set) hold topical questions, paraphrases and
cross-language queries; a site's search box also gets names and title words, which
those sets never ask. ``known_item_collections`` derives both kinds from a collection's
own documents, deterministically: the same documents, one query per sampled document
(its rarest title word of six or more letters, found in at most ``MAX_DOCS`` documents),
that document the only relevant one. Pure: no engine, no model, no I/O.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from typing import Protocol

from search_svc.query import analyze

__all__ = ["MAX_DOCS", "MIN_LETTERS", "known_item_collections", "misspell"]

MIN_LETTERS = 6  # long enough for one typo under Meilisearch's rule (5+: one, 9+: two)
MAX_DOCS = 2  # a word in at most this many documents names its document
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class _Collection(Protocol):
    name: str
    docs: dict[str, tuple[str, str]]
    queries: dict[str, str]
    judgements: dict[str, dict[str, float]]
    query_groups: dict[str, str]


def misspell(word: str, vocabulary: set[str], seed: str) -> str:
    """``word`` with one edit after its first letter (a letter replaced, dropped,
    doubled or swapped with the next), never a word of ``vocabulary``: the typo a
    visitor makes, within one typo of the word as the engines count them."""
    rng = random.Random(seed)
    for _ in range(100):
        i = rng.randrange(1, len(word))
        op = rng.choice(("replace", "drop", "double", "swap"))
        if op == "replace":
            typo = word[:i] + rng.choice(_LETTERS.replace(word[i], "")) + word[i + 1:]
        elif op == "drop":
            typo = word[:i] + word[i + 1:]
        elif op == "double":
            typo = word[:i] + word[i] + word[i:]
        elif i < len(word) - 1 and word[i] != word[i + 1]:
            typo = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        else:
            continue
        if typo not in vocabulary:
            return typo
    raise ValueError(f"no misspelling of {word!r} outside the vocabulary")


def known_item_collections(collection: _Collection, *, limit: int = 100,
                           seed: int = 11) -> list[_Collection]:
    """``name:known`` (the title word as typed) and ``name:known-typo`` (misspelled)
    over ``collection``'s documents, ``limit`` documents sampled with ``seed``."""
    words = {d: set(analyze(f"{title} {text}")) for d, (title, text) in collection.docs.items()}
    df = Counter(w for ws in words.values() for w in ws)
    vocabulary = set(df)
    picks: list[tuple[str, str]] = []
    for doc_id, (title, _text) in sorted(collection.docs.items()):
        candidates = [w for w in set(analyze(title))
                      if len(w) >= MIN_LETTERS and w.isalpha() and df[w] <= MAX_DOCS]
        if candidates:
            picks.append((doc_id, min(candidates, key=lambda w: (df[w], -len(w), w))))
    picks = sorted(random.Random(seed).sample(picks, min(limit, len(picks))))
    out = []
    for suffix, typo in (("known", False), ("known-typo", True)):
        queries = {str(n): misspell(w, vocabulary, f"{seed}:{w}") if typo else w
                   for n, (_d, w) in enumerate(picks, start=1)}
        out.append(replace(collection, name=f"{collection.name}:{suffix}",  # type: ignore[type-var]
                           queries=queries,
                           judgements={str(n): {d: 1.0} for n, (d, _w) in enumerate(picks, 1)},
                           query_groups={}))
    return out
