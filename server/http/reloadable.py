"""Import targets for `--reload`: uvicorn's reloader builds the app anew in each fresh process,
with the settings the environment holds (the command line put its flags there)."""

from __future__ import annotations

from starlette.applications import Starlette

from server.config import Settings
from server.http.app import create_app
from server.runtime.distributed import redis_gateway_runtime


def gateway_app() -> Starlette:
    settings = Settings()
    return create_app(settings, redis_gateway_runtime(settings))
