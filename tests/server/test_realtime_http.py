"""The OpenAI Realtime shell in process (a fake transcriber, no model): the handshake
(intent, keys, the browser subprotocols), a session through to the archive, and the
client-secret endpoints in OpenAI's shapes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.config import Settings
from server.http.app import create_app
from server.runtime.embedded import embedded_runtime
from testbed import audio, corpora
from tests.server.test_pipeline import FakeTranscriber

KEY = "realtime-test-key-0123456789"
URL = "/v1/realtime?intent=transcription"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(archive_dir=tmp_path, api_keys=[KEY], idle_timeout_s=1.0, max_without_audio_s=1.0)
    runtime = embedded_runtime(settings, transcriber_factory=lambda: FakeTranscriber(delay_s=0.02))
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def receive(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(ws.receive_text())
        if event["type"] == kind:
            return event


def archived(root: Path, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The realtime sessions' archive documents, once there are any (the session drains after the client left)."""
    deadline = time.monotonic() + timeout_s
    while True:
        documents = [json.loads(p.read_text()) for p in root.rglob("*.json")]
        found = [d for d in documents if d.get("source") == "realtime"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_browser_session_through_to_the_archive(client: TestClient, tmp_path: Path) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    with client.websocket_connect(URL, subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "realtime"
        created = json.loads(ws.receive_text())
        assert created["type"] == "session.created" and created["session"]["type"] == "transcription"
        update = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        ws.send_text(json.dumps({"type": "session.update", "session": update}))
        assert receive(ws, "session.updated")["session"]["audio"]["input"]["turn_detection"] is None
        speech = audio.resample(np.concatenate([corpora.jfk().audio[: 16000 * 3], audio.silence(0.3)]), 16000, 24000)
        wire = audio.to_linear16(speech)
        for offset in range(0, len(wire), 9600):
            chunk = base64.b64encode(wire[offset : offset + 9600]).decode()
            ws.send_text(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        ws.send_text(json.dumps({"type": "input_audio_buffer.commit", "event_id": "c1"}))
        committed = receive(ws, "input_audio_buffer.committed")
        completed = receive(ws, "conversation.item.input_audio_transcription.completed")
        assert completed["item_id"] == committed["item_id"] and completed["transcript"].startswith("word")
        done = receive(ws, "conversation.item.done")
        assert done["item"]["content"][0]["transcript"] == completed["transcript"]
        idle = receive(ws, "error")["error"]  # no audio for a second: the session ends, archived first
        assert idle["type"] == "server_error" and "NET-0001" in idle["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011
    (document,) = archived(tmp_path)
    assert document["realtime"]["session"]["audio"]["input"]["turn_detection"] is None
    assert document["params"]["sample_rate"] == 24000 and document["results"]
    assert document["results"][0]["from_finalize"] is True


@pytest.mark.parametrize(
    ("url", "headers", "status", "code"),
    [
        ("/v1/realtime?model=gpt-realtime", {"Authorization": f"Bearer {KEY}"}, 400, "unsupported_intent"),
        (URL, {"Authorization": "Bearer wrong"}, 401, "invalid_api_key"),
        (URL, {}, 401, "invalid_api_key"),
    ],
)
def test_refused_handshakes_answer_in_openai_shape(
    client: TestClient, url: str, headers: dict[str, str], status: int, code: str
) -> None:
    with pytest.raises(Exception) as refused, client.websocket_connect(url, headers=headers):
        pass
    response = refused.value
    assert getattr(response, "status_code", None) == status, response
    assert json.loads(getattr(response, "content", b"{}"))["error"]["code"] == code


def test_client_secrets_mint_tokens_that_open_sessions(client: TestClient) -> None:
    body = {"expires_after": {"anchor": "created_at", "seconds": 120}, "session": {"type": "transcription"}}
    minted = client.post("/v1/realtime/client_secrets", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert minted.status_code == 200, minted.text
    secret = minted.json()
    assert secret["value"].startswith("sst.") and secret["session"]["type"] == "transcription"
    with client.websocket_connect(URL, headers={"Authorization": f"Bearer {secret['value']}"}) as ws:
        assert json.loads(ws.receive_text())["type"] == "session.created"
    again = client.post("/v1/realtime/client_secrets", json={}, headers={"Authorization": f"Bearer {secret['value']}"})
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_api_key"
    bad = client.post(
        "/v1/realtime/client_secrets",
        json={"session": {"type": "transcription", "audio": {"input": {"format": {"type": "audio/opus"}}}}},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "session.audio.input.format.type"
    long = client.post(
        "/v1/realtime/client_secrets",
        json={"expires_after": {"seconds": 7200}},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert long.status_code == 200 and long.json()["expires_at"] <= minted.json()["expires_at"] + 3600


def test_beta_transcription_sessions(client: TestClient) -> None:
    body = {"input_audio_format": "g711_ulaw", "turn_detection": None, "client_secret": {"expires_at": {"seconds": 60}}}
    minted = client.post("/v1/realtime/transcription_sessions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert minted.status_code == 200, minted.text
    session = minted.json()
    assert session["input_audio_format"] == "g711_ulaw" and session["turn_detection"] is None
    token = session["client_secret"]["value"]
    headers = {"Authorization": f"Bearer {token}", "OpenAI-Beta": "realtime=v1"}
    with client.websocket_connect(URL + "&model=gpt-4o-transcribe", headers=headers) as ws:
        assert json.loads(ws.receive_text())["type"] == "transcription_session.created"
    browser = ["realtime", f"openai-insecure-api-key.{token}", "openai-beta.realtime-v1"]
    with client.websocket_connect(URL, subprotocols=browser) as ws:
        assert ws.accepted_subprotocol == "realtime"
        assert json.loads(ws.receive_text())["type"] == "transcription_session.created"


def test_session_refused_at_capacity_gets_an_error_event_then_1013(tmp_path: Path) -> None:
    settings = Settings(archive_dir=tmp_path, max_sessions=1)
    runtime = embedded_runtime(settings, transcriber_factory=FakeTranscriber)
    with TestClient(create_app(settings, runtime)) as client, client.websocket_connect(URL) as first:
        assert json.loads(first.receive_text())["type"] == "session.created"
        with client.websocket_connect(URL) as second:
            error = json.loads(second.receive_text())
            assert error["type"] == "error" and "max_sessions" in error["error"]["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_text()
            assert closed.value.code == 1013
