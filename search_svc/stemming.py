"""Snowball stemming (PyStemmer) for the keyword engine's stemmed fields.

Owns: which stemmer a document's locale gets, the stems of analysed words at index
time and of one query term at query time. Pure: no I/O, no engine imports; works on
words already folded by ``search_svc.query.analyze``. PyStemmer's objects are not
thread-safe (the API searches from a thread pool), so each thread keeps its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Literal

from search_svc.locales import canonical_locale

__all__ = ["LANGUAGES", "Language", "language_for", "query_stems", "stem_text", "stem_words",
           "word_stems"]

Language = Literal["indonesian", "english"]
LANGUAGES: tuple[Language, ...] = ("indonesian", "english")
_VOWELS = frozenset("aeiou")
_local = threading.local()
# stem_text's memo per language: word -> its stems joined by spaces; started over when
# full (at most ~20 MB a language even of 64-character words)
_STEM_CACHE_WORDS = 100_000
_stem_cache: dict[Language, dict[str, str]] = {language: {} for language in LANGUAGES}


def language_for(locale: str | None) -> Language | None:
    """The stemmer for a document's locale: English for ``en*``; Indonesian for ``id*``,
    ``ms*`` and no locale (AWCMS content is Indonesian unless it says otherwise); none
    for other languages (they keep their exact field only)."""
    code = canonical_locale(locale or "").split("-", 1)[0]
    if code == "en":
        return "english"
    if code in ("", "id", "in", "ms"):
        return "indonesian"
    return None


def _stemmer(language: Language) -> Any:
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if language not in stemmers:
        import Stemmer  # PyStemmer ships no type information

        stemmers[language] = Stemmer.Stemmer(language)
    return stemmers[language]


def _nasal_roots(word: str, stem: str) -> tuple[str, ...]:
    # meN-/peN- drop a root's first k or t before a vowel ("mengirim" ← kirim, "menulis"
    # ← tulis); Snowball cannot know which, and gives "irim" / "ulis" while "dikirim"
    # stems to "kirim". Adding the restored root too lets the forms meet; a wrong guess
    # ("mengambil" → also "kambil") is a word nobody searches for.
    if not stem or stem[0] not in _VOWELS:
        return (stem,)
    if word[:4] in ("meng", "peng") and word[4:5] in _VOWELS:
        return (stem, "k" + stem)
    if word[:3] in ("men", "pen") and word[3:4] in _VOWELS:
        return (stem, "t" + stem)
    return (stem,)


def stem_words(words: Iterable[str], language: Language) -> list[str]:
    """Each word's stem (Indonesian words with a dropped root letter give two)."""
    words = list(words)
    stems = _stemmer(language).stemWords(words)
    if language != "indonesian":
        return list(stems)
    return [s for w, stem in zip(words, stems, strict=True) for s in _nasal_roots(w, stem)]


def word_stems(words: list[str], language: Language) -> list[tuple[str, ...]]:
    """``stem_words`` kept per word: the stems each of ``words`` is indexed under."""
    stems = _stemmer(language).stemWords(words)
    if language != "indonesian":
        return [(stem,) for stem in stems]
    return [_nasal_roots(w, stem) for w, stem in zip(words, stems, strict=True)]


def stem_text(words: Iterable[str], language: Language | None) -> str:
    """The stemmed field's text for a document's analysed words ("" when not stemmed):
    ``" ".join(stem_words(words, language))``, each distinct word stemmed once and
    remembered (``_STEM_CACHE_WORDS`` a language): a document's words are mostly ones
    earlier documents had, and stemming was the indexer's largest cost."""
    if not language:
        return ""
    words = words if isinstance(words, list) else list(words)
    cache = _stem_cache[language]  # this dict, even if another thread starts a new one
    missing = set(words).difference(cache)
    if missing:
        if len(cache) + len(missing) > _STEM_CACHE_WORDS:
            # started over: the words this text shares with the old memo are missing too
            cache = _stem_cache[language] = {}
            missing = set(words)
        new = list(missing)
        cache.update(zip(new, map(" ".join, word_stems(new, language)), strict=True))
    return " ".join(map(cache.__getitem__, words))


def query_stems(term: str, language: Language) -> tuple[str, ...]:
    """The stems one folded query term is looked up by in ``language``'s stemmed field."""
    return tuple(dict.fromkeys(stem_words([term], language)))
