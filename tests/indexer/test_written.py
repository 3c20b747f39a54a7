"""What the indexer remembers having written, so an unchanged document is not rewritten."""

from __future__ import annotations

from dataclasses import replace

from indexer.written import WrittenDigests
from search_svc.engines.base import Document

DOC = Document(key="blog:1", id="1", tenant_id="t1", type="blog", title="Kopi tubruk",
               body="Seduh kopi.", tags=("kopi",), category="Resep", locale="id",
               url="/blogs/kopi", published_at=1_700_000_000)


def test_a_document_noted_as_written_is_unchanged_until_any_field_differs() -> None:
    written = WrittenDigests()
    fresh, digests = written.changed([DOC])
    assert fresh == [DOC]  # never written: it must be
    written.note(fresh, digests, [])
    assert written.changed([DOC]) == ([], [])
    assert written.changed([replace(DOC)])[0] == []  # equal, not the same object
    for change in ({"tenant_id": "t2"}, {"title": "Kopi tubruk!"}, {"body": "Seduh kopi"},
                   {"tags": ("kopi", "resep")}, {"category": None}, {"locale": "en"},
                   {"url": "/blogs/kopi-2"}, {"published_at": 1_700_000_001},
                   {"image": "/img.jpg"}, {"summary": " "}):
        assert written.changed([replace(DOC, **change)])[0] == [replace(DOC, **change)], change


def test_fields_are_not_confused_by_their_boundaries() -> None:
    # the same characters split differently between two fields are another document
    written = WrittenDigests()
    a = replace(DOC, title="Kopi", body="tubruk")
    written.note(*written.changed([a]), [])
    assert written.changed([replace(DOC, title="Kopi tubruk", body="")])[0] != []
    assert written.changed([replace(DOC, title="Kopi', body='tubruk")])[0] != []


def test_deleted_and_forgotten_keys_must_be_written_again() -> None:
    written = WrittenDigests()
    other = replace(DOC, key="blog:2", id="2")
    written.note(*written.changed([DOC, other]), [])
    written.note([], [], ["blog:1"])  # a delete
    assert written.changed([DOC, other])[0] == [DOC]
    written.forget(["blog:2"])  # a write that may have failed part way
    assert written.changed([other])[0] == [other]
    written.note(*written.changed([DOC, other]), [])
    written.clear()  # a rebuild swapped in another index
    assert written.changed([DOC, other])[0] == [DOC, other]
    assert len(written) == 0


def test_the_least_recently_written_or_seen_key_is_forgotten_first() -> None:
    written = WrittenDigests(capacity=2)
    docs = [replace(DOC, key=f"blog:{i}", id=str(i)) for i in range(3)]
    written.note(*written.changed(docs[:2]), [])
    assert written.changed([docs[0]])[0] == []  # seen unchanged: now the most recent
    written.note(*written.changed([docs[2]]), [])  # one over: blog:1 goes
    assert len(written) == 2
    assert written.changed(docs)[0] == [docs[1]]


def test_a_key_the_embedding_worker_wrote_is_read_as_changed_next_time() -> None:
    # the worker's vectors come from its own read, maybe newer than the indexer's: a row
    # that then went back to what the indexer last wrote must still be written and queued
    written = WrittenDigests()
    fresh, digests = written.changed([DOC])
    written.note(fresh, digests, [], written.mark())
    assert written.invalidate([DOC], []) == []  # written as it was here: nothing to do
    assert written.changed([DOC]) == ([], [])
    moved = replace(DOC, tenant_id="t2")
    # from a read of the row moved, for a moment: noted otherwise here, so the writer
    # reads it again (this thread may have read it back and will not again)
    assert written.invalidate([moved], []) == [DOC.key]
    assert written.changed([DOC])[0] == [DOC]
    assert written.invalidate([moved], []) == []  # not noted here: read as changed
    mark = written.mark()  # a write begins, reads the row ...
    fresh, digests = written.changed([DOC])
    written.invalidate([], [DOC.key])  # ... the worker deletes it meanwhile ...
    written.note(fresh, digests, [], mark)  # ... and the write ends
    assert written.changed([DOC])[0] == [DOC]  # not taken as written
    mark = written.mark()
    fresh, digests = written.changed([DOC])
    written.note(fresh, digests, [], mark)  # a write begun after the worker's notes it
    assert written.changed([DOC]) == ([], [])


def test_invalidations_past_capacity_count_for_every_key() -> None:
    written = WrittenDigests(capacity=2)
    mark = written.mark()
    fresh, digests = written.changed([DOC])
    written.invalidate([], ["blog:2", "blog:3", "blog:4"])  # blog:2 forgotten, not lost
    written.note(fresh, digests, [], mark)
    assert written.changed([DOC])[0] == [DOC]
