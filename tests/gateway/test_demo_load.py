"""``awsm demo-load``: the demo into a database of one's own (the compose stack), once,
and never into a database that already has AWCMS tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def _demo_load(url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
    env.update(AWSM_DATABASE_URL=url, AWSM_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gateway.cli", "demo-load"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_load_fills_an_empty_database_once(empty_db: str, tmp_path: Path) -> None:
    first = _demo_load(empty_db, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("demo loaded: tenants ") and "kopi-nusantara" in first.stdout
    with psycopg.connect(empty_db) as conn:
        tenants = conn.execute("SELECT count(*) FROM tenants").fetchone()
        blogs = conn.execute("SELECT count(*) FROM blogs").fetchone()
        migrations = conn.execute("SELECT count(*) FROM search.schema_migrations").fetchone()
    assert tenants and tenants[0] >= 3 and blogs and blogs[0] > 0 and migrations and migrations[0]
    assert any((tmp_path / "media").rglob("*.*"))  # the demo's hero images

    again = _demo_load(empty_db, tmp_path)
    assert again.returncode == 0 and "already loaded" in again.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM blogs").fetchone() == blogs


def test_demo_load_refuses_a_database_with_awcms_tables(fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (name, slug) VALUES ('Real Site', 'real')")
    run = _demo_load(fresh_db, tmp_path)
    assert run.returncode == 2
    assert "already has AWCMS tables" in run.stderr and "Traceback" not in run.stderr
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT slug FROM tenants").fetchall() == [("real",)]


def test_demo_load_refuses_any_awcms_table_not_only_tenants(empty_db: str, tmp_path: Path) -> None:
    # a database with blogs but no tenants, or a tenants table of another shape, got past
    # the check on tenants alone and ended in a traceback (exit 1) part way through
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE blogs (id bigint PRIMARY KEY, headline text)")
    run = _demo_load(empty_db, tmp_path)
    assert run.returncode == 2, run.stderr
    assert "already has AWCMS tables (blogs)" in run.stderr and "Traceback" not in run.stderr
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('tenants')").fetchone() == (None,)
        conn.execute("CREATE TABLE tenants (id bigint PRIMARY KEY, name text)")  # no slug
    run = _demo_load(empty_db, tmp_path)
    assert run.returncode == 2, run.stderr
    assert "(blogs, tenants)" in run.stderr and "Traceback" not in run.stderr


def test_demo_load_refuses_a_database_with_awcms_current_tables(empty_db: str,
                                                                tmp_path: Path) -> None:
    # AWCMS since July 2026 names its tables awcms_*: such a real site's database got the
    # demo loaded beside its own tables
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE awcms_tenants (id uuid PRIMARY KEY, slug text)")
        conn.execute("CREATE TABLE awcms_blog_posts (id uuid PRIMARY KEY, title text)")
    run = _demo_load(empty_db, tmp_path)
    assert run.returncode == 2, run.stderr
    assert "(awcms_blog_posts, awcms_tenants)" in run.stderr and "Traceback" not in run.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('blogs')").fetchone() == (None,)
