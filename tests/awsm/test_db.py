import psycopg

from awsm.db import apply_migrations


def test_fresh_database_has_logical_wal_and_search_schema(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert apply_migrations(conn) == []  # the template already holds them
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'search'")}
        assert {"dead_letters", "indexer_status", "schema_migrations"} <= tables
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert ext is not None
