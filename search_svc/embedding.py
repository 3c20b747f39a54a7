"""The embedder port: turn document and query text into L2-normalised float32 vectors.

``Embedder`` is the small interface the indexer (documents) and the search API
(queries) share; ``open_embedder(settings)`` picks the backend named by
``AWSM_EMBEDDER``. Backends live in ``search_svc/embedders/``, one module per library,
imported lazily (``sentence_transformers`` alone costs seconds to import) and they are
the only modules that import a model library. Each backend applies its model's own
query/passage prefixes, pooling and token limit; callers never check which backend
they hold. Nothing here reads the environment, touches the network or the database.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from awsm.errors import ServiceUnavailable

if TYPE_CHECKING:
    from awsm.settings import Settings

__all__ = [
    "BACKENDS",
    "Embedder",
    "EmbedderUnavailable",
    "clean_text",
    "normalise_rows",
    "open_embedder",
]

# A token covers at least one character in every tokenizer we ship, so cutting the
# text to this many characters per allowed token before tokenizing changes nothing
# for real prose and makes a 1 MB body cost what an 8 KB one does.
CHARS_PER_TOKEN_BUDGET = 16


class EmbedderUnavailable(ServiceUnavailable):
    """The configured embedding model cannot be loaded (missing package or weights)."""

    code, message = "embedder_unavailable", "Semantic search is temporarily unavailable."


@runtime_checkable
class Embedder(Protocol):
    """What the indexer and the search API need from an embedding model.

    Vectors are float32 and L2-normalised, so cosine similarity is a dot product.
    Texts longer than ``max_tokens`` are truncated (the indexer chunks long bodies
    before they get here); empty text is allowed.
    """

    model_id: str  # stable name stored beside every vector; two ids never mix
    dimensions: int
    max_tokens: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dimensions)`` vectors for documents or chunks (passage side)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimensions,)`` vector for one search query (query side)."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many model tokens ``text`` costs, special tokens and prefix included."""
        ...


# settings.embedder → (module under search_svc.embedders, factory function)
BACKENDS: dict[str, tuple[str, str]] = {
    "sentence-transformers": ("search_svc.embedders.sentence_transformers", "open_sentence_transformer"),
    "use-multilingual": ("search_svc.embedders.use_multilingual", "open_use_multilingual"),
    "e5-multilingual": ("search_svc.embedders.e5_multilingual", "open_e5_multilingual"),
}


def open_embedder(settings: Settings) -> Embedder:
    """Load the model named by ``settings.embedder`` once; the caller keeps it.

    Raises ``EmbedderUnavailable`` with the fix in its message when the backend's
    package or weights are missing (this service never downloads a model).
    """
    name = settings.embedder
    if name == "none":
        raise EmbedderUnavailable(
            detail="AWSM_EMBEDDER is 'none': set it to one of " + ", ".join(sorted(BACKENDS))
        )
    try:
        module_name, factory_name = BACKENDS[name]
    except KeyError:
        raise EmbedderUnavailable(
            detail=f"unknown AWSM_EMBEDDER {name!r}; expected one of {', '.join(sorted(BACKENDS))}"
        ) from None
    module = importlib.import_module(module_name)
    embedder: Embedder = getattr(module, factory_name)(settings)
    return embedder


def clean_text(text: str) -> str:
    """Text every model can take: no NUL (C engines stop there), no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def precut(text: str, max_tokens: int) -> str:
    """Drop characters that can never fall inside the first ``max_tokens`` tokens."""
    limit = max_tokens * CHARS_PER_TOKEN_BUDGET
    return text if len(text) <= limit else text[:limit]


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32, C-contiguous, each row of unit length (a zero row stays zero)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def batches(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    return [texts[i:i + size] for i in range(0, len(texts), max(1, size))]
