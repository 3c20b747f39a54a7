"""The gateway's app over a temporary media root (no database: media needs none), driven
in-process through real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from awsm.settings import Settings, load_settings
from gateway.app import create_app
from media_svc.signing import sign_path

KEYS = "k2:second-secret-0123456789abcdef,k1:first-secret-0123456789abcdef"


@dataclass
class MediaApp:
    settings: Settings
    app: FastAPI

    @property
    def root(self) -> Path:
        return self.settings.resolved_media_root

    def put(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return name

    def url(self, source: str, options: str = "_", expires: int | None = None) -> str:
        return sign_path(self.settings.signing_key_list, options, source, expires)

    async def arequest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://media.test") as c:
            return await c.request(method, path, **kwargs)

    def get(self, path: str, **headers: str) -> httpx.Response:
        return asyncio.run(self.arequest("GET", path, headers=headers))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return asyncio.run(self.arequest(method, path, **kwargs))


def make_media_app(tmp_path: Path, **overrides: Any) -> MediaApp:
    settings = load_settings({}, **{"data_dir": str(tmp_path), "signing_keys": KEYS, **overrides})
    settings.resolved_media_root.mkdir(parents=True, exist_ok=True)
    return MediaApp(settings, create_app(settings))


@pytest.fixture
def media(tmp_path: Path) -> MediaApp:
    return make_media_app(tmp_path)


@pytest.fixture
def media_factory(tmp_path: Path) -> Callable[..., MediaApp]:
    return lambda **overrides: make_media_app(tmp_path, **overrides)


@contextlib.contextmanager
def disk_full(limit: int = 100) -> Iterator[None]:
    """Writing a file past ``limit`` bytes fails (EFBIG), as on a full disk (ENOSPC): this
    process's file-size limit, with the signal that would kill it ignored."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
