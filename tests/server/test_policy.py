"""The one policy every endpoint applies: credentials, and the archive document's shape."""

from __future__ import annotations

from typing import Any

import pytest

from server.policy import Caller, Refusal, RefusalReason, authenticate
from streaming.archive_document import archive_document
from streaming.protocol import CloseCode

KEYS = ["k-1", "k-2"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Token k-1"}, Caller(True)),
        ({"authorization": "bearer k-2"}, Caller(True)),
        ({"authorization": "Token wrong"}, Caller(False)),
        ({"authorization": "Basic k-1"}, Caller(False)),
        ({"authorization": "Token "}, Caller(False)),
        ({}, Caller(False)),
        ({"sec-websocket-protocol": "token, k-1"}, Caller(True, "token")),
        # Echoed as the client offered it: a handshake answered with another spelling fails.
        ({"sec-websocket-protocol": "Token, k-2"}, Caller(True, "Token")),
        ({"sec-websocket-protocol": "TOKEN,wrong"}, Caller(False, "TOKEN")),
        ({"sec-websocket-protocol": "token"}, Caller(False)),
        ({"sec-websocket-protocol": "chat, k-1"}, Caller(False)),
    ],
)
def test_credentials_from_headers_or_the_token_subprotocol(headers: dict[str, str], expected: Caller) -> None:
    assert authenticate(headers, KEYS) == expected


def test_without_keys_everyone_may_call_and_the_subprotocol_is_still_echoed() -> None:
    assert authenticate({}, []) == Caller(True)
    assert authenticate({"sec-websocket-protocol": "Token, anything"}, []) == Caller(True, "Token")


@pytest.mark.parametrize(
    ("reason", "close_code", "status"),
    [
        (RefusalReason.SHUTTING_DOWN, CloseCode.SERVICE_RESTART, 503),
        (RefusalReason.AT_CAPACITY, CloseCode.TRY_AGAIN_LATER, 429),
        (RefusalReason.NOT_READY, CloseCode.TRY_AGAIN_LATER, 503),
        (RefusalReason.BACKLOG, CloseCode.TRY_AGAIN_LATER, 429),
    ],
)
def test_a_refusal_in_each_protocol(reason: RefusalReason, close_code: CloseCode, status: int) -> None:
    refusal = Refusal(reason, "why")
    assert (refusal.close_code, refusal.http_status) == (close_code, status)


def result(text: str) -> dict[str, object]:
    return {"channel": {"alternatives": [{"transcript": text}]}}


def test_every_archive_document_has_the_same_fields_and_transcript() -> None:
    common: dict[str, Any] = {
        "request_id": "r",
        "created": "2026-01-01T00:00:00+00:00",
        "channels": 1,
        "model_info": None,
    }
    live = archive_document(
        **common,
        source="live",
        duration_s=1.23456,
        params={"encoding": "linear16"},
        results=[result("one"), result(""), result("two")],
        errors=[],
        close={"code": 1000, "reason": ""},
    )
    upload = archive_document(**common, source="upload", duration_s=2.0, params={}, results=[result("")], errors=["x"])
    assert live["transcript"] == "one two" and live["duration"] == 1.235 and live["close"]["code"] == 1000
    assert upload["transcript"] == "" and "close" not in upload and upload["errors"] == ["x"]
    assert set(live) - {"close"} == set(upload)
