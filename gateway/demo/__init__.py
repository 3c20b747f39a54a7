"""The AWCMS-shaped demo: its schema (``schema.sql``) and content (``corpus.py``)."""

from __future__ import annotations

from importlib import resources

import psycopg

from awsm.db import apply_migrations

__all__ = ["prepare_schema"]


def prepare_schema(conn: psycopg.Connection) -> None:
    """pgvector, the AWCMS demo tables and awsm's own migrations, idempotently: the one
    set-up that the embedded stack, the test template and the benchmarks share."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute(resources.files("gateway.demo").joinpath("schema.sql").read_text())  # type: ignore[call-overload]
    apply_migrations(conn)
