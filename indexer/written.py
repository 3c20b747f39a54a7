"""What this indexer last wrote for each document key, as a digest: a row whose document
came out the same (a view counter, an edit of a column the mapping does not read, a
scheduled scan of a row already indexed) is not written again. Pure: no I/O."""

from __future__ import annotations

import hashlib
import threading
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
    swaps in a whole new index, so ``clear`` then.

    The embedding worker (another thread) writes vectors from its own, possibly newer,
    read of a row: the keys it wrote otherwise than noted here are ``invalidate``-d, and
    a write whose reads began before that (its ``mark``) notes none of them, so the
    indexer's next read of such a row is written and queued again, and brings the
    vectors back in step with it."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._digests: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0
        self._invalidated: dict[str, int] = {}  # key → ``_seq`` when last invalidated
        self._floor = 0  # ... and every key, when ``_invalidated`` grew past capacity

    def changed(self, docs: Iterable[Document]) -> tuple[list[Document], list[bytes]]:
        """The documents that differ from what was last written for their key (or were
        never noted), with their digests for ``note``."""
        out: list[Document] = []
        digests: list[bytes] = []
        with self._lock:
            for doc in docs:
                d = digest(doc)
                if self._digests.get(doc.key) == d:
                    self._digests.move_to_end(doc.key)
                    continue
                out.append(doc)
                digests.append(d)
        return out, digests

    def mark(self) -> int:
        """Taken before a write's reads, and given to its ``note``."""
        with self._lock:
            return self._seq

    def note(self, docs: Sequence[Document], digests: Sequence[bytes],
             deletes: Iterable[str], mark: int | None = None) -> None:
        """``docs`` (with their ``changed`` digests) and ``deletes`` are in the index now;
        those invalidated since ``mark`` are not noted."""
        with self._lock:
            for key in deletes:
                self._digests.pop(key, None)
            for doc, d in zip(docs, digests, strict=True):
                if mark is not None and max(self._floor,
                                            self._invalidated.get(doc.key, -1)) > mark:
                    continue
                self._digests[doc.key] = d
                self._digests.move_to_end(doc.key)
            while len(self._digests) > self.capacity:
                self._digests.popitem(last=False)
            if mark is not None:  # later writes' marks are no older: these never count again
                self._invalidated = {k: s for k, s in self._invalidated.items() if s > mark}

    def invalidate(self, docs: Iterable[Document], deletes: Iterable[str]) -> list[str]:
        """Another writer has written ``docs`` and removed ``deletes``, from a read of its
        own: the keys whose document differs from what was last written here (a document
        written as it is here changes nothing, so a view counter still costs nothing).
        Returns those noted here otherwise: this thread may have read them since, found
        them as noted, and will not read them again, so the writer must."""
        with self._lock:
            deletes = list(deletes)
            noted = {d.key: self._digests.get(d.key) for d in docs}
            differ = {d.key for d in docs if noted[d.key] != digest(d)}
            keys = [*deletes, *differ]
            if not keys:
                return []
            behind = [k for k in deletes if k in self._digests]
            behind += [k for k in differ if noted[k] is not None]
            self._seq += 1
            for key in keys:
                self._digests.pop(key, None)
                self._invalidated.pop(key, None)  # to the end: oldest first
                self._invalidated[key] = self._seq
            while len(self._invalidated) > self.capacity:  # no write noted in a while
                self._floor = self._invalidated.pop(next(iter(self._invalidated)))
            return behind

    def forget(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._digests.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._digests.clear()

    def __len__(self) -> int:
        return len(self._digests)
