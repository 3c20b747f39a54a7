"""The one settings object: every ``AWSM_*`` environment variable, read once at start.

Values come from defaults, then an optional TOML file (``AWSM_CONFIG_FILE``), then
the environment. ``validate_for()`` reports every bad variable at once and refuses to
start unsafe (no signing key, no JWT secret) outside demo mode. Nothing else in awsm
reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from awsm.errors import ConfigError

__all__ = ["Settings", "load_settings", "parse_signing_keys"]


_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


def _conninfo_value_problem(params: dict[str, Any]) -> str | None:
    """What libpq would refuse in a parsed connection string's values, or None."""
    for port in str(params.get("port") or "").split(","):  # a port per host, or one
        if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            return f"has the port {port[:20]!r}: a port is a number from 1 to 65535"
    timeout = str(params.get("connect_timeout") or "")
    if timeout and not (timeout.isascii() and timeout.lstrip("-").isdigit()):
        return f"has connect_timeout={timeout[:20]!r}: it takes whole seconds"
    mode = params.get("sslmode")
    if mode is not None and mode not in _SSLMODES:
        return f"has sslmode={str(mode)[:20]!r}: it takes {', '.join(sorted(_SSLMODES))}"
    return None

def parse_signing_keys(raw: str) -> list[tuple[str, bytes]]:
    """``id1:secret1,id2:secret2`` → ``[(id, secret)]``; the first one signs."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id.strip() or len(secret) < 16:
            raise ValueError(
                "must look like 'id1:secret1,id2:secret2', each secret at least 16 characters"
            )
        keys.append((key_id.strip(), secret.encode()))
    return keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AWSM_", extra="ignore")

    # where things live
    data_dir: Path = Path(".awsm")
    database_url: str | None = None
    database_read_url: str | None = None
    mapping_file: Path | None = None

    # the API
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: str = ""
    # a request's line and headers must arrive within this long and fit in this much
    http_header_timeout_s: float = Field(10.0, ge=1, le=300)
    http_max_header_bytes: int = Field(65_536, ge=4096, le=1_048_576)
    # ... and an upload's body within this long after them
    http_body_timeout_s: float = Field(60.0, ge=1, le=3600)
    search_max_age_s: int = Field(10, ge=0)
    search_s_maxage_s: int = Field(60, ge=0)
    search_stale_while_revalidate_s: int = Field(300, ge=0)
    # 0 or nan would re-read the tenants table back to back, inf never again
    tenant_cache_ttl_s: float = Field(5.0, gt=0, allow_inf_nan=False)

    # keyword engine
    engine: Literal["auto", "tantivy", "meilisearch"] = "auto"
    meili_url: str | None = None
    meili_key: str | None = None
    meili_index: str = "awsm_documents"
    meili_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    # indexing memory of a Tantivy rebuild (backfill); see docs/configuration.md
    tantivy_rebuild_memory_mb: int = Field(1000, ge=16, le=4000)  # tantivy's bounds, one thread

    # change-data capture
    slot_name: str = "awsm_slot"
    publication_name: str = "awsm_pub"
    heartbeat_interval_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    schedule_interval_s: float = Field(1.0, gt=0, allow_inf_nan=False)
    batch_max_changes: int = Field(5000, ge=1)  # 0: no message would ever be read
    backfill_chunk_rows: int = Field(1000, ge=1)  # 0: LIMIT 0, an empty backfill

    # embeddings (semantic search); see docs/embeddings.md
    embedder: Literal["none", "sentence-transformers", "use-multilingual", "e5-multilingual"] = "none"
    embedding_model: str = "all-MiniLM-L6-v2"  # sentence-transformers: a model id or a local path
    embedding_threads: int = Field(1, ge=1)  # model threads; one was best on 2 cores but MiniLM
    embedding_batch_size: int = Field(32, ge=1)
    embedding_max_tokens: int | None = Field(None, ge=16)  # None: the model's own limit
    embedding_query_prefix: str | None = None  # None: the model's own convention
    embedding_document_prefix: str | None = None

    # security
    signing_keys: str = ""
    jwt_secret: str | None = None
    jwt_audience: str | None = None
    demo: bool = False

    # media
    media_root: Path | None = None
    media_http_origins: str = ""
    media_allow_private_addresses: bool = False
    media_max_source_bytes: int = Field(25 * 1024 * 1024, ge=1)
    media_max_source_pixels: int = Field(40_000_000, ge=1)
    media_max_output_pixels: int = Field(16_000_000, ge=1)
    media_max_frames: int = Field(200, ge=1)
    media_max_concurrent: int = Field(4, ge=1)
    media_queue_size: int = Field(32, ge=0)  # 0: a 429 whenever every thread is busy
    media_transform_timeout_s: float = Field(20.0, gt=0, allow_inf_nan=False)
    media_cache_dir: Path | None = None
    media_cache_max_bytes: int = Field(1024 * 1024 * 1024, ge=0)
    media_strip_metadata: bool = True
    media_avif_speed: int = Field(8, ge=0, le=10)  # the encoder's range
    media_supabase_render: bool = False
    media_render_widths: str = "16,32,48,64,96,128,256,384,640,750,828,1080,1200,1920,2048,3840"
    media_render_qualities: str = "50,75,80,90"
    media_max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1)
    media_http_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    media_origin_cache_max_bytes: int = Field(512 * 1024 * 1024, ge=0)
    media_origin_ttl_s: float = Field(3600.0, ge=0, allow_inf_nan=False)
    media_srcset_widths: str = "320,640,960,1280,1920"
    media_render_origin: str = ""

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        # load_settings() merges file, environment and overrides itself, so the
        # precedence is explicit and tests can pass an isolated environment.
        return (init_settings,)

    @field_validator("log_level", "engine", "embedder", mode="before")
    @classmethod
    def _lower_choice(cls, v: Any) -> Any:
        # a choice of names, written as an operator may: "Meilisearch", " INFO "
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("jwt_secret")
    @classmethod
    def _long_jwt_secret(cls, v: str | None) -> str | None:
        # an HS256 key of fewer than 256 bits can be found offline from one token (RFC
        # 7518 3.2); Supabase's JWT secrets have at least 32 characters
        if v and len(v) < 32:
            raise ValueError("must be at least 32 characters (your Supabase project's JWT "
                             "secret is); a shorter one can be guessed from any token")
        return v

    @field_validator("jwt_audience")
    @classmethod
    def _no_empty_audience(cls, v: str | None) -> str | None:
        # set but empty (compose's ${VAR:-}) means unset, as for every other URL or
        # secret: no token carries aud "", so it would refuse every upload
        return (v or "").strip() or None

    @field_validator("meili_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        # any other scheme failed only in the indexer, restarted for ever ("ftp://...")
        if v is not None and not v.strip():
            return None  # set but blank: not set, as for the paths
        if v:
            parts = urlsplit(v.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL with a host, e.g. "
                                 "http://127.0.0.1:7700")
            return v.strip()
        return v

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: str) -> str:
        # compared with the browser's Origin as exact strings: "https://a.example/",
        # "https://A.example" or "a.example" silently allowed nobody
        out = []
        for raw in (o.strip() for o in v.split(",")):
            if not raw or raw == "*":
                out += [raw] if raw else []
                continue
            parts = urlsplit(raw)
            try:
                port = parts.port
            except ValueError:
                port = -1
            if (parts.scheme.lower() not in ("http", "https") or not parts.hostname
                    or parts.path not in ("", "/") or parts.query or parts.fragment
                    or parts.username or parts.password or port == -1
                    or not parts.hostname.isascii()):  # browsers send xn-- names
                raise ValueError(f"{raw!r} is not an origin: write each as "
                                 "scheme://host[:port], e.g. https://www.example.com "
                                 "(an internationalised name in punycode, xn--...)")
            scheme = parts.scheme.lower()
            default = {"http": 80, "https": 443}[scheme]
            netloc = parts.hostname + (f":{port}" if port not in (None, default) else "")
            if ":" in parts.hostname:  # IPv6
                netloc = f"[{parts.hostname}]" + netloc[len(parts.hostname):]
            out.append(f"{scheme}://{netloc}")
        return ",".join(dict.fromkeys(out))

    @field_validator("meili_index")
    @classmethod
    def _index_uid(cls, v: str) -> str:
        # it goes into URL paths as it is; Meilisearch allows these characters, 400 bytes,
        # and a rebuild's shadow index adds 18 ("__rebuild_" and 8 hex digits)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,382}", v):
            raise ValueError("must be 1-382 characters of A-Z a-z 0-9 _ - (a Meilisearch "
                             "index name; rebuilds add 18 characters to it)")
        return v

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _conninfo(cls, v: str | None) -> str | None:
        # checked here, where libpq's complaint is not repeated: it quotes the string,
        # password and all, and went to the API's log and the indexer's traceback
        if v:
            try:
                params = conninfo_to_dict(v)
            except ProgrammingError:
                raise ValueError(
                    "is neither a PostgreSQL URL (postgresql://user:password@host:5432/db) "
                    "nor a 'host=... dbname=...' string; percent-encode @ : / % # in the "
                    "password (not shown here)") from None
            # libpq parses these only when it connects: a server that was never tried
            # again ("invalid port number") or an indexer that died with a traceback
            problem = _conninfo_value_problem(params)
            if problem:
                raise ValueError(problem)
        return v

    @field_validator("data_dir", "mapping_file", "media_root", "media_cache_dir",
                     mode="before")
    @classmethod
    def _no_empty_path(cls, v: Any, info: ValidationInfo) -> Any:
        # set but empty means the default: Path("") is ".", the working directory
        if isinstance(v, str) and not v.strip():
            return cls.model_fields[str(info.field_name)].default
        return v

    @field_validator("signing_keys")
    @classmethod
    def _signing_keys_parse(cls, v: str) -> str:
        # a parse problem, reported with the others by every command (sign-url included)
        parse_signing_keys(v)
        return v

    @field_validator("slot_name", "publication_name")
    @classmethod
    def _pg_name(cls, v: str) -> str:
        if not v or len(v) > 63 or not all(c.islower() or c.isdigit() or c == "_" for c in v):
            raise ValueError("must be 1-63 characters of lower-case letters, digits and '_'")
        return v

    # derived values -------------------------------------------------------
    @property
    def signing_key_list(self) -> list[tuple[str, bytes]]:
        return parse_signing_keys(self.signing_keys)

    @property
    def resolved_media_root(self) -> Path:
        return self.media_root or self.data_dir / "media"

    @property
    def resolved_media_cache_dir(self) -> Path:
        return self.media_cache_dir or self.data_dir / "cache" / "media"

    @property
    def tantivy_dir(self) -> Path:
        return self.data_dir / "tantivy"

    @property
    def engine_kind(self) -> str:
        if self.engine == "auto":
            return "meilisearch" if self.meili_url else "tantivy"
        return self.engine

    @property
    def query_database_url(self) -> str | None:
        return self.database_read_url or self.database_url

    def validate_for(self, role: Literal["api", "indexer", "stack"]) -> None:
        """Raise one ``ConfigError`` that lists every problem for this role."""
        problems: list[str] = []  # (a malformed AWSM_SIGNING_KEYS never loads)
        if not self.demo:
            if role in ("api", "stack") and not self.signing_keys:
                problems.append(
                    "AWSM_SIGNING_KEYS is not set: media URLs cannot be signed. Set it to "
                    "'id1:<random 32+ chars>' (or run the demo with `awsm up --demo`)."
                )
            if role in ("api", "indexer") and not self.database_url:
                problems.append(
                    "AWSM_DATABASE_URL is not set: point it at the AWCMS primary "
                    "(postgresql://...), or use `awsm up` for the embedded database."
                )
        if self.engine == "meilisearch" and not self.meili_url:
            problems.append("AWSM_ENGINE=meilisearch needs AWSM_MEILI_URL.")
        if problems:
            raise ConfigError(problems)


def _file_values(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError([f"AWSM_CONFIG_FILE points at {path}, which does not exist."]) from exc
    except OSError as exc:  # a directory, no permission
        raise ConfigError([f"AWSM_CONFIG_FILE {path} cannot be read: "
                           f"{exc.strerror or exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8 only
        raise ConfigError([f"AWSM_CONFIG_FILE {path} is not valid TOML: {exc}"]) from exc
    return {str(k).lower(): v for k, v in raw.items()}


def _did_you_mean(name: str, spell: Callable[[str], str]) -> str:
    close = difflib.get_close_matches(name, sorted(Settings.model_fields), n=1)
    return f" (did you mean {spell(close[0])}?)" if close else ""


MAX_UNKNOWN_SHOWN = 20  # keys of a config file that are no setting, told one by one

def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (or ``environ``), a config file and overrides."""
    import os

    env = dict(os.environ if environ is None else environ)
    file_values: dict[str, Any] = {}
    if env.get("AWSM_CONFIG_FILE"):
        file_values = _file_values(Path(env["AWSM_CONFIG_FILE"]))
    env_values = {
        k[len("AWSM_"):].lower(): v
        for k, v in env.items()
        if k.startswith("AWSM_") and k != "AWSM_CONFIG_FILE"
    }
    # a misspelt name would otherwise leave its setting at the default without a word
    unknown_file = sorted(set(file_values) - set(Settings.model_fields))
    if unknown_file:
        # the first few, each with its closest name: a file of thousands once took a
        # minute of fuzzy matching and tens of megabytes of output
        shown = unknown_file[:MAX_UNKNOWN_SHOWN]
        more = len(unknown_file) - len(shown)
        raise ConfigError([f"AWSM_CONFIG_FILE {env['AWSM_CONFIG_FILE']}: {k!r} is not a "
                           f"setting{_did_you_mean(k, lambda n: repr(n))}" for k in shown]
                          + ([f"AWSM_CONFIG_FILE {env['AWSM_CONFIG_FILE']}: {more} more keys "
                              "that are not settings"] if more else []))
    for k in sorted(set(env_values) - set(Settings.model_fields)):
        if not k.startswith("test_"):  # AWSM_TEST_*: the test suite's own switches
            logging.getLogger("awsm.settings").warning(
                "AWSM_%s is not a setting and is ignored%s", k.upper(),
                _did_you_mean(k, lambda n: f"AWSM_{n.upper()}"))
    given = {k: v for k, v in overrides.items() if v is not None}
    values = {**file_values, **env_values, **given}

    def source(name: str) -> str:
        """Where the value that won came from: a flag, the environment or the file."""
        if name in given:
            return f"--{name.replace('_', '-')}"
        if name in file_values and name not in env_values:
            return f"AWSM_CONFIG_FILE {env['AWSM_CONFIG_FILE']}: {name}"
        return f"AWSM_{name.upper()}"

    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = [f"{source(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
                    for err in exc.errors()]
        raise ConfigError(problems) from exc
