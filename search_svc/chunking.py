"""Pure: a document → the texts its embeddings are made of, each with a content hash.

Title and summary lead every chunk (they weigh in every vector, and a chunk alone must
still say what it belongs to); the body is cut into overlapping word windows sized to
the model's token budget. A chunk's text is that head on one line, a line break, then
the window (its words one space apart), so a snippet finds the window (``chunk_window``).
A chunk holds no more than the model reads of it (``precut``): whitespace alone does not
bound a window (Thai, Chinese, a pasted data string), and a huge summary would be
repeated whole in every chunk. The hash covers the model id and the exact text, so a
replayed change or an update that leaves the text alone costs no model call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from search_svc.embedding import precut
from search_svc.engines.base import Document

__all__ = ["Chunk", "chunk_document", "chunk_head", "chunk_window", "content_hash"]

TOKENS_PER_WORD = 1.6  # multilingual tokenizers: Indonesian words split into ~1.3–2 pieces
MAX_CHUNKS = 16  # a 1 MB body embeds its first 16 windows, not thousands


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    hash: str


def content_hash(model_id: str, text: str) -> str:
    return hashlib.blake2b(f"{model_id}\0{text}".encode("utf-8", "replace"),
                           digest_size=16).hexdigest()


def chunk_head(doc: Document) -> str:
    """What leads every chunk of ``doc``: its title and summary, on one line (a summary
    read from HTML keeps its paragraphs' line breaks)."""
    return " — ".join(" ".join(p.split()) for p in (doc.title, doc.summary) if p and p.strip())


def chunk_window(text: str) -> str:
    """What a snippet is cut from in a stored chunk's text: its body window, or its
    head when the document has no body. The last line, not all but the first: chunks
    stored before heads were one line may hold a summary of several."""
    return text.rpartition("\n")[2]


def chunk_document(doc: Document, *, model_id: str, max_tokens: int,
                   overlap: float = 0.15, max_chunks: int = MAX_CHUNKS) -> list[Chunk]:
    head = chunk_head(doc)
    head_words = len(head.split())
    budget_words = max(16, int(max_tokens / TOKENS_PER_WORD) - head_words)
    words = doc.body.split()
    if not words:
        texts = [head]
    else:
        step = max(1, int(budget_words * (1 - overlap)))
        texts = []
        for start in range(0, len(words), step):
            window = " ".join(words[start:start + budget_words])
            texts.append(f"{head}\n{window}" if head else window)
            if start + budget_words >= len(words) or len(texts) >= max_chunks:
                break
    # stored beside each vector and read back with every hit: what the model never
    # reads would cost megabytes a document and a query; a cut head may leave chunks
    # that are one text
    texts = list(dict.fromkeys(precut(t, max_tokens) for t in texts))
    return [Chunk(i, t, content_hash(model_id, t)) for i, t in enumerate(texts)]
