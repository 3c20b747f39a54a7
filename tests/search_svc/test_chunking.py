"""A document's chunks hold no more text than the model reads of them: stored beside
each vector and read back with every semantic hit, a chunk cut only by whitespace made
a 1 MB body without spaces (Thai, Chinese, a pasted data string) or a 1 MB summary,
repeated at the head of every chunk, cost megabytes a document and a query."""

from __future__ import annotations

import numpy as np

from awsm.settings import load_settings
from search_svc.chunking import MAX_CHUNKS, chunk_document
from search_svc.embedding import CHARS_PER_TOKEN_BUDGET, open_embedder
from search_svc.engines.base import Document

MAX_TOKENS = 256


def _doc(title: str = "", **fields: str) -> Document:
    return Document(key="blog:1", id="1", tenant_id="t", type="blog", title=title,
                    **fields)  # type: ignore[arg-type]


def test_a_body_without_spaces_is_stored_no_longer_than_the_model_reads() -> None:
    chunks = chunk_document(_doc(title="Resep", body="ก" * 1_000_000), model_id="m",
                            max_tokens=MAX_TOKENS)
    assert all(len(c.text) <= MAX_TOKENS * CHARS_PER_TOKEN_BUDGET for c in chunks)


def test_a_huge_summary_is_not_repeated_whole_in_every_chunk() -> None:
    body = " ".join(f"kata{i}" for i in range(20_000))
    chunks = chunk_document(_doc(title="Resep", summary="ringkas " * 150_000, body=body),
                            model_id="m", max_tokens=MAX_TOKENS)
    assert len(chunks) <= MAX_CHUNKS
    assert sum(len(c.text) for c in chunks) <= MAX_CHUNKS * MAX_TOKENS * CHARS_PER_TOKEN_BUDGET


def test_the_cut_changes_no_vector() -> None:
    # the model reads no further than the cut (``precut``): the vector of the stored
    # text is the vector of the whole text
    embedder = open_embedder(load_settings({}, embedder="use-multilingual"))
    text = "ก" * 100_000
    [chunk] = chunk_document(_doc(body=text), model_id=embedder.model_id,
                             max_tokens=embedder.max_tokens)
    whole, cut = embedder.embed_documents([text, chunk.text])
    assert np.allclose(whole, cut)
