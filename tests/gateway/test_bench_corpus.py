"""The keyword benchmark's synthetic corpus and query set (bench/corpus.py)."""

from __future__ import annotations

import re
from collections import Counter

import psycopg
import pytest

from bench.corpus import (
    KINDS,
    english_forms,
    ensure_tenants,
    generate_rows,
    indonesian_forms,
    levenshtein,
    load_rows,
    query_set,
    vocabulary,
)

SEED = 7
TENANTS = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(generate_rows(2_000, seed=SEED, tenants=TENANTS))


@pytest.fixture(scope="module")
def docs(rows) -> list[str]:
    """Each row as its lower-cased tokens joined by single spaces."""
    return [
        " " + " ".join(re.findall(r"[^\W_]+", (r["title"] + " " + r["content"]).lower())) + " "
        for r in rows
    ]


def test_vocabulary_has_tens_of_thousands_of_forms() -> None:
    vocab = vocabulary(SEED)
    assert len(vocab) >= 30_000
    assert {
        "kesehatan",
        "pembayaran",
        "pengiriman",
        "teknologi",
        "pariwisata",
        "kopi",
    } <= vocab.words
    assert {"caching", "replication"} <= vocab.words


def test_indonesian_and_english_morphology() -> None:
    assert {"mengirim", "dikirimkan", "pengiriman", "kiriman"} <= set(indonesian_forms("kirim"))
    assert {"menulis", "penulis", "ditulis"} <= set(indonesian_forms("tulis"))
    assert {"membayar", "pembayaran", "bayaran"} <= set(indonesian_forms("bayar"))
    assert {"menyimpan", "penyimpanan"} <= set(indonesian_forms("simpan"))
    assert {"caches", "cached", "caching"} <= set(english_forms("cache"))


def test_rows_are_deterministic_and_blog_shaped(rows) -> None:
    assert list(generate_rows(2_000, seed=SEED, tenants=TENANTS)) == rows
    other = list(generate_rows(50, seed=SEED + 1, tenants=TENANTS))
    assert [r["title"] for r in other] != [r["title"] for r in rows[:50]]
    for row in rows[:100]:
        assert row["title"] and row["content"].startswith("<p>") and row["excerpt"]
        assert row["tags"] and row["tenant_id"] in TENANTS
    languages = Counter(r["language"] for r in rows)
    assert languages["id"] > languages["en"] > 0.15 * len(rows)


def test_word_frequencies_are_zipf_like(docs) -> None:
    counts = Counter(w for doc in docs for w in doc.split())
    ranked = [c for _, c in counts.most_common()]
    assert len(counts) >= 10_000
    assert ranked[0] > 20 * ranked[100] > 0
    assert sum(1 for c in ranked if c == 1) > 0.2 * len(ranked)  # a long tail of hapaxes


def test_query_set_covers_every_kind(docs) -> None:
    queries = query_set(SEED)
    assert queries == query_set(SEED)
    by_kind = Counter(kind for kind, _ in queries)
    assert set(by_kind) == set(KINDS) and all(count == 20 for count in by_kind.values())
    vocab = vocabulary(SEED)
    for kind, query in queries:
        words = query.strip('"').split()
        if kind in ("typo1", "typo2"):
            assert len(words) == 1 and query not in vocab.words
        if kind == "phrase":
            assert query.startswith('"') and any(f" {' '.join(words)} " in d for d in docs), query
        if kind in ("single", "two_words", "rare"):
            assert any(all(f" {w} " in d for w in words) for d in docs), query
        if kind == "prefix":
            *full, partial = words
            assert any(all(f" {w} " in d for w in full) and f" {partial}" in d for d in docs), query


def test_typo_queries_are_one_or_two_edits_from_a_corpus_word() -> None:
    vocab = vocabulary(SEED)
    candidates = [w for lang in ("id", "en") for w in vocab.prose[lang][:3000]]
    for kind, query in query_set(SEED):
        if kind in ("typo1", "typo2"):
            edits = 1 if kind == "typo1" else 2
            near = [w for w in candidates if abs(len(w) - len(query)) <= edits]
            assert any(levenshtein(query, w) == edits for w in near), query


def test_rare_words_are_planted_in_at_most_five_documents(docs) -> None:
    for kind, query in query_set(SEED):
        if kind == "rare":
            assert 1 <= sum(f" {query} " in d for d in docs) <= 5, query


def test_load_rows_copies_into_blogs(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        tenant_ids = ensure_tenants(conn, ["bench-a", "bench-b"])
        assert ensure_tenants(conn, ["bench-a"]) == tenant_ids[:1]
        written = load_rows(conn, generate_rows(2_000, seed=SEED, tenants=tenant_ids))
        assert written == 2_000
        count, languages, published = conn.execute(
            "SELECT count(*), count(DISTINCT language), count(*) FILTER (WHERE status = 'published' "
            "AND is_public AND published_at <= now()) FROM blogs"
        ).fetchone()
        assert count == 2_000 and languages == 2 and 1_800 < published < 2_000
