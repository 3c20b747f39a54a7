"""search_svc.engines.meili_query: Meilisearch request bodies, without a server."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.meili_query import (
    CHECKPOINT_ID,
    INDEX_SETTINGS,
    MAX_FACET_BYTES,
    MAX_RESULT_WINDOW,
    document_id,
    facet_value,
    filters,
    payloads,
    quote,
    read_results,
    search_requests,
    tenant_value,
    to_meili,
)
from search_svc.errors import EngineUnavailable
from search_svc.query import parse_query

T = "11111111-1111-1111-1111-111111111111"
TV = tenant_value(T)


@pytest.mark.parametrize("key", ["blog:1", "page:ü/ß", "product:" + "x" * 200, ":", "a b",
                                 "page:" + "x" * 600, "page:" + "ü" * 300])
def test_document_ids_are_valid_meilisearch_ids_and_distinct(key: str) -> None:
    pk = document_id(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,511}", pk)
    assert pk != CHECKPOINT_ID and document_id(key + "x") != pk


def test_no_base64_id_has_the_checkpoints_length() -> None:
    assert all(len(document_id("k" * n)) % 4 != 1 for n in range(1, 400))
    assert len(CHECKPOINT_ID) % 4 == 1


def test_to_meili_carries_every_field() -> None:
    d = Document(key="blog:1", id="1", tenant_id=T, type="blog", title="T", body="B",
                 summary="S", tags=("a",), category="C", locale="id", image="/i.jpg",
                 url="/b/1", published_at=5)
    assert to_meili(d) == {
        "pk": document_id("blog:1"), "key": "blog:1", "id": "1", "tenant": TV, "type": "blog",
        "title": "T", "summary": "S", "body": "B", "category": "C", "tags": ["a"],
        "locale": "id", "image": "/i.jpg", "url": "/b/1", "published_at": 5,
        "title_f": "t", "summary_f": "s", "body_f": "b"}


def test_searched_fields_carry_the_querys_fold() -> None:
    # Meilisearch only lowercases and strips marks: without our fold in the document,
    # the folded query "strasse" (or "lodz") could never meet "Straße" ("Łódź")
    d = Document(key="blog:1", id="1", tenant_id=T, type="blog", title="Straße in Łódź",
                 body="Fußball & <b>Þór</b>", summary="")
    doc = to_meili(d)
    assert doc["title"] == "Straße in Łódź" and doc["body"] == "Fußball & <b>Þór</b>"
    for text, field in (("Straße", "title_f"), ("Łódź", "title_f"), ("Fußball", "body_f"),
                        ("Þór", "body_f")):
        assert set(parse_query(text).terms) <= set(doc[field].split()), text


@pytest.mark.parametrize(("value", "literal"), [
    ("plain", '"plain"'), ('say "hi"', '"say \\"hi\\""'), ("back\\slash", '"back\\\\slash"'),
    ("x' OR tenant EXISTS", '"x\' OR tenant EXISTS"'),
])
def test_filter_values_are_quoted_literals(value: str, literal: str) -> None:
    assert quote(value) == literal


def test_filters_always_start_with_the_tenant() -> None:
    q = SearchQuery(tenant_id=T, types=("blog", "page"), categories=('A "b"',), tags=("t",),
                    locale="id", published_before=99)
    assert filters(q) == [
        f'tenant = "{TV}"', 'type IN ["blog", "page"]', 'category IN ["A \\"b\\""]',
        'tags IN ["t"]', 'locale IN ["id"]', "published_at <= 99"]
    assert filters(q, without="type")[1] == 'category IN ["A \\"b\\""]'
    # the tenant's type scope bounds every query, the type facet's own included
    scoped = replace(q, scope_types=("blog", "product"))
    assert filters(scoped, without="type")[:3] == [
        f'tenant = "{TV}"', 'type IN ["blog", "product"]', 'category IN ["A \\"b\\""]']


def test_settings_follow_meilisearch_typo_rule_and_field_order() -> None:
    assert INDEX_SETTINGS["searchableAttributes"] == ["title_f", "summary_f", "body_f"]
    assert INDEX_SETTINGS["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5,
                                                                     "twoTypos": 9}
    assert "tenant" in INDEX_SETTINGS["filterableAttributes"]


@pytest.mark.parametrize(("limit", "offset", "page", "per_page", "skip"), [
    (10, 0, 1, 10, 0), (10, 20, 3, 10, 0), (10, 5, 1, 15, 5), (0, 0, 1, 0, 0),
    (10, MAX_RESULT_WINDOW, 1, 0, 0), (7, 9990, 1111, 9, 0), (20, 30, 2, 25, 5),
    (20, MAX_RESULT_WINDOW - 10, 1000, 10, 0),  # cut at the window: its last 10 hits
])
def test_pages_give_exact_totals(limit: int, offset: int, page: int, per_page: int,
                                 skip: int) -> None:
    q = SearchQuery(tenant_id=T, text="rumah", limit=limit, offset=offset)
    (main,), got_skip = search_requests("idx", q, parse_query("rumah"), "all")
    assert (main["page"], main["hitsPerPage"], got_skip) == (page, per_page, skip)


@given(st.integers(1, 100), st.integers(0, MAX_RESULT_WINDOW - 100))
def test_a_page_covers_the_range_without_fetching_every_hit_before_it(limit: int,
                                                                     offset: int) -> None:
    q = SearchQuery(tenant_id=T, text="rumah", limit=limit, offset=offset)
    (main,), skip = search_requests("idx", q, parse_query("rumah"), "all")
    first = (main["page"] - 1) * main["hitsPerPage"]
    assert first + skip == offset and skip + limit <= main["hitsPerPage"] <= 4 * limit


def test_facets_with_their_own_filter_get_their_own_query() -> None:
    q = SearchQuery(tenant_id=T, text="rumah", types=("blog",), facets=("type", "tags"),
                    sort="published_at")
    queries, _ = search_requests("idx", q, parse_query("rumah"), "all")
    main, by_type = queries
    assert main["facets"] == ["tags"] and main["sort"] == ["published_at:desc"]
    assert main["filter"] == [f'tenant = "{TV}"', 'type IN ["blog"]']
    assert by_type["facets"] == ["type"] and by_type["hitsPerPage"] == 0
    assert by_type["filter"] == [f'tenant = "{TV}"']
    assert all(x["q"] == "rumah" and x["matchingStrategy"] == "all" for x in queries)


def test_read_results_escapes_snippets_and_merges_facets() -> None:
    q = SearchQuery(tenant_id=T, text="rumah", types=("blog",), facets=("type", "tags"),
                    facet_size=1)
    raw = {"key": "blog:1", "id": "1", "type": "blog", "title": "<b>Rumah</b>",
           "summary": "", "body": "<script>x</script> rumah", "category": None,
           "tags": ["a"], "locale": "id", "image": None, "url": "/b/1",
           "published_at": 3, "_rankingScore": 0.9}
    results = [
        {"hits": [raw, raw], "totalHits": 7, "facetDistribution": {"tags": {"a": 1, "b": 4}}},
        {"hits": [], "totalHits": 9, "facetDistribution": {"type": {"blog": 7, "page": 2}}},
    ]
    res = read_results(results, q, parse_query("rumah"), skip=1)
    assert res.total == 7 and len(res.hits) == 1
    assert res.facets == {"type": {"blog": 7}, "tags": {"b": 4}}
    hit = res.hits[0]
    assert hit.snippet == "&lt;script&gt;x&lt;/script&gt; <mark>rumah</mark>"
    assert hit.title == "<b>Rumah</b>" and hit.score == 0.9 and hit.tags == ("a",)


def test_read_results_keeps_only_the_asked_page_and_needs_exact_totals() -> None:
    q = SearchQuery(tenant_id=T, text="rumah", limit=2, offset=3)
    raws = [{"key": f"blog:{i}", "id": str(i), "type": "blog", "title": f"rumah {i}",
             "published_at": 1} for i in range(9)]
    res = read_results([{"hits": raws, "totalHits": 40}], q, parse_query("rumah"), skip=3)
    assert [h.id for h in res.hits] == ["3", "4"] and res.total == 40
    with pytest.raises(EngineUnavailable):
        read_results([{"hits": raws, "estimatedTotalHits": 40}], q, parse_query("rumah"), skip=0)


def test_unreachable_server_is_engine_unavailable() -> None:
    from search_svc.engines.meili import MeiliEngine

    engine = MeiliEngine("http://127.0.0.1:9", None, "awsm_none", writer=False, timeout_s=1)
    with pytest.raises(EngineUnavailable):
        engine.search(SearchQuery(tenant_id=T, text="rumah"))
    with pytest.raises(EngineUnavailable):
        engine.stats()


def _normalize_facet(value: str) -> str:
    """What Meilisearch compares a filter string as (milli's ``normalize_facet``: trim,
    NFKC-style compatibility decomposition, lowercase)."""
    import unicodedata

    return unicodedata.normalize("NFKD", value.strip()).lower()


@pytest.mark.parametrize("other", ["ABC", " abc", "ａｂｃ", "abc "])
def test_tenants_meilisearch_would_fold_together_stay_apart(other: str) -> None:
    # Meilisearch matches "abc" against "ABC", "ａｂｃ" or " abc": raw ids in the filter
    # would let one tenant see another's documents
    assert _normalize_facet(other) == _normalize_facet("abc")
    mine, theirs = tenant_value("abc"), tenant_value(other)
    assert _normalize_facet(mine) != _normalize_facet(theirs)
    assert _normalize_facet(mine) == mine  # stored and compared as it is
    q = SearchQuery(tenant_id="abc")
    d = Document(key="blog:1", id="1", tenant_id=other, type="blog", title="t")
    assert filters(q)[0] != f"tenant = {quote(to_meili(d)['tenant'])}"


@pytest.mark.parametrize("value", ["kopi", "é" * 300, "字" * 200, "x" * 600, "🙂" * 120,
                                   "한" * 104, "ﬃ" * 200])
def test_long_facet_values_are_cut_the_same_on_both_sides(value: str) -> None:
    # Meilisearch cuts an indexed value at 468 bytes of its normalised form (a Hangul
    # syllable decomposes to three jamo), never a filter's: cut both shorter
    cut = facet_value(value)
    assert len(_normalize_facet(cut).encode()) <= MAX_FACET_BYTES and len(cut) <= 512
    assert value.startswith(cut) and facet_value(cut) == cut
    d = Document(key="blog:1", id="1", tenant_id=T, type="blog", title="t", category=value,
                 tags=(value,))
    stored = to_meili(d)
    q = SearchQuery(tenant_id=T, categories=(value,), tags=(value,))
    assert filters(q)[1:] == [f"category IN [{quote(stored['category'])}]",
                              f"tags IN [{quote(stored['tags'][0])}]"]


def test_payloads_stay_under_the_limit_in_order() -> None:
    docs = [{"pk": str(i), "body": ("Ж" if i % 2 else "a") * (i * 37 % 500)}
            for i in range(300)]
    parts = list(payloads(docs, limit=4000))
    assert len(parts) > 10 and all(len(p) <= 4000 for p in parts)
    assert [d for p in parts for d in orjson.loads(p)] == docs
    # UTF-8, not the six-byte \uXXXX escapes json.dumps writes by default
    one = next(payloads([{"body": "Ж" * 1000}]))
    assert len(one) < len(json.dumps([{"body": "Ж" * 1000}]).encode()) / 2
    assert list(payloads([])) == []
    # a document larger than the limit goes alone rather than being dropped
    assert [len(orjson.loads(p)) for p in payloads([{"b": "x" * 50}] * 3, limit=40)] == [1, 1, 1]


def test_texts_sent_are_bounded() -> None:
    # an uncut title and folded copies could carry one document past the 100 MB a
    # request may hold: refused before any task existed, that batch was retried for good
    text = "kata " * 400_000
    sent = to_meili(Document(key="blog:1", id="1", tenant_id=T, type="blog", title=text,
                             summary=text, body=text))
    assert len(orjson.dumps(sent)) < 5_000_000
    for field in ("title", "summary", "body"):
        assert len(sent[field]) == 1_000_000
        assert len(sent[f"{field}_f"].split()) == 65_535  # all Meilisearch indexes of it


def test_a_cut_off_search_is_flagged() -> None:
    # Meilisearch (v1.16) never puts a "degraded" field in a search answer: a search cut
    # short by searchCutoffMs shows only in the score details, as a "skipped" rule on
    # the hits it had no time to rank (meilisearch/meilisearch#4488)
    q = SearchQuery(tenant_id=T, text="rumah")
    (main,), _ = search_requests("idx", q, parse_query("rumah"), "all")
    assert main["showRankingScoreDetails"] is True
    raw = {"key": "blog:1", "id": "1", "type": "blog", "title": "rumah", "published_at": 1}
    ranked = {**raw, "_rankingScoreDetails": {"words": {"order": 0, "matchingWords": 1,
                                                        "maxMatchingWords": 1, "score": 1.0}}}
    skipped = {**raw, "key": "blog:2", "id": "2",
               "_rankingScoreDetails": {"skipped": {"order": 0}}}
    done = read_results([{"hits": [ranked], "totalHits": 1}], q, parse_query("rumah"), skip=0)
    cut = read_results([{"hits": [ranked, skipped], "totalHits": 2}], q,
                       parse_query("rumah"), skip=0)
    assert not done.degraded and cut.degraded
