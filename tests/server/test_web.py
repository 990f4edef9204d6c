"""The page, the browser client module and CORS, as the gateway serves them (no model needed)."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server.config import Settings
from server.http.page import CLIENT_DIR, STATIC_DIR, install_web


def client_for(**settings: object) -> TestClient:
    app = Starlette()
    install_web(app, Settings(**settings))  # type: ignore[arg-type]
    return TestClient(app)


@pytest.fixture(scope="module")
def web() -> TestClient:
    return client_for()


def test_page_at_root(web: TestClient) -> None:
    response = web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'id="toggle"' in response.text and 'src="static/app.js"' in response.text
    assert response.text == (STATIC_DIR / "index.html").read_text()


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/client/streamscribe.js", "text/javascript; charset=utf-8"),
        ("/client/pcm-worklet.js", "text/javascript; charset=utf-8"),
        ("/client/pcm.js", "text/javascript; charset=utf-8"),
        ("/client/client.js", "text/javascript; charset=utf-8"),
        ("/client/capture.js", "text/javascript; charset=utf-8"),
        ("/client/protocol.js", "text/javascript; charset=utf-8"),
        ("/client/options.js", "text/javascript; charset=utf-8"),
        ("/client/emitter.js", "text/javascript; charset=utf-8"),
        ("/client/errors.js", "text/javascript; charset=utf-8"),
        ("/client/transcript.js", "text/javascript; charset=utf-8"),
        ("/client/streamscribe.d.ts", "text/plain; charset=utf-8"),
        ("/client/README.md", "text/markdown; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_with_exact_media_types(web: TestClient, path: str, media_type: str) -> None:
    """AudioWorklet.addModule() rejects a module not served as JavaScript."""
    response = web.get(path)
    assert response.status_code == 200, path
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers


def test_client_is_served_from_its_source(web: TestClient) -> None:
    assert web.get("/client/pcm.js").content == (CLIENT_DIR / "pcm.js").read_bytes()


def test_every_module_the_client_imports_is_served(web: TestClient) -> None:
    """Pages import only streamscribe.js; the browser fetches what it imports, and so on."""
    pending = ["streamscribe.js"]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        response = web.get(f"/client/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8", name
        pending += re.findall(r"""^(?:import|export)\b[^;]*?\bfrom '\./([\w.-]+\.js)';""", response.text, re.M)
    assert {"streamscribe.js", "client.js", "pcm.js"} <= seen


@pytest.mark.parametrize(
    "path",
    [
        "/client/package.json",
        "/client/test/pcm.test.mjs",
        "/client/../server/config.py",
        "/client/%2e%2e/pyproject.toml",
        "/static/index.html/x",
        "/static/missing.js",
        "/client/",
    ],
)
def test_nothing_else_is_served(web: TestClient, path: str) -> None:
    assert web.get(path).status_code == 404


def test_conditional_get_revalidates(web: TestClient) -> None:
    first = web.get("/client/streamscribe.js")
    again = web.get("/client/streamscribe.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304


def test_any_origin_by_default(web: TestClient) -> None:
    response = web.get("/client/streamscribe.js", headers={"origin": "https://captions.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = web.options(
        "/v1/audio/transcriptions",
        headers={
            "origin": "https://captions.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_configured_origins_only() -> None:
    web = client_for(cors_origins=["https://a.example"])
    allowed = web.get("/client/pcm.js", headers={"origin": "https://a.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://a.example"
    other = web.get("/client/pcm.js", headers={"origin": "https://b.example"})
    assert "access-control-allow-origin" not in other.headers


def test_cors_off_when_empty() -> None:
    web = client_for(cors_origins=[])
    response = web.get("/client/pcm.js", headers={"origin": "https://a.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSCRIBE_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("STREAMSCRIBE_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
