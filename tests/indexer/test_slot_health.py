"""The slot stays healthy: it advances while mapped tables are idle, and a slot held by
another process is a clear start-up error that names the holder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from indexer.mapping import load_mapping
from indexer.replication import (
    ReplicationStream,
    SlotInUse,
    ensure_publication,
    ensure_slot,
    slot_info,
)
from indexer.worker import Indexer
from search_svc.engines import open_engine
from tests.fixtures.fix_stack import make_settings, open_indexer, seed_tenants, wait_for


def test_a_slow_batch_keeps_the_stream_alive(fresh_db: str, tmp_path: Path) -> None:
    # Nothing is read from the stream while a batch is applied. The walsender ends a
    # connection it hears nothing from for wal_sender_timeout (2 s here, 60 s by
    # default), and the batch, replayed after every reconnect, would time out each time:
    # a status update must go out even while one engine write takes longer than that.
    from tests.fixtures.fix_stack import insert_blogs_in_one_transaction, running_stack

    dsn = fresh_db + ("&" if "?" in fresh_db else "?") + "options=-c%20wal_sender_timeout%3D2s"
    with running_stack(dsn, tmp_path) as stack:
        engine = stack.indexer.engine
        real = engine.write

        def slow_write(upserts: object, deletes: object, checkpoint: str | None = None) -> None:
            if upserts or deletes:
                time.sleep(4.5)  # a slow sink: one write longer than the timeout
            real(upserts, deletes, checkpoint=checkpoint)  # type: ignore[arg-type]

        engine.write = slow_write  # type: ignore[method-assign]
        insert_blogs_in_one_transaction(stack, [f"Impor lambat {i}" for i in range(240)])
        wait_for(lambda: stack.search(q="lambat", limit=1)["total"] == 240, timeout=60)
        target = stack.db.execute("SELECT pg_current_wal_lsn()").fetchone()
        wait_for(lambda: stack.db.execute(
            "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
            "WHERE slot_name = %s", (target[0] if target else None,
                                     stack.settings.slot_name)).fetchone() == (True,))
        assert not stack.failure



def test_a_hung_indexer_lets_the_server_free_its_slot(fresh_db: str, tmp_path: Path) -> None:
    # The keepalive answers for the indexer only while it shows progress: one stuck for
    # good must not hold the slot forever, or no replacement could ever take it over.
    from tests.fixtures.fix_stack import insert_blogs_in_one_transaction, running_stack

    dsn = fresh_db + ("&" if "?" in fresh_db else "?") + "options=-c%20wal_sender_timeout%3D2s"
    with running_stack(dsn, tmp_path) as stack:
        assert stack.indexer.stream is not None
        stack.indexer.stream.stall_s = 1.0
        engine = stack.indexer.engine
        real = engine.write
        released = threading.Event()

        def stuck(upserts: object, deletes: object, checkpoint: str | None = None) -> None:
            if upserts or deletes:
                released.wait(30)  # hung, until the test lets it go
            real(upserts, deletes, checkpoint=checkpoint)  # type: ignore[arg-type]

        engine.write = stuck  # type: ignore[method-assign]

        def slot_active() -> bool:
            row = stack.db.execute("SELECT active FROM pg_replication_slots "
                                   "WHERE slot_name = %s", (stack.settings.slot_name,)).fetchone()
            return bool(row and row[0])

        assert slot_active()  # held from the moment the stream is there
        insert_blogs_in_one_transaction(stack, ["Kopi yang tertahan"])
        wait_for(lambda: not slot_active(), timeout=15)  # freed while the indexer hangs
        released.set()
        wait_for(lambda: stack.failure, timeout=15)  # it finds its stream gone
        stack.failure.clear()



def test_keepalives_resume_when_progress_does(fresh_db: str) -> None:
    # A stall stops the keepalives; a step that then finishes (progress again) must get
    # them back, or the next long step would lose the stream.
    dsn = fresh_db + ("&" if "?" in fresh_db else "?") + "options=-c%20wal_sender_timeout%3D2s"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_slot(conn, "resume")
        ensure_publication(conn, "resume_pub", ("blogs",), "resume")
    stream = ReplicationStream(dsn, "resume", "resume_pub")
    stream.stall_s = 0.6
    stream.open()
    try:
        time.sleep(1.2)  # no progress: the keepalives stop (the server allows 2 s)
        until = time.monotonic() + 3.5  # then progress, nothing read, past the timeout
        while time.monotonic() < until:
            stream.progress()
            time.sleep(0.2)
        assert stream.read(timeout=0.1) == []  # still connected
    finally:
        stream.close()


def test_heartbeat_moves_the_slot_while_mapped_tables_are_idle(fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path, heartbeat_interval_s=0.2)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        engine = open_engine(settings, writer=True)
        indexer = Indexer(settings, load_mapping(None), engine, fresh_db)
        stop = threading.Event()
        thread = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: indexer.stream is not None)
            conn.execute("CREATE TABLE unrelated (id int)")
            conn.execute("INSERT INTO unrelated SELECT generate_series(1, 20000)")  # WAL, not ours
            target = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]

            def caught_up() -> bool:
                row = conn.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                    "WHERE slot_name = %s", (target, settings.slot_name)).fetchone()
                return bool(row and row[0])

            wait_for(caught_up, timeout=30)
            info = slot_info(conn, settings.slot_name)
            assert info is not None and info.active_pid is not None
        finally:
            stop.set()
            thread.join(10)
            indexer.close()
            engine.close()


def test_a_slot_held_by_another_process_is_a_clear_error(fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert ensure_slot(conn, settings.slot_name) is True
        holder = ReplicationStream(fresh_db, settings.slot_name, "awsm_pub")
        conn.execute("CREATE PUBLICATION awsm_pub FOR TABLE blogs")
        holder.open()
        try:
            with pytest.raises(SlotInUse) as err:
                ensure_slot(conn, settings.slot_name, wait_s=0.5)
            message = err.value.public_message
            assert settings.slot_name in message and "pid" in message and "awsm-indexer" in message
        finally:
            holder.close()
        assert ensure_slot(conn, settings.slot_name, wait_s=5) is False  # freed: reusable


def test_a_publication_serves_one_slot(fresh_db: str) -> None:
    from awsm.errors import ConfigError

    def tables(conn: psycopg.Connection) -> list[str]:
        return [r[0] for r in conn.execute("SELECT tablename::text FROM pg_publication_tables "
                                           "WHERE pubname = 'p' ORDER BY 1").fetchall()]

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE PUBLICATION p FOR TABLE blogs")  # an older awsm's: no owner
        assert ensure_slot(conn, "slot_a")
        ensure_publication(conn, "p", ("blogs", "pages"), "slot_a")  # adopted
        assert tables(conn) == ["blogs", "pages"]
        with pytest.raises(ConfigError, match="slot_a.*AWSM_PUBLICATION_NAME"):
            ensure_publication(conn, "p", ("blogs",), "slot_b")  # another indexer's mapping
        assert tables(conn) == ["blogs", "pages"]  # untouched
        ensure_publication(conn, "p", ("pages",), "slot_a")  # its own indexer may change it
        assert tables(conn) == ["pages"]
        conn.execute("SELECT pg_drop_replication_slot('slot_a')")
        ensure_publication(conn, "p", ("blogs",), "slot_b")  # its slot is gone: taken over
        assert tables(conn) == ["blogs"]


def test_mapping_that_names_a_missing_column_fails_at_start(fresh_db: str, tmp_path: Path) -> None:
    mapping_file = tmp_path / "m.toml"
    text = (Path(__file__).resolve().parents[2] / "indexer" / "default_mapping.toml").read_text()
    mapping_file.write_text(text.replace('summary = "excerpt"', 'summary = "teaser"', 1))
    from awsm.errors import ConfigError

    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path), mapping_file) as indexer:
        with pytest.raises(ConfigError, match="blogs.teaser"):
            indexer.prepare()


def test_mapped_columns_of_a_type_the_sql_cannot_use_fail_at_start(
        fresh_db: str, tmp_path: Path) -> None:
    # an integer flag (IS TRUE), a jsonb "tags" (::text[]) or a text published_at
    # (extract(epoch ...)) failed every re-read: a restart loop that named no column
    from awsm.errors import ConfigError

    mapping_file = tmp_path / "m.toml"
    text = (Path(__file__).resolve().parents[2] / "indexer" / "default_mapping.toml").read_text()
    mapping_file.write_text(text.replace('published_at = "published_at"',
                                         'published_at = "slug"', 1)
                            .replace('tags = "tags"', 'tags = "puck_layout_jsonb"', 1)
                            .replace('flags = ["is_active", "is_public"]',
                                     'flags = ["is_active", "views"]', 1))
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path), mapping_file) as indexer:
        with pytest.raises(ConfigError) as err:
            indexer.prepare()
    text_of = str(err.value)
    assert "blogs.views as a visibility flag, which must be boolean; it is integer" in text_of
    assert "blogs.slug as published_at, which must be a timestamp or date" in text_of
    assert "blogs.puck_layout_jsonb as tags, which must be an array or text; it is jsonb" \
        in text_of
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # a domain over boolean is one
        conn.execute("CREATE DOMAIN yes_no AS boolean")
        conn.execute("ALTER TABLE blogs ALTER COLUMN is_public TYPE yes_no")
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path)) as indexer:
        assert indexer.prepare() is True


def test_a_replica_identity_without_the_mapped_key_fails_at_start(
        fresh_db: str, tmp_path: Path) -> None:
    # A delete carries only the replica identity's columns: under an identity that
    # leaves out the mapped id (here the slug index), the deleted row's document could
    # never be found, and would stay searchable for good.
    from awsm.errors import ConfigError

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE UNIQUE INDEX blogs_tenant_slug ON blogs (tenant_id, slug)")
        conn.execute("ALTER TABLE blogs REPLICA IDENTITY USING INDEX blogs_tenant_slug")
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path)) as indexer:
        with pytest.raises(ConfigError, match=r"'blogs'.*\bid\b.*REPLICA IDENTITY"):
            indexer.prepare()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE blogs REPLICA IDENTITY FULL")  # every column: fine
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path)) as indexer:
        assert indexer.prepare() is True


def test_the_replica_identity_fix_quotes_a_table_name_that_needs_it(fresh_db: str) -> None:
    # the suggested statement named "Notes" unquoted: run as shown, it meant notes
    from awsm.errors import ConfigError
    from indexer.replication import check_replica_identity

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Notes" (id text, body text)')
        with pytest.raises(ConfigError, match='ALTER TABLE "Notes" REPLICA IDENTITY FULL'):
            check_replica_identity(conn, {"Notes": "id"})


def test_the_default_mapping_starts_on_awcms_tables_without_a_language_column(
        fresh_db: str, tmp_path: Path) -> None:
    # it named a `language` column that AWCMS's blogs, pages and products do not have
    # (the demo's do): against a real AWCMS database the indexer refused to start
    from search_svc.engines.base import SearchQuery
    from tests.fixtures.fix_stack import TENANT_B, seed_tenants

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        for table in ("blogs", "pages", "products"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN language")
        conn.execute("INSERT INTO blogs (tenant_id, title, slug, content, status, "
                     "published_at) VALUES (%s, 'Caching at the edge', 'c', 'Pages cached', "
                     "'published', now() - interval '1 minute')", (TENANT_B,))
    settings = make_settings(fresh_db, tmp_path).model_copy(update={"demo": False})
    assert all(src.locale is None for src in load_mapping(None).documents)
    assert all(src.locale == "language" for src in load_mapping(None, demo=True).documents)
    with open_indexer(fresh_db, settings) as indexer:
        assert indexer.prepare() is True
        assert indexer.backfill() == 1
        hits = indexer.engine.search(SearchQuery(tenant_id=TENANT_B, text="cached")).hits
        assert [h.locale for h in hits] == ["en"]  # its tenant's, stemmed as English
