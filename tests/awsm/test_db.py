import asyncio

import psycopg

from awsm.db import apply_migrations, open_async_pool


def test_fresh_database_has_logical_wal_and_search_schema(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert apply_migrations(conn) == []  # the template already holds them
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'search'")}
        assert {"dead_letters", "indexer_status", "schema_migrations"} <= tables
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert ext is not None


def test_a_database_restart_fails_at_most_one_request_per_pool(fresh_db: str) -> None:
    # A restart or failover of the database ends every pooled session; each was still
    # handed out once, dead, so up to max_size requests in a row failed though the database
    # was back: /readyz 503s (a probe's failureThreshold reached on every replica at
    # once), semantic searches fell back to keyword mode, a tenants read failed.
    async def scenario() -> int:
        pool = await open_async_pool(fresh_db, min_size=4, max_size=4, timeout=5.0)
        failed = 0
        try:
            await pool.wait(timeout=10)
            with psycopg.connect(fresh_db, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()").fetchone()
            assert ended == (4,)
            for _ in range(4):
                try:
                    async with pool.connection(timeout=5.0) as conn:
                        await conn.execute("SELECT 1")
                except psycopg.OperationalError:
                    failed += 1
                await asyncio.sleep(0.1)
        finally:
            await pool.close()
        return failed

    assert asyncio.run(scenario()) <= 1
