"""Health, readiness, metrics, authentication, admission, the CLI and model resolution."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
import websockets

from server.transcribe.model_files import ModelError, resolve_model
from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess, listen_url, stream
from tests.e2e.conftest import TEST_API_KEY

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_health_ready_and_metrics(server: ServerProcess) -> None:
    assert get(server.http_url + "/healthz")[0] == 200
    status, body = get(server.http_url + "/readyz")
    assert status == 200
    assert json.loads(body)["ready"] is True
    asyncio.run(stream(listen_url(server.ws_url), audio.to_linear16(corpora.jfk().audio[:48000])))
    status, metrics = get(server.http_url + "/metrics")
    assert status == 200
    assert "streamscribe_sessions_total" in metrics
    sessions = next(line for line in metrics.splitlines() if line.startswith("streamscribe_sessions_total "))
    assert float(sessions.split()[1]) >= 1
    assert 'streamscribe_whisper_seconds_count{kind="final"}' in metrics


def test_monitoring_needs_a_credential_when_keys_are_set(strict_server: ServerProcess) -> None:
    base = strict_server.http_url
    assert get(base + "/healthz")[0] == 200  # liveness stays open for probes
    assert get(base + "/metrics")[0] == 401
    assert get(base + "/metrics", {"Authorization": "Bearer nope"})[0] == 401
    status, metrics = get(base + "/metrics", {"Authorization": f"Token {TEST_API_KEY}"})
    assert status == 200 and "streamscribe_sessions_total" in metrics
    status, body = get(base + "/readyz")
    assert status == 200 and json.loads(body) == {"ready": True}  # nothing about workers, model or sessions
    status, body = get(base + "/readyz", {"Authorization": f"Bearer {TEST_API_KEY}"})
    assert {"ready", "detail", "warm_workers", "sessions"} <= set(json.loads(body))


@pytest.mark.parametrize("spelling", ["token", "Token"])
async def test_subprotocol_token_authenticates_and_is_echoed_as_spelled(
    strict_server: ServerProcess, spelling: str
) -> None:
    async with websockets.connect(
        listen_url(strict_server.ws_url),
        subprotocols=[websockets.Subprotocol(spelling), websockets.Subprotocol(TEST_API_KEY)],
    ) as ws:
        assert ws.subprotocol == spelling
        await ws.send(json.dumps({"type": "CloseStream"}))
        metadata = json.loads(await ws.recv())
        assert metadata["type"] == "Metadata"


async def test_missing_or_wrong_key_gets_401(strict_server: ServerProcess) -> None:
    for headers in (None, {"Authorization": "Token nope"}, {"Authorization": f"Basic {TEST_API_KEY}"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(listen_url(strict_server.ws_url), additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401


async def test_capacity_refuses_with_1013_and_accepts_again(strict_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    url = listen_url(strict_server.ws_url)
    first = await websockets.connect(url, additional_headers=headers)
    second = await websockets.connect(url, additional_headers=headers)
    try:
        async with websockets.connect(url, additional_headers=headers) as third:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(third.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1013
            assert "max_sessions" in closed.value.rcvd.reason
    finally:
        await first.close()
        await second.close()
    # The server frees the slots when it sees the closes: retry instead of guessing how long that takes.
    deadline = time.monotonic() + 30
    while True:
        received = await stream(url, audio.to_linear16(audio.silence(0.5)), headers=headers)
        if received.close_code != 1013 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert received.close_code == 1000, received.close_reason


def test_cli_stream_prints_finals(server: ServerProcess, tmp_path: Path) -> None:
    clip = corpora.jfk()
    wav = tmp_path / "jfk.wav"
    audio.write_wav(wav, clip.audio)
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "stream", str(wav), "--url", server.http_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    finals = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if line[:2] in (".[", " [")]
    assert audio.wer(clip.text, " ".join(finals)) <= 0.15, result.stdout
    assert "s of audio, request" in result.stdout


def test_cli_stream_reports_unreadable_file(server: ServerProcess, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio at all")
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "stream", str(bogus), "--url", server.ws_url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "notes.wav" in result.stderr


def test_serve_with_missing_model_fails_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--model", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr


def test_broken_model_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=r"missing model\.bin"):
        resolve_model(str(tmp_path), tmp_path / "cache")


def test_packaged_models_resolve_and_base_is_joined_once(tmp_path: Path) -> None:
    tiny = resolve_model("tiny.en", tmp_path)
    assert tiny.multilingual is False and (tiny.path / "model.bin").is_file()
    base = resolve_model("base", tmp_path)
    assert base.multilingual is True
    assert base.path == tmp_path / "models" / "base"
    joined = base.path / "model.bin"
    first_mtime = joined.stat().st_mtime_ns
    assert resolve_model("base", tmp_path).path == base.path
    assert joined.stat().st_mtime_ns == first_mtime


def test_models_command_lists_packaged_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "models"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0
    assert "tiny.en" in result.stdout and "base" in result.stdout


def test_base_model_transcribes(tmp_path: Path) -> None:
    """A local CTranslate2 directory (here: the joined base model) serves like a packaged one."""
    base = resolve_model("base", tmp_path)
    server = ServerProcess(archive_dir=tmp_path / "archive", args=("--model", str(base.path))).start()
    try:
        clip = corpora.jfk()
        received = asyncio.run(stream(listen_url(server.ws_url), audio.to_linear16(clip.audio)))
        assert audio.wer(clip.text, received.final_text()) <= 0.15, received.final_text()
        assert received.finals[0]["metadata"]["model_info"]["name"] == "base"
    finally:
        server.stop()


@pytest.mark.parametrize(("query_bytes", "status"), [(6000, 414), (12000, 414), (40000, 414)])
async def test_an_oversized_handshake_is_answered_at_once(server: ServerProcess, query_bytes: int, status: int) -> None:
    """Past 4 KiB of query: 414, whatever the size (the handshake parser once failed silently past 8 KiB)."""
    url = listen_url(server.ws_url, tag="x" * query_bytes)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with asyncio.timeout(10), websockets.connect(url, max_size=None):
            pass
    assert refused.value.response.status_code == status
    async with httpx.AsyncClient(timeout=10) as client:
        long_post = await client.post(server.http_url + "/v1/listen", params={"tag": "y" * 6000}, content=b"x")
    assert long_post.status_code == 414
