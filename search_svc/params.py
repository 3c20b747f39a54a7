"""Pure: the query string of ``GET /v1/search`` → a validated ``SearchParams``.

Every limit lives here (q length, limit, offset, filter counts) so the API handler stays
thin and hostile input is rejected in one tested place. Unknown parameters are an error
rather than silently ignored: a typo'd filter must not look like "no results".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from awsm.text import CONTROL_CHARS
from search_svc.engines.base import FACET_FIELDS
from search_svc.errors import InvalidQuery
from search_svc.fusion import CONFIDENT_SEMANTIC_RATIO, DEFAULT_SEMANTIC_RATIO
from search_svc.locales import canonical_locale

__all__ = ["ALLOWED_PARAMS", "MAX_LIMIT", "MAX_OFFSET", "OPENAPI_PARAMETERS", "SearchParams",
           "parse_search_params", "split_values"]

MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_FILTER_VALUES = 20
MAX_VALUE_CHARS = 512  # as long as a facet value the engine stores: every facet can be selected
MAX_RAW_Q_CHARS = 2048
# C0, DEL and C1 (Unicode category Cc): refused in filter values and the tenant key
ALLOWED_PARAMS = frozenset({
    "tenant", "q", "type", "category", "tags", "tag", "locale", "sort", "limit", "offset",
    "facets", "mode", "semantic_ratio",
})


def _param(name: str, description: str, schema: dict[str, object] | None = None, *,
           required: bool = False) -> dict[str, object]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


_LIST: dict[str, object] = {"type": "array", "items": {"type": "string"}}
# What /docs shows for GET /v1/search: the handler reads the raw query string itself (to
# refuse unknown and repeated parameters), so FastAPI cannot derive these from a signature.
OPENAPI_PARAMETERS = [
    _param("tenant", "the site's slug or domain", required=True),
    _param("q", "the words typed (at most 128 characters used)"),
    _param("type", "document types: blog, page, product", _LIST),
    _param("category", "category names", _LIST),
    _param("tags", "tags; several match any of them", _LIST),
    _param("tag", "the same as tags", _LIST),
    _param("locale", "a language tag such as id or en-US, in any case, or a locale "
           "as the locale facet shows it"),
    _param("sort", "relevance or newest first",
           {"type": "string", "enum": ["relevance", "published_at"], "default": "relevance"}),
    _param("limit", "hits per page",
           {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}),
    _param("offset", "hits to skip",
           {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
    _param("facets", "counts to return: type, category, tags, locale",
           {"type": "array", "items": {"type": "string", "enum": list(FACET_FIELDS)}}),
    _param("mode", "hybrid by default when an embedding model is live, else keyword",
           {"type": "string", "enum": ["keyword", "semantic", "hybrid"]}),
    _param("semantic_ratio", "hybrid's weight of the semantic list (0 = keyword, 1 = semantic); "
           f"by default {DEFAULT_SEMANTIC_RATIO}, or {CONFIDENT_SEMANTIC_RATIO} on a scale that "
           "keeps the best keyword hit first when it holds every word typed",
           {"type": "number", "minimum": 0, "maximum": 1}),
]


@dataclass(frozen=True, slots=True)
class SearchParams:
    tenant: str | None
    q: str
    types: tuple[str, ...]
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    locale: str | None
    sort: Literal["relevance", "published_at"]
    limit: int
    offset: int
    facets: tuple[str, ...]
    mode: Literal["keyword", "semantic", "hybrid"] | None
    semantic_ratio: float | None  # None: the adaptive default


# semantic_ratio: a plain ASCII decimal (see parse_search_params)
_RATIO = re.compile(r"\d+(?:\.\d*)?|\.\d+", re.ASCII)

# one comma-separated item: a double-quoted value (a '"' inside doubled) or a bare one
# (its trailing spaces stripped after the match). Possessive: a lazy bare value before
# " *" was tried at every length, each try rescanning the spaces after it, so 60 kB of
# spaces (a URL within the header limit) held the event loop for ~40 s. Spaces are
# U+0020 only: "\s" also took U+001C-U+001F and U+0085, which a filter must refuse as
# control characters, and U+00A0 or U+2003, which a facet value can end in.
_ITEM = re.compile(r' *+(?:"((?:[^"]|"")*+)"|([^,"]*+)) *(?:,|$)')


def split_values(text: str) -> list[str] | None:
    """The values of a list parameter, CSV style: separated by commas, each stripped of
    surrounding spaces, a value holding a comma or surrounding spaces written in double
    quotes (``"Kopi, Teh & Susu",kopi``); empty values dropped. None: unbalanced quotes."""
    values: list[str] = []
    pos = 0
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            return None
        quoted, bare = m.groups()
        value = quoted.replace('""', '"') if quoted is not None else bare.rstrip(" ")
        if value:
            values.append(value)
        pos = m.end()
    return values


def _storable(value: str) -> bool:
    """Whether ``value`` is a filter value a facet can hold: no control characters, at
    most ``MAX_VALUE_CHARS`` (what the indexer keeps of a tag, category or locale)."""
    return len(value) <= MAX_VALUE_CHARS and not CONTROL_CHARS.search(value)


def _values(raw: Mapping[str, Sequence[str]], *names: str) -> list[str]:
    """The values of ``names`` together (``tags`` and its alias ``tag`` count as one)."""
    out: list[str] = []
    for name in names:
        for value in raw.get(name, ()):
            values = split_values(value)
            if values is None:
                raise InvalidQuery(f"'{name}' has a quote that is not closed; write a value "
                                   'that holds a comma as "a, b" and a quote inside one as "".')
            out += values
    if len(out) > MAX_FILTER_VALUES:
        raise InvalidQuery(f"'{names[0]}' accepts at most {MAX_FILTER_VALUES} values.")
    for v in out:
        if not _storable(v):
            raise InvalidQuery(f"'{names[0]}' has a value that is too long or has control "
                               "characters.")
    return out


def _single(raw: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = raw.get(name, ())
    if len(values) > 1:
        raise InvalidQuery(f"'{name}' may be given once.")
    return values[0] if values else None


def _int(raw: Mapping[str, Sequence[str]], name: str, default: int, lo: int, hi: int) -> int:
    text = _single(raw, name)
    if text is None or text == "":
        return default
    # ASCII digits only (int() also takes '1_0', ' 10', '+10' and other scripts' digits),
    # written as str() writes the value ('020', '-0' are not): one spelling per value, so
    # one CDN entry per page
    digits = text.removeprefix("-")
    try:
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(text)
        value = int(text)
    except ValueError:  # also past Python's 4300-digit conversion limit
        raise InvalidQuery(f"'{name}' must be an integer.") from None
    if str(value) != text:
        raise InvalidQuery(f"'{name}' must be written without leading zeros.")
    if not lo <= value <= hi:
        raise InvalidQuery(f"'{name}' must be between {lo} and {hi}.")
    return value


def parse_search_params(raw: Mapping[str, Sequence[str]]) -> SearchParams:
    unknown = sorted(k for k in raw if k not in ALLOWED_PARAMS)
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5])
        raise InvalidQuery(
            f"Unknown parameter(s) {shown}; allowed: {', '.join(sorted(ALLOWED_PARAMS))}.")
    q = _single(raw, "q") or ""
    if len(q) > MAX_RAW_Q_CHARS:
        raise InvalidQuery(f"'q' is longer than {MAX_RAW_Q_CHARS} characters.")
    sort = _single(raw, "sort") or "relevance"
    if sort not in ("relevance", "published_at"):
        raise InvalidQuery("'sort' must be 'relevance' or 'published_at'.")
    mode = _single(raw, "mode") or None
    if mode not in (None, "keyword", "semantic", "hybrid"):
        raise InvalidQuery("'mode' must be 'keyword', 'semantic' or 'hybrid'.")
    ratio_text = _single(raw, "semantic_ratio")
    # None: the default, which adapts to the query (search_svc.semantic). A plain ASCII
    # decimal, as 'limit' takes ASCII digits only: float() also takes ' 0.5', '0.5\n',
    # '０.５', '0_5', '5e-1' and '-0', each a second URL (a second CDN entry) for one answer
    if ratio_text in (None, ""):
        ratio = None
    elif _RATIO.fullmatch(ratio_text):  # type: ignore[arg-type]
        ratio = float(ratio_text)  # type: ignore[arg-type]
    else:
        raise InvalidQuery("'semantic_ratio' must be a number between 0 and 1.")
    if ratio is not None and not 0.0 <= ratio <= 1.0:
        raise InvalidQuery("'semantic_ratio' must be a number between 0 and 1.")
    facets = _values(raw, "facets")
    bad = [f for f in facets if f not in FACET_FIELDS]
    if bad:
        raise InvalidQuery(f"'facets' may name {', '.join(FACET_FIELDS)}; got {bad[0][:40]!r}.")
    locale = _single(raw, "locale")
    if locale is not None and not locale.strip():
        locale = None  # blank: no filter; anything else is checked as given (" en" is a 400)
    # a language tag ("id", "en-US", "zh_Hant_TW"), or any locale a row holds as facets
    # show it (data whose locales are no tags, "Bahasa Indonesia"): never with surrounding
    # spaces (a second URL for one answer), control characters or past a facet value's
    # length; stored locales are canonical, so the filter is made so too
    if locale is not None and (locale != locale.strip() or not _storable(locale)):
        raise InvalidQuery("'locale' must be a language tag such as 'id' or 'en-US', or a "
                           "locale as the locale facet shows it.")
    tenant = _single(raw, "tenant")
    # no slug or domain holds a space of any kind: each would be one more URL (and CDN
    # entry) for one answer
    if tenant is not None and (len(tenant) > 253 or CONTROL_CHARS.search(tenant)
                               or any(c.isspace() for c in tenant)):
        raise InvalidQuery("'tenant' is not a valid slug or domain.")
    return SearchParams(
        tenant=tenant.lower() if tenant else None,
        q=q,
        types=tuple(dict.fromkeys(_values(raw, "type"))),
        categories=tuple(dict.fromkeys(_values(raw, "category"))),
        tags=tuple(dict.fromkeys(_values(raw, "tags", "tag"))),
        locale=canonical_locale(locale) if locale else None,
        sort=sort,  # type: ignore[arg-type]
        limit=_int(raw, "limit", 20, 1, MAX_LIMIT),
        offset=_int(raw, "offset", 0, 0, MAX_OFFSET),
        facets=tuple(dict.fromkeys(facets)),
        mode=mode,  # type: ignore[arg-type]
        semantic_ratio=ratio,
    )
