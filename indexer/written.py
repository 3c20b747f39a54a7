"""What this indexer last wrote for each document key, as a digest: a row whose document
came out the same (a view counter, an edit of a column the mapping does not read, a
scheduled scan of a row already indexed) is not written again. Pure: no I/O."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from search_svc.engines.base import Document

__all__ = ["CAPACITY", "WrittenDigests", "digest"]

# Keys remembered at most (~200 bytes each), the least recently written forgotten first:
# the rows that change often, which are what this saves work on, stay.
CAPACITY = 100_000


def digest(doc: Document) -> bytes:
    """Every field of ``doc`` (its repr quotes each value unambiguously), hashed."""
    return hashlib.blake2b(repr(doc).encode("utf-8", "surrogatepass"), digest_size=16).digest()


class WrittenDigests:
    """A write's keys are forgotten before it (``forget``) and noted only once the engine
    has accepted it (``note``), and only this process writes the index (the engine's
    writer lock), so a document found unchanged here is in the index as it is; a rebuild
    swaps in a whole new index, so ``clear`` then."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._digests: OrderedDict[str, bytes] = OrderedDict()

    def changed(self, docs: Iterable[Document]) -> tuple[list[Document], list[bytes]]:
        """The documents that differ from what was last written for their key (or were
        never noted), with their digests for ``note``."""
        out: list[Document] = []
        digests: list[bytes] = []
        for doc in docs:
            d = digest(doc)
            if self._digests.get(doc.key) == d:
                self._digests.move_to_end(doc.key)
                continue
            out.append(doc)
            digests.append(d)
        return out, digests

    def note(self, docs: Sequence[Document], digests: Sequence[bytes],
             deletes: Iterable[str]) -> None:
        """``docs`` (with their ``changed`` digests) and ``deletes`` are in the index now."""
        for key in deletes:
            self._digests.pop(key, None)
        for doc, d in zip(docs, digests, strict=True):
            self._digests[doc.key] = d
            self._digests.move_to_end(doc.key)
        while len(self._digests) > self.capacity:
            self._digests.popitem(last=False)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._digests.pop(key, None)

    def clear(self) -> None:
        self._digests.clear()

    def __len__(self) -> int:
        return len(self._digests)
