"""A reader (an API replica) never stays on an older commit than the one it has seen
the files of: a commit landing while it opens a generation is picked up at its next
search, not at the writer's next commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_svc.engines import generations as gen
from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.tantivy import TantivyEngine


def _doc(n: int) -> Document:
    return Document(key=f"blog:{n}", id=str(n), tenant_id="t1", type="blog",
                    title=f"Kabar kopi {n}", body="", url=f"/b/{n}")


def test_a_commit_while_a_reader_opens_the_generation_is_not_missed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    writer.write([_doc(1)], [])
    real_stat_key = gen.stat_key
    raced: list[bool] = []

    def stat_key_with_a_commit_first(path: Path | str) -> gen.StatKey | None:
        # the writer commits at the moment the reader looks at meta.json: before the
        # fix the reader had already loaded the older commit and kept its new stat
        if Path(path).name == "meta.json" and not raced:
            raced.append(True)
            writer.write([_doc(2)], [])
        return real_stat_key(path)

    monkeypatch.setattr(gen, "stat_key", stat_key_with_a_commit_first)
    reader = TantivyEngine(tmp_path, writer=False)
    try:
        assert raced
        assert reader.search(SearchQuery(tenant_id="t1", text="kopi")).total == 2
    finally:
        reader.close()
        writer.close()


def test_an_index_whose_first_build_has_not_finished_is_no_index_to_readers(
        tmp_path: Path) -> None:
    # The first start published an empty generation at once: a first backfill that was
    # interrupted left it, and the next `awsm up` served it (200, no hits) as the index.
    from search_svc.errors import EngineUnavailable

    writer = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    shadow = writer.begin_rebuild()
    shadow.write([_doc(1)], [])
    shadow.close()  # interrupted: the rebuild is dropped
    writer.close()
    writer = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)  # the next start
    try:
        assert gen.read_pointer(tmp_path) is None
        with pytest.raises(EngineUnavailable):
            TantivyEngine(tmp_path, writer=False).search(SearchQuery(tenant_id="t1", text="kopi"))
        shadow = writer.begin_rebuild()
        shadow.write([_doc(1), _doc(2)], [], checkpoint="0/1")
        writer.swap(shadow)  # built: now it is the index
        reader = TantivyEngine(tmp_path, writer=False)
        assert reader.search(SearchQuery(tenant_id="t1", text="kopi")).total == 2
        reader.close()
    finally:
        writer.close()


def test_a_second_writer_is_refused_before_any_index_exists(tmp_path: Path) -> None:
    # with the first generation unpublished until its swap, a second writer made one of
    # its own, deleted the first's, and both ran: tantivy's lock is per generation
    from search_svc.errors import EngineUnavailable

    first = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    try:
        held = {p.name for p in tmp_path.iterdir() if p.name.startswith("gen-")}
        with pytest.raises(EngineUnavailable) as refused:
            TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
        assert "being written by another indexer" in str(refused.value.detail)
        assert {p.name for p in tmp_path.iterdir() if p.name.startswith("gen-")} == held
    finally:
        first.close()
    TantivyEngine(tmp_path, writer=True, heap_size=15_000_000).close()  # free once closed
