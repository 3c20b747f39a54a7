"""search_svc.stemming: Snowball stems per locale, and the forms they make meet."""

from __future__ import annotations

import threading

import pytest

from search_svc import stemming
from search_svc.query import analyze
from search_svc.stemming import _stemmer, language_for, query_stems, stem_text, stem_words


def _meet(words: list[str], language: str) -> set[str]:
    """The stems every word shares (a word may have two)."""
    sets = [set(query_stems(w, language)) for w in words]  # type: ignore[arg-type]
    return set.intersection(*sets)


@pytest.mark.parametrize(("locale", "language"), [
    ("id", "indonesian"), ("id-ID", "indonesian"), ("id_ID", "indonesian"), ("", "indonesian"),
    (None, "indonesian"), ("ms", "indonesian"), ("en", "english"), ("en-GB", "english"),
    ("EN", "english"), ("ja", None), ("fr-FR", None),
])
def test_locale_picks_the_stemmer(locale: str | None, language: str | None) -> None:
    assert language_for(locale) == language


def test_indonesian_affixes_meet_at_the_root() -> None:
    assert _meet(["pengiriman", "dikirim", "mengirimkan", "kiriman", "terkirim"],
                 "indonesian") == {"kirim"}
    assert _meet(["menulis", "penulis", "ditulis", "tulisan"], "indonesian") == {"tulis"}
    assert _meet(["kecepatan", "percepatan", "cepat"], "indonesian") == {"cepat"}
    assert _meet(["pengumuman", "diumumkan", "mengumumkan"], "indonesian") >= {"umum"}


def test_english_inflections_meet() -> None:
    assert _meet(["caching", "cached", "cache", "caches"], "english") == {"cach"}
    assert _meet(["pressures", "pressure"], "english") == {"pressur"}


def test_stem_text_keeps_one_stem_a_word_plus_restored_roots() -> None:
    words = analyze("Pengiriman paket dikirim cepat")
    assert stem_text(words, "indonesian").split() == ["irim", "kirim", "paket", "kirim",
                                                      "cepat"]
    assert stem_text(words, None) == ""
    assert stem_words([], "english") == []


@pytest.mark.parametrize("language", ["indonesian", "english"])
def test_stem_text_remembers_stems_without_changing_them(
        language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stemming, "_STEM_CACHE_WORDS", 5)  # started over every few words
    monkeypatch.setitem(stemming._stem_cache, language, {})  # type: ignore[index]
    texts = ["Pengiriman paket dikirim cepat, mengirim dan menulis tulisan",
             "caching cached caches pressures pressure", "kirim kirim kirim ulang",
             # "kirim" remembered, four new words: started over, "kirim" stemmed again
             # (it raised KeyError: a bulk import crash-looped the indexer)
             "kirim paket baru lagi hari",
             "Pengiriman paket dikirim cepat, mengirim dan menulis tulisan"]
    for text in texts:
        words = analyze(text)
        assert stem_text(words, language) == " ".join(stem_words(words, language))  # type: ignore[arg-type]
        assert stem_text(iter(words), language) == stem_text(words, language)  # type: ignore[arg-type]
    assert len(stemming._stem_cache[language]) <= 10  # type: ignore[index]


def test_stemmers_are_safe_across_threads() -> None:
    # PyStemmer's objects are not thread-safe; under the GIL its C calls do not
    # interleave, so sharing one stemmer between threads gives the same stems here and
    # the comparison alone could not fail: each thread must hold stemmers of its own.
    words = ["pengiriman", "caching"] * 200
    expected = {lang: stem_words(words, lang) for lang in ("indonesian", "english")}
    errors: list[str] = []
    used: list[tuple[str, int]] = []
    keep: list[object] = []  # alive until the end, so no two share an id by reuse

    def work() -> None:
        for lang in expected:
            stemmer = _stemmer(lang)  # type: ignore[arg-type]
            keep.append(stemmer)
            used.append((lang, id(stemmer)))
            if _stemmer(lang) is not stemmer:  # type: ignore[arg-type]  # kept, not remade
                errors.append(f"{lang} stemmer remade")
        for _ in range(50):
            for lang, want in expected.items():
                if stem_words(words, lang) != want:  # type: ignore[arg-type]
                    errors.append(lang)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    mine = {(lang, id(_stemmer(lang))) for lang in expected}  # type: ignore[arg-type]
    assert len(used) == 8 and len(set(used) | mine) == 10  # one per language per thread
