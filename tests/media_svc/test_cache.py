"""The derived cache stays within its byte budget, least recently used first."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from media_svc.cache import DiskCache, SingleFlight
from tests.media_svc.conftest import disk_full


def test_lru_eviction_keeps_the_budget_and_the_recently_used(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=300)
    for key in ("aa1", "bb2", "cc3"):
        cache.put(key, b"x" * 100, "jpg")
    assert cache.get("aa1") is not None  # touch: now bb2 is the oldest
    cache.put("dd4", b"y" * 100, "webp")
    assert cache.get("bb2") is None and cache.total_bytes <= 300
    assert {k for k in ("aa1", "cc3", "dd4") if cache.get(k)} == {"aa1", "cc3", "dd4"}
    assert len(list(tmp_path.glob("*/*"))) == 3


def test_a_restart_reloads_the_index_and_clears_partial_writes(tmp_path: Path) -> None:
    first = DiskCache(tmp_path, max_bytes=1000)
    first.put("aa1", b"x" * 10, "png")
    crashed = tmp_path / ".tmp-crashed"
    crashed.write_bytes(b"partial")
    hours_ago = time.time() - 2 * 3600
    os.utime(crashed, (hours_ago, hours_ago))
    second = DiskCache(tmp_path, max_bytes=1000)
    entry = second.get("aa1")
    assert entry is not None and entry.path.read_bytes() == b"x" * 10
    assert not crashed.exists()


def test_a_replica_starting_on_a_shared_directory_keeps_live_writes(tmp_path: Path) -> None:
    running = DiskCache(tmp_path, max_bytes=1000)
    tmp = running.temp_path()  # a download in progress
    tmp.write_bytes(b"partial")
    DiskCache(tmp_path, max_bytes=1000)  # another replica starts
    assert tmp.exists()
    tmp.write_bytes(b"finished")
    assert running.adopt("ab1", tmp, "orig").path.read_bytes() == b"finished"


def test_a_replica_starts_while_another_evicts_from_the_shared_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running = DiskCache(tmp_path, max_bytes=1000)
    for key in ("aa1", "bb2", "cc3"):
        running.put(key, b"x" * 10, "png")
    is_file = Path.is_file

    def evicted_after_listing(path: Path) -> bool:
        found = is_file(path)
        if path.name.startswith("bb2"):
            running.discard("bb2")  # the other replica evicts it between listing and stat
        return found

    monkeypatch.setattr(Path, "is_file", evicted_after_listing)
    starting = DiskCache(tmp_path, max_bytes=1000)
    assert len(starting) == 2 and starting.total_bytes == 20 and starting.get("bb2") is None


def test_an_empty_or_resized_entry_is_discarded_not_served(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    for key in ("aa1", "bb2", "cc3"):
        cache.put(key, b"x" * 10, "png")
    for key, data in (("aa1", b""), ("bb2", b"x" * 5)):  # a power cut, a torn copy
        entry = cache.get(key)
        assert entry is not None
        entry.path.write_bytes(data)
        assert cache.get(key) is None and not entry.path.exists()
    assert cache.total_bytes == 10
    entry = cache.get("cc3")
    assert entry is not None
    entry.path.write_bytes(b"")
    restarted = DiskCache(tmp_path, max_bytes=1000)  # found empty at start: not indexed
    assert restarted.get("cc3") is None and len(restarted) == 0 and not entry.path.exists()


def test_a_stale_read_never_discards_the_entry_stored_since(tmp_path: Path) -> None:
    # a reader holding the old entry of a key finds the file replaced (an original
    # refreshed after its TTL, the same size check as a torn file): the new one stays
    cache = DiskCache(tmp_path, max_bytes=1000)
    old = cache.put("aa1", b"x" * 10, "orig")
    new = cache.put("aa1", b"y" * 20, "orig")  # stored while the reader held ``old``
    cache.discard("aa1", only=old)
    assert cache.get("aa1") == new and new.path.read_bytes() == b"y" * 20


def test_a_read_while_a_file_is_replaced_keeps_the_new_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # between the rename and the index update, a reader holding the old entry took the
    # new file for a torn one and deleted it
    import threading

    cache = DiskCache(tmp_path, max_bytes=1000)
    cache.put("aa1", b"x" * 10, "orig")
    readers: list[threading.Thread] = []
    rename = os.replace

    def replace_then_read(src: object, dst: object) -> None:
        rename(src, dst)  # type: ignore[arg-type]
        reader = threading.Thread(target=cache.get, args=("aa1",))
        reader.start()
        readers.append(reader)
        time.sleep(0.1)  # the reader runs now, unless the cache holds it back

    monkeypatch.setattr("media_svc.cache.os.replace", replace_then_read)
    new = cache.put("aa1", b"y" * 20, "orig")
    readers[0].join(5)
    assert cache.get("aa1") == new and new.path.read_bytes() == b"y" * 20


def test_a_failed_write_raises_and_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10_000)
    with disk_full(100), pytest.raises(OSError):
        cache.put("aa1", b"x" * 1000, "jpg")
    assert cache.get("aa1") is None and cache.total_bytes == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_single_flight_shares_results_and_errors() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 42

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def main() -> None:
        results = await asyncio.gather(*(flights.run("k", work) for _ in range(10)))
        assert [value for value, _ in results] == [42] * 10
        assert sum(1 for _, shared in results if not shared) == 1 and calls == 1
        outcomes = await asyncio.gather(*(flights.run("e", failing) for _ in range(3)),
                                        return_exceptions=True)
        assert all(isinstance(o, ValueError) for o in outcomes)
        assert (await flights.run("k", work))[1] is False  # finished work is not reused

    asyncio.run(main())
    with pytest.raises(ValueError):
        asyncio.run(flights.run("x", failing))
