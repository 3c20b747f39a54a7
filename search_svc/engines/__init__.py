"""Keyword engines behind one port; ``open_engine`` picks the adapter from settings.

Callers hold a ``KeywordEngine`` and never check which concrete class it is; only the
adapter modules import an engine library (imported lazily here, so a deployment that
uses one engine never loads the other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from awsm.errors import ConfigError
from search_svc.engines.base import (
    FACET_FIELDS,
    Document,
    EngineStats,
    Hit,
    KeywordEngine,
    SearchQuery,
    SearchResult,
)

if TYPE_CHECKING:
    from awsm.settings import Settings

__all__ = [
    "FACET_FIELDS",
    "Document",
    "EngineStats",
    "Hit",
    "KeywordEngine",
    "SearchQuery",
    "SearchResult",
    "open_engine",
]


def open_engine(settings: Settings, *, writer: bool) -> KeywordEngine:
    """The configured engine: the indexer opens it with ``writer=True``, the API without."""
    kind = settings.engine_kind
    if kind == "tantivy":
        from search_svc.engines.tantivy import TantivyEngine

        return TantivyEngine(settings.tantivy_dir, writer=writer,
                             rebuild_heap_size=settings.tantivy_rebuild_memory_mb * 1_000_000)
    if kind == "meilisearch":
        from search_svc.engines.meili import MeiliEngine

        if not settings.meili_url:
            raise ConfigError(["AWSM_MEILI_URL is required when AWSM_ENGINE=meilisearch"])
        return MeiliEngine(settings.meili_url, settings.meili_key, settings.meili_index,
                           timeout_s=settings.meili_timeout_s, writer=writer)
    raise ConfigError([f"AWSM_ENGINE={kind!r} is unknown; use tantivy or meilisearch"])
