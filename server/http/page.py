"""The browser side of the gateway: the live-caption page at `/`, its assets
under `/static/`, the browser client module (`client-js/` of the repository)
under `/client/`, and CORS so other sites can embed the client.

The page (`server/static/`) is package data. The client module is served
straight from `client-js/` next to the `server` package, its single source:
that is where it is in a checkout and in an editable install
(`pip install -e .`, what `scripts/serve` and `scripts/test` do). Where it is
missing (a plain wheel install), `/client/` answers 404 and a warning is
logged at start-up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from server.config import Settings

log = logging.getLogger("streamscribe.web")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CLIENT_DIR = Path(__file__).resolve().parent.parent.parent / "client-js"

MEDIA_TYPES = {
    # AudioWorklet.addModule() and <script type="module"> refuse modules that
    # are not served as JavaScript; Python 3.11's mimetypes says
    # application/javascript or whatever /etc/mime.types has, so it is set here.
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",
}


class AssetFiles(StaticFiles):
    """StaticFiles with fixed media types, revalidation on every load, and only
    the top-level files whose suffix is listed (no tests or package files)."""

    def __init__(self, directory: Path, suffixes: frozenset[str]) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.suffixes = suffixes

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        posix = PurePosixPath(path)
        if len(posix.parts) != 1 or posix.suffix not in self.suffixes:
            return "", None
        return super().lookup_path(path)

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = MEDIA_TYPES.get(Path(full_path).suffix)
        if media_type is not None:
            response.headers["content-type"] = media_type
        response.headers["cache-control"] = "no-cache"
        response.headers["x-content-type-options"] = "nosniff"
        return response


async def index(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type=MEDIA_TYPES[".html"],
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )


def web_routes() -> list[BaseRoute]:
    """`/` (the page), `/static/...` (its assets), `/client/...` (the client module)."""
    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", AssetFiles(STATIC_DIR, frozenset({".js", ".css", ".svg", ".png", ".ico"})), name="static"),
    ]
    if (CLIENT_DIR / "streamscribe.js").is_file():
        routes.append(Mount("/client", AssetFiles(CLIENT_DIR, frozenset({".js", ".ts", ".md"})), name="client"))
    else:
        log.warning("browser client not found at %s: /client/ will answer 404", CLIENT_DIR)
    return routes


def install_web(app: Starlette, settings: Settings) -> None:
    """Add the page, the client module and (unless `cors_origins` is empty) CORS to `app`."""
    app.router.routes.extend(web_routes())
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=600,
        )
