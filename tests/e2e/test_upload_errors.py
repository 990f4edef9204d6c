"""Bad uploads answered with 4xx errors that say what was wrong, in each SDK's error format;
size limits and keys on a strict server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from testbed import audio, corpora
from testbed.server import ServerProcess
from tests.e2e.conftest import STRICT_MAX_UPLOAD_BYTES, TEST_API_KEY
from tests.e2e.uploads import (
    CONTAINERS,
    JFK_WER_BOUND,
    ffmpeg,
    openai_client,
    post_listen,
    post_openai,
)

pytestmark = pytest.mark.e2e


# -- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "status", "code", "words"),
    [
        ("empty", {}, 400, "EMPTY_BODY", ["empty"]),
        ("text", {}, 400, "UNSUPPORTED_FILE_TYPE", ["text/plain", "not audio"]),
        ("png", {}, 400, "UNSUPPORTED_FILE_TYPE", ["image/png", "not audio"]),
        ("truncated", {}, 400, "INVALID_FILE", ["truncated"]),
        ("jfk", {"language": "not a language!"}, 400, "INVALID_QUERY_PARAMETER", ["language"]),
        ("jfk", {"utterances": "maybe"}, 400, "INVALID_VALUE", ["utterances"]),
    ],
)
def test_deepgram_route_refuses_bad_input(
    server: ServerProcess,
    files: dict[str, Path],
    name: str,
    params: dict[str, str],
    status: int,
    code: str,
    words: list[str],
) -> None:
    response = post_listen(server, files[name].read_bytes(), **params)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"err_code", "err_msg", "request_id"} and body["err_code"] == code
    assert all(word in body["err_msg"] for word in words), body["err_msg"]


def test_deepgram_route_explains_multipart_and_url_requests(server: ServerProcess, files: dict[str, Path]) -> None:
    multipart = httpx.post(f"{server.http_url}/v1/listen", files={"file": ("a.ogg", files["jfk"].read_bytes())})
    assert multipart.status_code == 400 and "/v1/audio/transcriptions" in multipart.json()["err_msg"]
    by_url = httpx.post(f"{server.http_url}/v1/listen", json={"url": "https://example.com/a.wav"})
    assert by_url.status_code == 400 and "URL" in by_url.json()["err_msg"]


@pytest.mark.parametrize(
    ("upload", "data", "param", "words"),
    [
        (("empty.wav", "empty"), {"model": "whisper-1"}, "file", ["empty", "0 bytes"]),
        (("picture.wav", "png"), {"model": "whisper-1"}, "file", ["picture.wav", "image/png"]),
        (("cut.webm", "truncated"), {"model": "whisper-1"}, "file", ["cut.webm", "truncated"]),
        (("a.ogg", "jfk"), {}, "model", ["model"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "response_format": "docx"}, "response_format", ["docx"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "temperature": "7"}, "temperature", ["temperature"]),
        (("a.ogg", "jfk"), {"model": "whisper-1", "speed": "2"}, "speed", ["Unrecognized", "speed"]),
        (
            ("a.ogg", "jfk"),
            {"model": "whisper-1", "stream": "true", "response_format": "srt"},
            "response_format",
            ["stream"],
        ),
    ],
)
def test_openai_route_refuses_bad_input(
    server: ServerProcess,
    files: dict[str, Path],
    upload: tuple[str, str],
    data: dict[str, str],
    param: str | None,
    words: list[str],
) -> None:
    filename, key = upload
    response = post_openai(server, {"file": (filename, files[key].read_bytes())}, data)
    assert response.status_code == 400
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert all(word in error["message"] for word in words), error["message"]


def test_openai_route_names_wrong_field_names(server: ServerProcess, files: dict[str, Path]) -> None:
    wrong = post_openai(server, {"audio": ("a.ogg", files["jfk"].read_bytes())}, {"model": "whisper-1"})
    assert wrong.status_code == 400
    message = wrong.json()["error"]["message"]
    assert "'file'" in message and "audio" in message
    not_multipart = httpx.post(f"{server.http_url}/v1/audio/transcriptions", json={"file": "a.ogg"})
    assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.json()["error"]["message"]
    as_text = post_openai(server, {"file": (None, b"not a file"), "model": (None, b"whisper-1")})
    assert as_text.status_code == 400 and as_text.json()["error"]["param"] == "file"


def test_strict_server_limits_size_and_checks_keys(strict_server: ServerProcess, files: dict[str, Path]) -> None:
    small = files["jfk"].read_bytes()
    big = files["jfk.wav"].read_bytes()
    assert len(small) < STRICT_MAX_UPLOAD_BYTES < len(big)
    auth = {"authorization": f"Token {TEST_API_KEY}"}

    refused = post_listen(strict_server, small)
    assert refused.status_code == 401 and refused.json()["err_code"] == "INVALID_AUTH"
    with (
        pytest.raises(openai.AuthenticationError),
        files["jfk"].open("rb") as f,
        openai_client(strict_server, api_key="wrong") as wrong_key,
    ):
        wrong_key.audio.transcriptions.create(file=f, model="whisper-1")

    too_big = post_listen(strict_server, big, headers=auth)
    assert too_big.status_code == 413
    assert str(STRICT_MAX_UPLOAD_BYTES) in too_big.json()["err_msg"] and "max_upload_bytes" in too_big.json()["err_msg"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for offset in range(0, len(big), 32768):
            yield big[offset : offset + 32768]

    chunked = httpx.post(f"{strict_server.http_url}/v1/listen", content=chunks(), headers=auth, timeout=60)
    assert chunked.status_code == 413

    too_big_form = post_openai(
        strict_server, {"file": ("big.wav", big)}, {"model": "whisper-1"}, {"authorization": f"Bearer {TEST_API_KEY}"}
    )
    assert too_big_form.status_code == 413 and too_big_form.json()["error"]["code"] == "file_too_large"

    with files["jfk"].open("rb") as f, openai_client(strict_server, api_key=TEST_API_KEY) as client:
        result = client.audio.transcriptions.create(file=f, model="whisper-1")
    assert audio.wer(corpora.JFK_TEXT, result.text) <= JFK_WER_BOUND
    accepted = post_listen(strict_server, small, headers=auth)
    assert accepted.status_code == 200
    archive = accepted.json()["metadata"]["archive"]
    assert archive["stored"] is False and "archive-is-a-file" in archive["error"]


@pytest.mark.parametrize(("ext", "declared"), [("flac", True), ("ogg", False)])
def test_a_file_that_decodes_past_the_limit_is_refused_with_413(
    strict_server: ServerProcess, tmp_path: Path, ext: str, declared: bool
) -> None:
    """Compressed silence: a small file, 90 s of audio against a 60 s limit. FLAC declares its length
    (refused before decoding), Ogg/Opus does not (stopped once the decoded audio passes the limit)."""
    audio.write_wav(tmp_path / "silence.wav", audio.silence(90.0))
    body = ffmpeg(tmp_path / "silence.wav", tmp_path / f"silence.{ext}", CONTAINERS[ext][0]).read_bytes()
    assert len(body) < STRICT_MAX_UPLOAD_BYTES
    refused = post_listen(strict_server, body, headers={"authorization": f"Token {TEST_API_KEY}"})
    assert refused.status_code == 413, refused.text
    message = refused.json()["err_msg"]
    assert "too long" in message and "1:00" in message and "max_upload_seconds" in message
    assert ("header declares 1:30" in message) == declared


def test_a_truncated_wav_is_refused(server: ServerProcess, files: dict[str, Path]) -> None:
    whole = files["jfk.wav"].read_bytes()
    cut = post_listen(server, whole[: len(whole) // 2])
    assert cut.status_code == 400, cut.text
    assert cut.json()["err_code"] == "INVALID_FILE" and "truncated" in cut.json()["err_msg"]


async def test_a_stalled_upload_is_answered_408_and_counted_while_it_lasts(strict_server: ServerProcess) -> None:
    host, port = strict_server.http_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /v1/listen HTTP/1.1\r\nHost: x\r\nAuthorization: Token {TEST_API_KEY}\r\nContent-Length: 100000\r\n\r\n"
    )
    writer.write(head.encode() + b"RIFF")  # then nothing: a slow-loris client
    await writer.drain()
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{strict_server.http_url}/readyz", headers={"authorization": f"Token {TEST_API_KEY}"})
    assert ready.json()["sessions"] >= 1  # it holds a slot from its first byte
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stalled" in answer and b"upload_read_timeout_s" in answer
