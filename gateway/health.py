"""``/healthz`` (the process is up), ``/readyz`` (database, engine and indexer lag), ``/metrics``.

Readiness reads the slot's lag straight from ``pg_replication_slots`` and the indexer's
own row in ``search.indexer_status``, so it works for an indexer in another process. It
waits at most ``READY_DB_TIMEOUT_S`` for each database, connection and query together,
and ``READY_ENGINE_TIMEOUT_S`` for the engine, so a probe gets its answer (503) within
probes' usual timeouts while a database or Meilisearch is unreachable or a lock holds the
indexer's tables.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg import Error as PsycopgError
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from awsm.db import connection_within
from awsm.settings import Settings
from search_svc.engines.base import KeywordEngine

__all__ = ["READY_DB_TIMEOUT_S", "READY_ENGINE_TIMEOUT_S", "build_health_router", "indexer_lag"]

READY_DB_TIMEOUT_S = 1.0
# The embedding backlog is counted up to this many documents (a few ms); past it /readyz
# shows this number: a model switch of a large site queues every document
BACKLOG_COUNTED = 100_000
# The engine's stats: an in-process index answers in microseconds; a Meilisearch that
# accepts connections but does not answer would hold the probe AWSM_MEILI_TIMEOUT_S (10 s)
READY_ENGINE_TIMEOUT_S = 2.0

_LAG_SQL = """
SELECT s.active, pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, s.wal_status, st.state, st.last_error, st.last_error_at,
       extract(epoch FROM now() - st.last_commit_at)::float8,
       extract(epoch FROM now() - st.last_batch_at)::float8, st.documents_written,
       st.embedding_model,
       -- counted now: the worker writes its status between rounds, and a round of a slow
       -- model takes tens of seconds, during which its last count (often 0) was shown
       CASE WHEN st.embedding_model IS NOT NULL THEN (SELECT count(*) FROM
         (SELECT 1 FROM search.embedding_queue LIMIT %s) q) END,
       st.embedding_rate, st.model_calls,
       (SELECT count(*) FROM search.dead_letters)
FROM pg_replication_slots s
LEFT JOIN search.indexer_status st ON st.slot_name = s.slot_name
WHERE s.slot_name = %s AND s.database = current_database()
"""


async def indexer_lag(pool: AsyncConnectionPool, slot: str,
                      timeout: float | None = None) -> dict[str, Any] | None:
    """The slot's lag and the indexer's status row; ``timeout`` bounds the connection
    and the query together (``TimeoutError``): a migration's lock on the status tables
    would otherwise hold the caller, and the pooled connection, for as long as it lasts."""
    async with connection_within(pool, timeout, wait_s=timeout) as conn:
        cur = await conn.execute(_LAG_SQL, (BACKLOG_COUNTED, slot))
        row = await cur.fetchone()
    if row is None:
        return None
    (active, lag_bytes, retained, wal_status, state, err, err_at, since_commit, since_batch, written,
     model, backlog, rate, calls, parked) = row
    return {
        # bytes behind: WAL written since the position the indexer last confirmed
        "slot_active": bool(active), "lag_bytes": lag_bytes,
        # WAL the slot keeps on the primary's disk: from its restart_lsn, which a long
        # transaction elsewhere holds back even while lag_bytes stays near 0
        "retained_wal_bytes": retained, "wal_status": wal_status,
        # the kind of error only: its message can quote a row's values (a column of
        # another type, a constraint), and /readyz is public; the whole text is in
        # search.indexer_status and the indexer's log
        "state": state, "last_error": err.split(":", 1)[0] if err else err,
        "last_error_at": err_at.isoformat() if err_at else None,
        "seconds_since_last_commit": round(since_commit, 3) if since_commit is not None else None,
        # seconds behind: while healthy the slot is confirmed at least every heartbeat
        "seconds_since_last_batch": round(since_batch, 3) if since_batch is not None else None,
        "documents_written": written,
        "parked_rows": parked,  # in search.dead_letters: failed repeatedly, skipped
        "embeddings": {"model": _public_model(model), "backlog": backlog,
                       "chunks_per_second": rate,
                       "model_calls": calls} if model else None,
    }


def _public_model(model: str) -> str:
    """The model as ``/readyz`` (public) shows it: a local copy by its directory's name
    (``st:/srv/models/labse`` -> ``st:labse``), a hub id (``owner/name``) as it is."""
    kind, sep, name = model.partition(":") if ":" in model else ("", "", model)
    if name.startswith(("/", ".", "~", "\\")) or (len(name) > 1 and name[1] == ":"):
        name = PurePath(name.replace("\\", "/")).name or name
    return f"{kind}{sep}{name}"


def build_health_router(settings: Settings, engine: KeywordEngine,
                        pool: AsyncConnectionPool | None,
                        primary_pool: AsyncConnectionPool | None = None) -> APIRouter:
    router = APIRouter(tags=["operations"])

    # HEAD too (load balancers and uptime monitors probe with it); not in the schema twice
    @router.head("/healthz", include_in_schema=False)
    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> JSONResponse:
        # never from a cache: a CDN or proxy answering for a dead process hides it
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def check() -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        ok = True
        if pool is not None:
            try:
                async with connection_within(pool, READY_DB_TIMEOUT_S,
                                             wait_s=READY_DB_TIMEOUT_S) as conn:
                    await conn.execute("SELECT 1")
                checks["database"] = {"ok": True}
            except (PsycopgError, TimeoutError) as exc:
                ok = False
                checks["database"] = {"ok": False, "error": type(exc).__name__}
        try:
            stats = await asyncio.wait_for(run_in_threadpool(engine.stats),
                                           READY_ENGINE_TIMEOUT_S)
            checks["engine"] = {"ok": True, "documents": stats.documents}
        except Exception as exc:  # any engine failure means "not ready", never a 500
            ok = False
            checks["engine"] = {"ok": False, "error": type(exc).__name__}
        lag_pool = primary_pool or pool
        if lag_pool is not None and lag_pool is pool and not checks["database"]["ok"]:
            checks["indexer"] = {"error": "database unreachable"}  # not waited for twice
        elif lag_pool is not None:
            try:
                lag = await indexer_lag(lag_pool, settings.slot_name, timeout=READY_DB_TIMEOUT_S)
                checks["indexer"] = lag or {"state": "not started"}
            except (PsycopgError, TimeoutError) as exc:
                checks["indexer"] = {"error": type(exc).__name__}
        return ok, checks

    # One check at a time, shared by the probes that arrive while it runs: each ran its
    # own, and a burst of them (several load balancers, a monitor) queued for the one
    # health connection past their second, reporting a loaded replica down.
    running: asyncio.Future[tuple[bool, dict[str, Any]]] | None = None

    def done(_f: asyncio.Future[tuple[bool, dict[str, Any]]]) -> None:
        nonlocal running
        running = None

    @router.head("/readyz", include_in_schema=False)
    @router.get("/readyz", summary="Readiness: database, engine and indexer lag")
    async def readyz() -> JSONResponse:
        nonlocal running
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            running = asyncio.ensure_future(check())
            running.add_done_callback(done)
        ok, checks = await asyncio.shield(running)  # a probe that goes away stops no other's
        return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503,
                            headers={"Cache-Control": "no-store"})

    @router.head("/metrics", include_in_schema=False)
    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
