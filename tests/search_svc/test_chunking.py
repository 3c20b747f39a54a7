"""A document's chunks hold no more text than the model reads of them: stored beside
each vector and read back with every semantic hit, a chunk cut only by whitespace made
a 1 MB body without spaces (Thai, Chinese, a pasted data string) or a 1 MB summary,
repeated at the head of every chunk, cost megabytes a document and a query."""

from __future__ import annotations

import numpy as np
import pytest

from awsm.settings import load_settings
from search_svc.chunking import MAX_CHUNKS, chunk_document, chunk_window
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


def test_a_summary_of_several_paragraphs_leads_each_chunk_on_one_line() -> None:
    # a summary read from HTML keeps its paragraph breaks: the break after a chunk's
    # head, where a snippet finds the body window, was then not the first in its text
    from indexer.text import html_to_text

    summary = html_to_text("<p>Baris pertama ringkasan.</p><p>Baris kedua ringkasan.</p>")
    body = " ".join(f"isi{i}" for i in range(400))
    head = "Judul — Baris pertama ringkasan. Baris kedua ringkasan."
    chunks = chunk_document(_doc(title="Judul", summary=summary, body=body), model_id="m",
                            max_tokens=MAX_TOKENS)
    assert len(chunks) > 1
    for chunk in chunks:
        first, window = chunk.text.split("\n")
        assert first == head and window in body and chunk_window(chunk.text) == window
    [headless] = chunk_document(_doc(title="Judul", summary=summary), model_id="m",
                                max_tokens=MAX_TOKENS)
    assert headless.text == chunk_window(headless.text) == head


def test_a_chunk_stored_with_a_head_of_several_lines_still_shows_its_window() -> None:
    # chunks written before heads were one line keep their vectors until the row's
    # text changes: their window is read all the same
    assert chunk_window("Judul — Baris satu.\nBaris dua.\nisi tulisan") == "isi tulisan"


@pytest.mark.parametrize(("max_tokens", "words"), [(512, 4_400), (256, 2_200)])
def test_the_body_embedded_is_its_first_words_as_documented(max_tokens: int,
                                                            words: int) -> None:
    # docs/embeddings.md: at most MAX_CHUNKS windows; the rest of the body is not embedded
    body = " ".join(f"w{i}" for i in range(100_000))
    chunks = chunk_document(_doc(body=body), model_id="m", max_tokens=max_tokens)
    embedded = {w for c in chunks for w in chunk_window(c.text).split()}
    assert len(chunks) == MAX_CHUNKS
    assert f"w{words - 1}" in embedded and f"w{words}" not in embedded
