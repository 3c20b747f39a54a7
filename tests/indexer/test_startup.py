"""What ``awsm indexer`` does at start on a database that ``awsm up`` never prepared
(production: Supabase): it creates awsm's ``search`` schema itself, says plainly when
pgvector is missing and cannot be created, and a slot held by another indexer is one
clear line, not a traceback, that leaves the other indexer's status alone."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from awsm.db import apply_migrations, ensure_pgvector
from awsm.errors import ConfigError
from indexer.replication import ReplicationStream, ensure_slot
from search_svc.engines import open_engine
from tests.fixtures.fix_stack import make_settings, open_indexer, seed_tenants

ROOT = Path(__file__).resolve().parents[2]


def test_the_indexer_creates_its_search_schema(fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP SCHEMA search CASCADE")  # AWCMS's tables only, as on Supabase
        seed_tenants(conn)
    settings = make_settings(fresh_db, tmp_path)
    with open_indexer(fresh_db, settings) as indexer:
        assert indexer.prepare() is True
        indexer.backfill()
        indexer.prepare()  # a restart: nothing left to apply, nothing fails
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        applied = [r[0] for r in conn.execute(
            "SELECT name FROM search.schema_migrations ORDER BY name")]
        assert applied == sorted(p.name for p in (ROOT / "awsm" / "migrations").glob("*.sql"))
        state = conn.execute("SELECT state, backfilled_at IS NOT NULL FROM "
                             "search.indexer_status WHERE slot_name = %s",
                             (settings.slot_name,)).fetchone()
        assert state == ("streaming", True)


def test_a_role_that_cannot_create_the_search_schema_gets_a_clear_error(
        fresh_db: str, plain_role: tuple[str, str]) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute("DROP SCHEMA search CASCADE")
    with psycopg.connect(plain_role[1], autocommit=True) as conn:
        with pytest.raises(ConfigError) as err:
            apply_migrations(conn)
    message = str(err.value)
    assert "'search' schema" in message and "awsm/migrations/*.sql" in message


def test_a_role_that_cannot_replicate_gets_a_clear_error(
        fresh_db: str, plain_role: tuple[str, str], tmp_path: Path) -> None:
    role, url = plain_role
    with psycopg.connect(fresh_db, autocommit=True) as admin:  # set up by an owner
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA search TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        admin.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA search TO {role}")
    with open_indexer(url, make_settings(url, tmp_path)) as indexer:
        # the migrations, already applied, need no CREATE on the database
        with pytest.raises(ConfigError, match="cannot set up logical replication"):
            indexer.prepare()


def test_missing_pgvector_that_the_role_cannot_create_is_a_clear_error(
        fresh_db: str, plain_role: tuple[str, str]) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute("DROP EXTENSION vector CASCADE")
    with psycopg.connect(plain_role[1], autocommit=True) as conn:
        with pytest.raises(ConfigError) as err:
            ensure_pgvector(conn)
    message = str(err.value)
    assert "pgvector" in message and "CREATE EXTENSION vector" in message
    assert "AWSM_EMBEDDER=none" in message
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        ensure_pgvector(admin)  # a superuser: created
        assert admin.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()


def test_a_held_slot_is_one_line_and_leaves_the_holders_status_alone(
        fresh_db: str, tmp_path: Path) -> None:
    slot = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert ensure_slot(conn, slot) is True
        conn.execute("CREATE PUBLICATION held_pub FOR TABLE blogs")
        conn.execute("INSERT INTO search.indexer_status (slot_name, state) VALUES (%s, 'streaming')",
                     (slot,))
        holder = ReplicationStream(fresh_db, slot, "held_pub")
        holder.open()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
            env.update(AWSM_DATABASE_URL=fresh_db, AWSM_DATA_DIR=str(tmp_path),
                       AWSM_SLOT_NAME=slot, AWSM_PUBLICATION_NAME="held_pub",
                       AWSM_EMBEDDER="none", PYTHONPATH=str(ROOT))
            run = subprocess.run([sys.executable, "-m", "gateway.cli", "indexer"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=120)
        finally:
            holder.close()
        row = conn.execute("SELECT state, last_error FROM search.indexer_status "
                           "WHERE slot_name = %s", (slot,)).fetchone()
        # refused before it touched anything of the holder's: its publication still
        # carries exactly the tables the holder streams
        published = conn.execute("SELECT tablename::text FROM pg_publication_tables "
                                 "WHERE pubname = 'held_pub'").fetchall()
    assert published == [("blogs",)]
    assert run.returncode == 1, run.stderr
    assert f"slot_in_use: replication slot '{slot}' is held by another process" in run.stderr
    assert "Traceback" not in run.stderr
    assert row == ("streaming", None)


def test_an_index_another_indexer_writes_is_one_line_not_a_traceback(
        fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path)
    holder = open_engine(settings, writer=True)  # as a running `awsm up` holds it
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
        env.update(AWSM_DATABASE_URL=fresh_db, AWSM_DATA_DIR=str(tmp_path),
                   AWSM_SLOT_NAME=settings.slot_name, AWSM_EMBEDDER="none",
                   PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, "-m", "gateway.cli", "reindex"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    finally:
        holder.close()
    assert run.returncode == 1, run.stderr
    assert "engine_unavailable: the index under" in run.stderr
    assert "awsm up --reindex" in run.stderr and "Traceback" not in run.stderr


def test_an_error_does_not_pass_for_a_batch_in_the_status(fresh_db: str, tmp_path: Path) -> None:
    # /readyz reads last_batch_at as "seconds behind": a crash-looping indexer recording
    # its error on every start must not look like one that just wrote a batch
    settings = make_settings(fresh_db, tmp_path)

    def status(conn: psycopg.Connection) -> tuple[object, ...] | None:
        return conn.execute("SELECT state, last_batch_at, documents_written, last_error "
                            "FROM search.indexer_status WHERE slot_name = %s",
                            (settings.slot_name,)).fetchone()

    def confirmed(conn: psycopg.Connection) -> object:
        return conn.execute("SELECT confirmed_lsn FROM search.indexer_status "
                            "WHERE slot_name = %s", (settings.slot_name,)).fetchone()[0]  # type: ignore[index]

    with open_indexer(fresh_db, settings) as indexer, \
            psycopg.connect(fresh_db, autocommit=True) as conn:
        indexer.record_error(RuntimeError("first start failed"))
        assert status(conn) == ("error", None, 0, "RuntimeError: first start failed")
        indexer.documents_written = 7
        indexer.state.lsn = 0x16B3748
        indexer._write_status("streaming", backfilled=True)
        _, batch_at, written, _ = status(conn)  # type: ignore[misc]
        assert batch_at is not None and written == 7 and confirmed(conn) == "0/16B3748"
        indexer.documents_written = 0  # a restarted process counts from 0
        indexer.state.lsn = 0  # ... and has not read its checkpoint yet: "0/0" was shown
        indexer.record_error(RuntimeError("column events.descr does not exist"))
        assert status(conn) == ("error", batch_at, 7, "RuntimeError: column events.descr "
                                                      "does not exist")
        assert confirmed(conn) == "0/16B3748"


def test_an_index_built_from_another_database_is_rebuilt_not_resumed(
        fresh_db: str, tmp_path: Path) -> None:
    # A data directory reused against a restored copy, or another server whose slot
    # has the same name: that slot's stream says nothing of what the index holds.
    from indexer.startup import IndexerState
    from search_svc.engines.base import Document

    settings = make_settings(fresh_db, tmp_path)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        seed_tenants(db)
        db.execute("INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
                   "SELECT id, 'Kopi', 'kopi', 'isi', 'published', now() - interval '1 hour' "
                   "FROM tenants WHERE slug = 'kopi'")
    with open_indexer(fresh_db, settings) as indexer:
        assert indexer.prepare() is True
        indexer.backfill()
        built = set(indexer.engine.keys())
        dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
        assert len(built) == 1 and indexer.state.source.endswith(f"/{dbname}")
    with open_indexer(fresh_db, settings) as indexer:
        assert indexer.prepare() is False  # same database: resumed from the slot
        ghost = Document(key="blog:ghost", id="ghost", tenant_id="t", type="blog", title="x")
        elsewhere = replace(indexer.state, source="7000000000000000000/awcms")
        indexer.engine.write([ghost], [], checkpoint=elsewhere.dump())
    with open_indexer(fresh_db, settings) as indexer:
        assert indexer.prepare() is True  # another database's index: rebuilt
        indexer.backfill()
        assert set(indexer.engine.keys()) == built
        assert IndexerState.load(indexer.engine.checkpoint()).source == indexer.state.source  # type: ignore[union-attr]


def test_a_rebuild_cut_short_after_the_slot_was_recreated_is_not_resumed(
        fresh_db: str, tmp_path: Path) -> None:
    # A lost (or dropped) slot is recreated and the index rebuilt: the changes made while
    # there was no slot are in no stream. If the process dies before the rebuild is
    # swapped in, the next start finds a slot it did not create and the old index's
    # checkpoint: resuming would leave those changes out of the index for good.
    settings = make_settings(fresh_db, tmp_path)
    insert = ("INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
              "SELECT id, %s, 'kopi', 'isi', 'published', now() - interval '1 hour' "
              "FROM tenants WHERE slug = 'kopi' RETURNING id::text")
    with psycopg.connect(fresh_db, autocommit=True) as db:
        seed_tenants(db)
        first = db.execute(insert, ("Kopi pertama",)).fetchone()[0]  # type: ignore[index]
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is True
            indexer.backfill()
        db.execute("SELECT pg_drop_replication_slot(%s)", (settings.slot_name,))
        missed = db.execute(insert, ("Kopi tanpa slot",)).fetchone()[0]  # type: ignore[index]
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is True  # slot recreated: a rebuild is due ...
            # ... and the process dies before it is swapped in
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is True  # still due: nothing streams the missed row
            indexer.backfill()
            assert indexer.engine.keys() == {f"blog:{first}", f"blog:{missed}"}


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
    env.update(AWSM_DATABASE_URL="postgresql://awsm@127.0.0.1:1/awcms?connect_timeout=2",
               AWSM_DATA_DIR=str(tmp_path), AWSM_EMBEDDER="none", PYTHONPATH=str(ROOT))
    for command in ("indexer", "reindex"):
        run = subprocess.run([sys.executable, "-m", "gateway.cli", command], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1, run.stderr
        assert "the database of AWSM_DATABASE_URL cannot be reached" in run.stderr
        assert "Connection refused" in run.stderr and "Traceback" not in run.stderr


def test_a_model_that_does_not_load_is_recorded_and_keyword_indexing_goes_on(
        fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path, embedder="sentence-transformers",
                             embedding_model=str(tmp_path / "no-such-model"))
    with open_indexer(fresh_db, settings) as indexer, \
            psycopg.connect(fresh_db, autocommit=True) as conn:
        indexer._run_embeddings(threading.Event())  # the embeddings thread's body: returns
        state, error = conn.execute("SELECT state, last_error FROM search.indexer_status "
                                    "WHERE slot_name = %s", (settings.slot_name,)).fetchone()
    assert state == "error"
    assert error.startswith("EmbedderUnavailable") and "AWSM_EMBEDDING_MODEL" in error


def test_a_second_environment_on_one_database_is_refused(fresh_db: str, tmp_path: Path) -> None:
    # its own slot and publication were not enough: a second mapping's rebuild dropped
    # the first environment's vectors and dead letters, and its visibility rule (drafts
    # as published, say) wrote vectors the first environment's API served
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
    first = make_settings(fresh_db, tmp_path / "a")
    with open_indexer(fresh_db, first) as indexer:
        indexer.prepare()
        indexer.backfill()
    second = make_settings(fresh_db, tmp_path / "b", publication_name="b_pub")
    for _ in range(2):  # the refusal recorded in its status row: refused again
        with open_indexer(fresh_db, second) as indexer, pytest.raises(ConfigError) as err:
            try:
                indexer.prepare()
            except ConfigError as exc:
                indexer.record_error(exc)
                raise
        assert f"replication slot {first.slot_name!r}" in str(err.value)
        assert "one awsm environment per database" in str(err.value)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        # nothing of the second was made; the first goes on as before
        assert conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                            (second.slot_name,)).fetchone() == (0,)
        conn.execute("SELECT pg_drop_replication_slot(%s)", (first.slot_name,))
    with open_indexer(fresh_db, second) as indexer:
        assert indexer.prepare() is True  # the first is gone for good: taken over


def test_two_environments_that_streamed_before_are_warned_of_not_stopped(
        fresh_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # set up while the docs allowed it: refusing both would stop a working deployment
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
    first = make_settings(fresh_db, tmp_path / "a")
    second = make_settings(fresh_db, tmp_path / "b", publication_name="b_pub")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        apply_migrations(conn)
        for settings in (first, second):
            ensure_slot(conn, settings.slot_name)
            conn.execute("INSERT INTO search.indexer_status (slot_name) VALUES (%s)",
                         (settings.slot_name,))
    with caplog.at_level(logging.WARNING, logger="awsm.indexer"), \
            open_indexer(fresh_db, second) as indexer:
        indexer.prepare()
    assert any("shared with the indexer of replication slot" in r.getMessage()
               for r in caplog.records)
