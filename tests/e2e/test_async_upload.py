"""Asynchronous uploads (`POST /v1/listen?callback=URL`) against the real server and model, with a real webhook
receiver: Deepgram's `{"request_id"}` at once, a signed callback carrying what the synchronous upload answers
for the same file, the status moving to done; bad uploads refused at once; a job whose server is killed is
finished by the server started again on the same directory."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.webhook_security import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature
from testbed import audio, corpora
from testbed.receiver import WebhookReceiver
from testbed.server import ServerProcess
from tests.e2e.conftest import STRICT_MAX_UPLOAD_BYTES, TEST_API_KEY, WEBHOOK_SECRET
from tests.e2e.uploads import JFK_WER_BOUND, deepgram_client, post_listen

pytestmark = pytest.mark.e2e

PUBLIC_CALLBACK = "https://hooks.example.com/streamscribe"
"""Never called: the uploads that name it are refused (the strict server allows no private callbacks)."""


def alternative(response: dict[str, Any]) -> dict[str, Any]:
    return dict(response["results"]["channels"][0]["alternatives"][0])


def status(server: ServerProcess, request_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{server.http_url}/v1/listen/{request_id}", headers=headers, timeout=30)


def test_the_callback_carries_what_the_synchronous_upload_gives(server: ServerProcess, files: dict[str, Path]) -> None:
    body = files["jfk.wav"].read_bytes()
    synchronous = post_listen(server, body, utterances="true")
    assert synchronous.status_code == 200, synchronous.text
    with WebhookReceiver() as hook:
        accepted = post_listen(server, body, utterances="true", callback=hook.url)
        assert accepted.status_code == 200, accepted.text
        request_id = accepted.json()["request_id"]
        assert accepted.json() == {"request_id": request_id}
        early = status(server, request_id).json()
        assert not hook.deliveries, "answered before the transcript exists"
        bodies = hook.wait_for(lambda bodies: len(bodies) >= 1, timeout_s=120)
        time.sleep(0.5)  # a second callback would be a bug
        (delivery,) = hook.deliveries
    assert early["status"] in ("queued", "running") and early["result"] is None
    assert early["callback"] == {"delivered": None} and early["error"] is None
    assert bodies and verify_signature(WEBHOOK_SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
    assert delivery.headers[EVENT_ID_HEADER.lower()] == f"{request_id}.result"
    callback, expected = delivery.json(), synchronous.json()
    assert callback["metadata"]["request_id"] == request_id
    assert alternative(callback)["transcript"] == alternative(expected)["transcript"]
    assert [w["word"] for w in alternative(callback)["words"]] == [w["word"] for w in alternative(expected)["words"]]
    assert [u["transcript"] for u in callback["results"]["utterances"]] == [
        u["transcript"] for u in expected["results"]["utterances"]
    ]
    for field in ("sha256", "duration", "channels", "models"):
        assert callback["metadata"][field] == expected["metadata"][field], field
    assert audio.wer(corpora.JFK_TEXT, alternative(callback)["transcript"]) <= JFK_WER_BOUND
    deadline = time.monotonic() + 30
    while (final := status(server, request_id).json())["callback"]["delivered"] is None:
        assert time.monotonic() < deadline, final
        time.sleep(0.1)
    assert final["status"] == "done" and final["callback"] == {"delivered": True}
    assert final["result"] == callback and final["created"] == early["created"]


def test_the_deepgram_sdk_gets_the_request_id_then_the_callback(server: ServerProcess, files: dict[str, Path]) -> None:
    with WebhookReceiver() as hook, deepgram_client(server) as client:
        accepted = client.listen.v1.media.transcribe_file(
            request=files["jfk"].read_bytes(), callback=hook.url, callback_method="post", model="nova-3"
        )
        request_id = getattr(accepted, "request_id", None)
        assert isinstance(request_id, str) and request_id, accepted
        bodies = hook.wait_for(lambda bodies: len(bodies) >= 1, timeout_s=120)
    assert bodies and bodies[0]["metadata"]["request_id"] == request_id
    assert audio.wer(corpora.JFK_TEXT, alternative(bodies[0])["transcript"]) <= JFK_WER_BOUND


@pytest.mark.parametrize(
    ("name", "params", "code", "words"),
    [
        ("text", {}, "UNSUPPORTED_FILE_TYPE", "not audio"),
        ("empty", {}, "EMPTY_BODY", "empty"),
        ("jfk", {"callback_method": "put"}, "INVALID_QUERY_PARAMETER", "callback_method=put is not supported"),
    ],
)
def test_a_bad_upload_is_refused_at_once(
    server: ServerProcess, files: dict[str, Path], name: str, params: dict[str, str], code: str, words: str
) -> None:
    with WebhookReceiver() as hook:
        response = post_listen(server, files[name].read_bytes(), callback=hook.url, **params)
        time.sleep(0.5)
        assert hook.deliveries == []
    assert response.status_code == 400
    assert response.json()["err_code"] == code and words in response.json()["err_msg"], response.json()


def test_the_strict_server_refuses_private_callbacks_large_files_and_an_unusable_intake(
    strict_server: ServerProcess, files: dict[str, Path]
) -> None:
    auth = {"authorization": f"Token {TEST_API_KEY}"}
    small = files["jfk"].read_bytes()
    private = post_listen(strict_server, small, auth, callback="http://127.0.0.1:9/hook")
    assert private.status_code == 400 and "public address" in private.json()["err_msg"]
    large = files["jfk.wav"].read_bytes()
    assert len(large) > STRICT_MAX_UPLOAD_BYTES
    too_large = post_listen(strict_server, large, auth, callback=PUBLIC_CALLBACK)
    assert too_large.status_code == 413 and too_large.json()["err_code"] == "FILE_TOO_LARGE"
    # Its archive directory is a file: the intake directory under it cannot be made, and says so.
    unusable = post_listen(strict_server, small, auth, callback=PUBLIC_CALLBACK)
    assert unusable.status_code == 503 and unusable.json()["err_code"] == "INTAKE_UNAVAILABLE"
    assert "cannot be stored" in unusable.json()["err_msg"]
    assert status(strict_server, unusable.json()["request_id"], auth).status_code == 404
    assert status(strict_server, unusable.json()["request_id"]).status_code == 401


def test_a_job_survives_its_server_killed_and_started_again(tmp_path: Path, files: dict[str, Path]) -> None:
    env = {"STREAMSCRIBE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STREAMSCRIBE_WEBHOOK_ALLOW_PRIVATE_CALLBACKS": "true"}
    first = ServerProcess(archive_dir=tmp_path / "archive", env=env).start()
    again: ServerProcess | None = None
    try:
        with WebhookReceiver() as hook:
            accepted = post_listen(first, files["long"].read_bytes(), callback=hook.url)
            assert accepted.status_code == 200, accepted.text
            request_id = accepted.json()["request_id"]
            deadline = time.monotonic() + 30
            while status(first, request_id).json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.0)
            assert first.process is not None
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            assert hook.deliveries == []
            again = ServerProcess(archive_dir=tmp_path / "archive", env=env).start()
            bodies = hook.wait_for(lambda bodies: len(bodies) >= 1, timeout_s=180)
        assert bodies and bodies[0]["metadata"]["request_id"] == request_id
        long_text = " ".join([corpora.JFK_TEXT, *(clip.text for clip in corpora.librivox_clips()), corpora.JFK_TEXT])
        assert audio.wer(long_text, alternative(bodies[0])["transcript"]) <= 0.2
        assert "resuming 1 asynchronous upload" in again.log()
        final = status(again, request_id).json()
        assert final["status"] == "done" and final["result"] == bodies[0]
    finally:
        first.stop()
        if again is not None:
            again.stop()
