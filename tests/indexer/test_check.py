"""``awsm check``: the index against what the visibility rules allow, each document
under its own tenant; drift is reported, changes still in flight are not."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.stack import _lock_data_dir
from indexer.check import compare_index
from search_svc.engines.base import Document
from tests.fixtures.fix_stack import TENANT_A, TENANT_B, Stack, wait_for
from tests.indexer.test_visibility_e2e import add_blog


def test_an_index_in_step_matches_and_drift_of_each_kind_is_reported(stack: Stack) -> None:
    kept = add_blog(stack, "Kopi luwak asli")
    gone = add_blog(stack, "Kopi gayo")
    moved = add_blog(stack, "Kopi toraja", tenant=TENANT_B)
    add_blog(stack, "Kopi rahasia", status="draft")
    wait_for(lambda: len(stack.indexer.engine.keys()) == 3)
    diff = compare_index(stack.indexer, settle_s=0)
    assert diff.matches and (diff.allowed, diff.indexed) == (3, 3)
    # drift the indexer cannot see: written to the index behind its back
    engine = stack.indexer.engine
    ghost = Document(key="blog:00000000-0000-0000-0000-000000000000", id="0",
                     tenant_id=TENANT_A, type="blog", title="Hantu")
    engine.write([ghost, Document(key=f"blog:{moved}", id=moved, tenant_id=TENANT_A,
                                  type="blog", title="Kopi toraja")], [f"blog:{gone}"])
    diff = compare_index(stack.indexer, settle_s=0.2)
    assert diff.missing == (f"blog:{gone}",)
    assert diff.stale == (ghost.key,)
    assert diff.misfiled == (f"blog:{moved}",)
    assert f"blog:{kept}" not in diff.missing + diff.stale + diff.misfiled


def test_a_change_in_flight_is_not_drift(stack: Stack) -> None:
    add_blog(stack, "Kopi luwak asli")
    wait_for(lambda: len(stack.indexer.engine.keys()) == 1)
    engine = stack.indexer.engine
    real = engine.write

    def slow_write(upserts: Any, deletes: Any, checkpoint: str | None = None) -> None:
        if upserts:
            time.sleep(1.0)  # the indexer a second behind
        real(upserts, deletes, checkpoint=checkpoint)

    engine.write = slow_write  # type: ignore[method-assign]
    add_blog(stack, "Kopi baru saja terbit")
    said: list[str] = []
    diff = compare_index(stack.indexer, settle_s=3, progress=said.append)
    assert any("looking again" in m for m in said), said  # it was behind at first ...
    assert diff.matches and diff.allowed == 2  # ... and caught up: no drift


def test_the_command_exits_1_on_drift_and_lists_the_keys(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    add_blog(stack, "Kopi luwak asli")
    wait_for(lambda: len(stack.indexer.engine.keys()) == 1)
    # beside `awsm up`: the database comes from the data dir's stack.json, while the
    # stack runs (holds its lock)
    (stack.settings.data_dir / "stack.json").write_text(
        json.dumps({"api_url": "", "database_url": stack.settings.database_url}))
    monkeypatch.delenv("AWSM_DATABASE_URL", raising=False)
    args = ["check", "--data-dir", str(stack.settings.data_dir), "--settle", "0"]
    running = _lock_data_dir(stack.settings.data_dir)
    try:
        assert main(args) == 0
    finally:
        os.close(running)
    assert main(args) == 2  # stopped: its database is gone, and the message says so
    assert "is not running" in capsys.readouterr().err
    running = _lock_data_dir(stack.settings.data_dir)
    try:
        assert main(args) == 0
    finally:
        os.close(running)
    assert "the index matches the tables" in capsys.readouterr().out
    stack.indexer.engine.write([Document(key="page:x", id="x", tenant_id=TENANT_A,
                                         type="page", title="Hantu")], [])
    running = _lock_data_dir(stack.settings.data_dir)
    try:
        assert main(args) == 1
    finally:
        os.close(running)
    out = capsys.readouterr().out
    assert "stale (searchable, not allowed): 1\n  page:x" in out and "awsm reindex" in out
    assert main(["check", "--data-dir", str(tmp_path / "nothing-here")]) == 2
    assert "AWSM_DATABASE_URL is not set" in capsys.readouterr().err


def test_keys_no_row_could_have_are_stale_and_park_nothing(stack: Stack) -> None:
    add_blog(stack, "Kopi luwak asli")
    wait_for(lambda: len(stack.indexer.engine.keys()) == 1)
    junk = [Document(key=f"page:x{i}", id=f"x{i}", tenant_id=TENANT_A, type="page",
                     title="Hantu") for i in range(12)]  # pages.id is a uuid
    stack.indexer.engine.write(junk, [])
    diff = compare_index(stack.indexer, settle_s=0.1)
    assert diff.stale == tuple(sorted(d.key for d in junk)) and not diff.missing
    parked = stack.db.execute("SELECT count(*) FROM search.dead_letters").fetchone()
    assert parked == (0,)  # the check read them again; it recorded no bad row


def test_rows_written_during_the_pause_are_not_drift(stack: Stack) -> None:
    add_blog(stack, "Kopi luwak asli")
    wait_for(lambda: len(stack.indexer.engine.keys()) == 1)
    ghost = Document(key="blog:00000000-0000-0000-0000-000000000000", id="0",
                     tenant_id=TENANT_A, type="blog", title="Hantu")
    stack.indexer.engine.write([ghost], [])
    written: list[str] = []

    def meanwhile(message: str) -> None:
        if "looking again" in message:  # a site at work while the check pauses
            written.append(add_blog(stack, "Kopi yang baru terbit"))
            wait_for(lambda: f"blog:{written[0]}" in stack.indexer.engine.keys())

    diff = compare_index(stack.indexer, settle_s=0.5, progress=meanwhile)
    assert written and diff.stale == (ghost.key,)
    assert not diff.missing and not diff.misfiled


def test_a_check_that_cannot_finish_exits_3_not_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWSM_DATABASE_URL",
                       f"postgresql://nobody@/none?host={tmp_path}&connect_timeout=1")
    assert main(["check", "--data-dir", str(tmp_path), "--settle", "0"]) == 3
    assert "awsm check could not finish" in capsys.readouterr().err
