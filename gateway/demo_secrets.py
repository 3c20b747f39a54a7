"""The secrets ``awsm up --demo`` mints once and keeps in ``<data dir>/secrets.json``
(signing keys and a JWT secret), so signed URLs survive restarts and ``awsm sign-url``
beside it signs with them. Reads a file that is damaged as a ``ConfigError``, never a
traceback; imports nothing heavy (``sign-url`` reads it too)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from awsm.errors import ConfigError
from awsm.settings import parse_signing_keys

__all__ = ["demo_secrets", "read_demo_secrets"]


def read_demo_secrets(path: Path) -> dict[str, str]:
    """The secrets an earlier ``awsm up --demo`` kept in ``path``, or ``ConfigError`` saying
    what is wrong with the file (edited by hand, a directory, keys that do not parse)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the demo's saved secrets "
                           f"({getattr(exc, 'strerror', None) or exc}); remove the file to "
                           "mint new ones (signed URLs made with the old key stop working)"]
                          ) from None
    values = saved if isinstance(saved, dict) else {}
    keys, jwt = values.get("AWSM_SIGNING_KEYS"), values.get("AWSM_JWT_SECRET", "")
    problem = "" if isinstance(keys, str) and isinstance(jwt, str) else \
        "expected {\"AWSM_SIGNING_KEYS\": \"id:secret\", \"AWSM_JWT_SECRET\": \"...\"}"
    if not problem:
        try:
            parse_signing_keys(keys)  # type: ignore[arg-type]
        except ValueError as exc:
            problem = f"AWSM_SIGNING_KEYS {exc}"
    if problem:
        raise ConfigError([f"{path}: {problem}; remove the file to mint new secrets"])
    out = {"AWSM_SIGNING_KEYS": keys}
    if jwt:  # (sign-url needs the signing keys alone)
        out["AWSM_JWT_SECRET"] = jwt
    return out  # type: ignore[return-value]


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """Demo mode mints its own keys once and keeps them, so signed URLs survive restarts."""
    path = data_dir / "secrets.json"
    if path.exists():
        return read_demo_secrets(path)
    values = {
        "AWSM_SIGNING_KEYS": f"demo:{secrets.token_urlsafe(32)}",
        "AWSM_JWT_SECRET": secrets.token_urlsafe(32),
    }
    # whole or not at all, and never readable by others, even for an instant: a kill part
    # way through a plain write left a truncated file every later start failed to parse
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)  # one a killed run left, with whatever mode it had
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(values))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return values
