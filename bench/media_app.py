"""The media router alone as an ASGI app, for bench/media.py to serve with uvicorn.

``uvicorn bench.media_app:create --factory``; configuration from ``AWSM_*`` variables.
"""

from __future__ import annotations

from fastapi import FastAPI

from awsm.settings import load_settings
from gateway.errors import install_error_handlers
from media_svc.api import build_router


def create() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(load_settings()))
    return app
