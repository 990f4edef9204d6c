"""The Flux shell (WS /v2/listen) in process, with a fake transcriber and no model:
the handshake (keys, a bad query), a stream through to the archive, and what goes
on the socket (Flux's messages only: no Results, no Metadata)."""

from __future__ import annotations

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

KEY = "flux-test-key-0123456789"
URL = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(archive_dir=tmp_path, api_keys=[KEY], idle_timeout_s=2.0, max_without_audio_s=2.0)
    runtime = embedded_runtime(settings, transcriber_factory=lambda: FakeTranscriber(delay_s=0.02))
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def archived(root: Path, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        documents = [json.loads(p.read_text()) for p in root.rglob("*.json")]
        found = [d for d in documents if d.get("source") == "flux"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def until_closed(ws: Any) -> tuple[list[dict[str, Any]], int]:
    messages: list[dict[str, Any]] = []
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            messages.append(json.loads(ws.receive_text()))
    return messages, closed.value.code


def test_a_stream_through_to_the_archive(client: TestClient, tmp_path: Path) -> None:
    speech = np.concatenate([audio.silence(0.5), corpora.jfk().audio[: 16000 * 3], audio.silence(0.2)])
    wire = audio.to_linear16(speech)
    with client.websocket_connect(URL + "&tag=t1&eot_threshold=1.0", headers={"Authorization": f"Token {KEY}"}) as ws:
        connected = json.loads(ws.receive_text())
        assert connected["type"] == "Connected" and connected["sequence_id"] == 0
        for offset in range(0, len(wire), 3200):
            ws.send_bytes(wire[offset : offset + 3200])
        ws.send_text(json.dumps({"type": "Configure", "thresholds": {"eot_timeout_ms": 800}}))
        ws.send_text(json.dumps({"type": "CloseStream"}))
        messages, code = until_closed(ws)
    assert code == 1000
    assert [m["sequence_id"] for m in messages] == list(range(1, len(messages) + 1))
    assert {m["type"] for m in messages} <= {"TurnInfo", "ConfigureSuccess"}  # no Results, no Metadata
    ends = [m for m in messages if m.get("event") == "EndOfTurn"]
    assert ends and ends[-1]["transcript"].startswith("word") and ends[-1]["turn_index"] == len(ends) - 1
    (document,) = archived(tmp_path)
    assert document["request_id"] == connected["request_id"]
    assert document["flux"]["tags"] == ["t1"] and document["flux"]["thresholds"]["eot_timeout_ms"] == 800
    assert document["results"] and document["close"]["code"] == 1000


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Token wrong"}])
def test_a_wrong_key_is_refused_before_the_upgrade(client: TestClient, headers: dict[str, str]) -> None:
    with pytest.raises(Exception) as refused, client.websocket_connect(URL, headers=headers):
        pass
    response = refused.value
    assert getattr(response, "status_code", None) == 401, response
    assert json.loads(getattr(response, "content", b"{}"))["err_code"] == "INVALID_AUTH"


def test_a_bad_query_value_is_an_error_then_1008(client: TestClient) -> None:
    with client.websocket_connect(URL + "&eot_timeout_ms=5", headers={"Authorization": f"Token {KEY}"}) as ws:
        messages, code = until_closed(ws)
    assert code == 1008
    (error,) = messages
    assert (error["type"], error["code"], error["sequence_id"]) == ("Error", "POLICY_VIOLATION", 0)
    assert "eot_timeout_ms" in error["description"]
