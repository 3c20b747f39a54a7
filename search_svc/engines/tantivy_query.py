"""Tantivy schema and query construction for ``TantivyEngine`` (no files, no writers).

Owns: the schema, turning a ``SearchQuery`` into Tantivy queries built term by term in
Python (exact and Snowball-stemmed fields; for visitors typo tolerance by
``typo_budget``, prefix on the last word, AND with an OR fallback; for ranking plain
BM25 over any word), filters, disjunctive facets, and reading hits back with our own
snippets. Never passes user text to Tantivy's query parser.
"""

from __future__ import annotations

from typing import Any

import orjson
import tantivy
from tantivy import Occur, Query

from search_svc.engines.base import FACET_FIELDS, Hit, SearchQuery, SearchResult
from search_svc.matching import TermMatcher, term_matcher
from search_svc.query import (
    RANKING_MAX_TERMS,
    TYPO_INITIALS,
    ParsedQuery,
    parse_query,
    typo_budget,
)
from search_svc.snippets import best_snippet, holds_every_term
from search_svc.stemming import LANGUAGES, query_stems

__all__ = ["FIELD_BOOSTS", "FUZZY_FIELDS", "INITIALS", "MAX_RESULT_WINDOW", "SCHEMA_VERSION",
           "STEM_FIELDS", "QueryBuilder", "build_schema", "fuzzy_lookups", "initial_field"]

SCHEMA_VERSION = 6  # 3: stemmed fields; 4: first-letter typo fields; 5: canonical locales;
# 6: combining marks and invisible joiners stay in their word (harakat, &shy; split words)
# Title above summary above body, the order of Meilisearch's searchableAttributes.
FIELD_BOOSTS = (("title", 3.0), ("summary", 1.5), ("body", 1.0))
# Ranking (hybrid's keyword side) weighs the fields alike: BM25's length normalisation
# already favours a short title, and the title boost cost 2.2 points of nDCG@10 on
# Cranfield (none on the Indonesian set) in bench/relevance.py.
RANKING_BOOSTS = (("title", 1.0), ("summary", 1.0), ("body", 1.0))
# Typo and prefix matches score a constant (Tantivy's automaton queries are not BM25):
# this share of the field's weight, so an exact word still outranks a near miss.
FUZZY_WEIGHT = 0.5
# Walking a term dictionary with a Levenshtein automaton is the cost of a typo query,
# so typos and prefixes are looked up in the title (small dictionary, keeps its boost)
# and once in "content" (title + summary + body, doc ids only) instead of per field.
FUZZY_FIELDS = (("title", 3.0), ("content", 1.0))
# Meilisearch counts a typo on a word's first letter as two typos. So a word's typo and
# prefix variants are walked for in a dictionary of the words sharing its first letter
# (one field per letter and per FUZZY_FIELDS field, doc ids only), which spares the
# automaton every other first letter: a two-typo walk over "content" of a 100k-document
# index went from ~2.8 to ~0.3 ms. A first-letter typo (allowed only as the one typo
# of a word of nine letters or more) is looked for with a one-typo walk of the field.
INITIALS = TYPO_INITIALS
# Title + summary + body stemmed with the document's locale's Snowball stemmer, one
# field per language so a query term's Indonesian stem never meets English stems.
STEM_FIELDS = {"indonesian": "stem_id", "english": "stem_en"}
# A stemmed match counts this much (BM25 over the whole text, like body's weight 1):
# below the exact word in the title, so the exact word still wins.
STEM_WEIGHT = 1.0
MAX_RESULT_WINDOW = 10_000  # hits past this are not returned (a page is cut there)


def build_schema(tokenizer: str) -> tuple[Any, tuple[str, ...]]:
    """The index schema; text fields use ``tokenizer`` (text is folded beforehand)."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("key", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("tenant", "type", "category", "tags", "locale"):
        sb.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    for name, _ in FIELD_BOOSTS:
        sb.add_text_field(name, tokenizer_name=tokenizer, index_option="position")
    sb.add_text_field("content", tokenizer_name=tokenizer, index_option="basic")
    for field, _ in FUZZY_FIELDS:
        for letter in sorted(INITIALS):
            sb.add_text_field(f"{field}_{letter}", tokenizer_name=tokenizer,
                              index_option="basic")
    for name in STEM_FIELDS.values():
        sb.add_text_field(name, tokenizer_name=tokenizer, index_option="freq")
    sb.add_integer_field("published_at", indexed=True, fast=True)
    sb.add_bytes_field("src", stored=True)
    return sb.build(), tuple(name for name, _ in FIELD_BOOSTS)


def initial_field(field: str, word: str) -> str | None:
    """The field holding ``field``'s words that start like ``word``, if there is one."""
    return f"{field}_{word[0]}" if word and word[0] in INITIALS else None


def fuzzy_lookups(field: str, term: str, budget: int) -> list[tuple[str, int]]:
    """``(field, distance)`` automaton walks that find ``term``'s variants within
    ``budget`` typos, a first-letter typo counting two (Meilisearch's rule)."""
    part = initial_field(field, term)
    if part is None:  # a word not starting with a-z: the whole dictionary
        return [(field, budget)]
    return [(part, budget), (field, 1)] if budget == 2 else [(part, budget)]


def _texts(src: dict[str, Any]) -> list[str]:
    """A stored document's texts in snippet order: body, then summary, then title."""
    return [src["body"], src["summary"], src["title"]]


_EXACT_SEGMENT_SIZE = 1 << 30  # every value a segment holds


def _terms(facets: list[str], size: int, segment_size: int) -> dict[str, Any]:
    """A terms aggregation per facet: the ``size`` most frequent values."""
    return {f: {"terms": {"field": f, "size": size, "segment_size": segment_size}}
            for f in facets}


class QueryBuilder:
    """Queries for ``schema``; ``fields`` (when not None) is what an index written with an
    older schema holds: stemmed and per-letter typo fields it lacks are left out."""

    def __init__(self, schema: Any, *, fields: frozenset[str] | None = None) -> None:
        self.schema = schema
        self.fields = fields

    def _has(self, field: str) -> bool:
        return self.fields is None or field in self.fields

    # text ------------------------------------------------------------------
    def _term_group(self, term: str, *, prefix: bool, expand: bool = True,
                    boosts: tuple[tuple[str, float], ...] = FIELD_BOOSTS) -> Any:
        budget = typo_budget(term)
        clauses = []
        for field, weight in boosts:
            clauses.append((Occur.Should, Query.boost_query(
                Query.term_query(self.schema, field, term), weight)))
        for language in LANGUAGES:
            if not self._has(STEM_FIELDS[language]):
                continue
            stems = [Query.term_query(self.schema, STEM_FIELDS[language], stem)
                     for stem in query_stems(term, language)]
            # one word's alternative stems count once (the best), never summed
            inner = stems[0] if len(stems) == 1 else Query.disjunction_max_query(stems)
            clauses.append((Occur.Should, Query.boost_query(inner, STEM_WEIGHT)))
        if expand and (budget or prefix):
            for field, weight in FUZZY_FIELDS:
                lookups = fuzzy_lookups(field, term, budget)
                if not all(self._has(name) for name, _ in lookups):
                    lookups = [(field, budget)]
                for name, distance in lookups:
                    clauses.append((Occur.Should, Query.boost_query(
                        Query.fuzzy_term_query(self.schema, name, term, distance, True, prefix),
                        weight * FUZZY_WEIGHT)))
        return Query.boolean_query(clauses)

    def _phrase(self, terms: tuple[str, ...]) -> Any:
        clauses = []
        for field, weight in FIELD_BOOSTS:
            inner = (Query.phrase_query(self.schema, field, list(terms)) if len(terms) > 1
                     else Query.term_query(self.schema, field, terms[0]))
            clauses.append((Occur.Should, Query.boost_query(inner, weight)))
        return Query.boolean_query(clauses)

    def text_query(self, parsed: ParsedQuery, *, all_terms: bool) -> Any:
        """Every term must match (AND) or, with ``all_terms=False``, at least one (OR)."""
        if parsed.phrase:
            return self._phrase(parsed.terms)
        last = len(parsed.terms) - 1
        groups = [self._term_group(t, prefix=parsed.prefix_last and i == last)
                  for i, t in enumerate(parsed.terms)]
        occur = Occur.Must if all_terms else Occur.Should
        return Query.boolean_query([(occur, g) for g in groups])

    def ranking_query(self, parsed: ParsedQuery) -> Any:
        """BM25 over any word, exact and stemmed, no typo or prefix expansion: the order
        follows the words' weight in each document, as hybrid fusion needs."""
        if parsed.phrase:
            return self._phrase(parsed.terms)
        return Query.boolean_query(
            [(Occur.Should, self._term_group(t, prefix=False, expand=False,
                                               boosts=RANKING_BOOSTS))
             for t in dict.fromkeys(parsed.terms)])

    # filters ---------------------------------------------------------------
    def filters(self, q: SearchQuery, *, without: str | None = None) -> list[Any]:
        out = [Query.term_query(self.schema, "tenant", q.tenant_id)]
        if q.scope_types is not None:
            out.append(Query.term_set_query(self.schema, "type", list(q.scope_types)))
        for facet in FACET_FIELDS:
            values = q.facet_filter(facet)
            if values and facet != without:
                out.append(Query.term_set_query(self.schema, facet, list(values)))
        if q.published_before is not None:
            out.append(Query.range_query(self.schema, "published_at", tantivy.FieldType.Integer,
                                         None, int(q.published_before), True, True))
        return out

    @staticmethod
    def combine(text: Any | None, filters: list[Any]) -> Any:
        clauses = [(Occur.Must, Query.const_score_query(f, 0.0)) for f in filters]
        if text is not None:
            clauses.insert(0, (Occur.Must, text))
        return Query.boolean_query(clauses)

    # running ---------------------------------------------------------------
    def run(self, searcher: Any, q: SearchQuery) -> SearchResult:
        ranking = q.match == "ranking"
        parsed = parse_query(q.text, max_terms=RANKING_MAX_TERMS) if ranking else parse_query(q.text)
        if parsed.reason == "too_short":
            return SearchResult(hits=[], total=0, facets={f: {} for f in q.facets})
        text = (None if not parsed.terms else self.ranking_query(parsed) if ranking
                else self.text_query(parsed, all_terms=True))
        total, hits = self._top(searcher, self.combine(text, self.filters(q)), q)
        if total == 0 and ranking and parsed.terms and not parsed.phrase:
            # Nothing has any word as typed: a typo or a word still being typed.
            text = self.text_query(parsed, all_terms=False)
            total, hits = self._top(searcher, self.combine(text, self.filters(q)), q)
        elif total == 0 and len(parsed.terms) > 1 and not parsed.phrase:
            # No document has every word: degrade to any word, ranked by how many match.
            text = self.text_query(parsed, all_terms=False)
            total, hits = self._top(searcher, self.combine(text, self.filters(q)), q)
        stored = [(score, searcher.doc(addr)) for score, addr in hits]
        keys = [doc.get_first("key") for _, doc in stored]
        matcher = term_matcher(parsed.terms, prefix_last=parsed.prefix_last,
                               exact=parsed.phrase,  # one memo for all hits
                               stemmed=lambda: self._stemmed(searcher, parsed, keys))
        # ~4x json.loads: 1.2 us a 1.3 kB document
        srcs = [orjson.loads(doc.get_first("src")) for _, doc in stored]
        return SearchResult(
            hits=[self._hit(score, key, src, parsed, matcher)
                  for (score, _), key, src in zip(stored, keys, srcs, strict=True)],
            total=total,
            facets=self._facets(searcher, text, q),
            first_hit_complete=ranking and bool(srcs) and holds_every_term(
                _texts(srcs[0]), parsed.terms, prefix_last=parsed.prefix_last,
                exact=parsed.phrase, matcher=matcher),
        )

    def _stemmed(self, searcher: Any, parsed: ParsedQuery, keys: list[str]) -> frozenset[str]:
        """The terms whose stems the hits (``keys``) hold: only they can have matched by
        stem, so snippets look for stem variants of these alone (not of a misspelling).
        Asked of the hits alone (one small count a term), never of the index's term
        statistics, which every tenant and not yet merged deletions share: whether a
        variant got a <mark> would otherwise tell a visitor whether another tenant's
        content holds a word."""
        if parsed.phrase or not keys:
            return frozenset()
        # one term query a key: a term-set query walks the whole key dictionary
        hits = Query.boolean_query([(Occur.Should, Query.term_query(self.schema, "key", key))
                                    for key in keys])
        out = set()
        for term in parsed.terms:
            stems = [(Occur.Should, Query.term_query(self.schema, STEM_FIELDS[lang], stem))
                     for lang in LANGUAGES if self._has(STEM_FIELDS[lang])
                     for stem in query_stems(term, lang)]
            if stems and searcher.search(Query.boolean_query(
                    [(Occur.Must, hits), (Occur.Must, Query.boolean_query(stems))]),
                    1, count=True).count:
                out.add(term)
        return frozenset(out)

    def _top(self, searcher: Any, query: Any, q: SearchQuery) -> tuple[int, list[Any]]:
        limit = min(q.limit, MAX_RESULT_WINDOW - q.offset)  # a page across it is cut there
        if limit <= 0:
            return searcher.search(query, 1, count=True).count, []
        if q.sort == "published_at":
            res = searcher.search(query, limit, count=True, order_by_field="published_at",
                                  offset=q.offset, order=tantivy.Order.Desc)
            return res.count, [(0.0, addr) for _, addr in res.hits]
        res = searcher.search(query, limit, count=True, offset=q.offset)
        return res.count, list(res.hits)

    @staticmethod
    def _hit(score: float, key: str, src: dict[str, Any], parsed: ParsedQuery,
             matcher: TermMatcher) -> Hit:
        snippet = best_snippet(_texts(src), parsed.terms,
                               prefix_last=parsed.prefix_last, exact=parsed.phrase,
                               matcher=matcher)
        return Hit(
            key=key, id=src["id"], type=src["type"], title=src["title"],
            url=src["url"], snippet=snippet, image=src["image"],
            published_at=src["published_at"], score=float(score), category=src["category"],
            tags=tuple(src["tags"]), locale=src["locale"],
        )

    def _facets(self, searcher: Any, text: Any | None,
                q: SearchQuery) -> dict[str, dict[str, int]]:
        """Counts over the whole result set; a facet with a filter of its own is counted
        without that filter (disjunctive), so other values stay selectable."""
        if not q.facets:
            return {}
        groups: dict[str | None, list[str]] = {}
        for facet in dict.fromkeys(q.facets):
            groups.setdefault(facet if q.filters(facet) else None, []).append(facet)
        out: dict[str, dict[str, int]] = {}
        for without, facets in groups.items():
            if q.facet_size == 0:
                out.update({f: {} for f in facets})
                continue
            query = self.combine(text, self.filters(q, without=without))
            result = searcher.aggregate(query, _terms(facets, q.facet_size,
                                                      max(1000, 10 * q.facet_size)))
            # Each segment reports only its top values: one short of a segment's top
            # 1,000 is under-counted there (Tantivy bounds the error). Those facets are
            # counted again over every value, which only many distinct values make slow.
            inexact = [f for f in facets
                       if result.get(f, {}).get("doc_count_error_upper_bound", 0)]
            if inexact:
                result.update(searcher.aggregate(query, _terms(inexact, q.facet_size,
                                                               _EXACT_SEGMENT_SIZE)))
            for f in facets:
                buckets = result.get(f, {}).get("buckets", [])
                pairs = sorted(((str(b["key"]), int(b["doc_count"])) for b in buckets),
                               key=lambda kv: (-kv[1], kv[0]))
                out[f] = dict(pairs)
        return {f: out[f] for f in q.facets}

    def keys(self, searcher: Any, tenant_id: str | None) -> set[str]:
        n = searcher.num_docs
        if n == 0:
            return set()
        query = (Query.term_query(self.schema, "tenant", tenant_id) if tenant_id is not None
                 else Query.all_query())
        res = searcher.search(query, n, count=False)
        return {searcher.doc(addr).get_first("key") for _, addr in res.hits}
