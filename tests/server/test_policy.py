"""The one policy every endpoint applies: credentials, and the archive document's shape."""

from __future__ import annotations

from typing import Any

import pytest

from server.credentials import OPEN, Identity, KeyRing, Scope
from server.policy import Caller, Denial, Refusal, RefusalReason, authenticate
from streaming.archive_document import archive_document
from streaming.protocol import CloseCode

KEYS = KeyRing.build(["k-1", "k-2"], None, b"secret")


@pytest.mark.parametrize(
    ("headers", "allowed", "subprotocol"),
    [
        ({"authorization": "Token k-1"}, True, None),
        ({"authorization": "bearer k-2"}, True, None),
        ({"authorization": "Token wrong"}, False, None),
        ({"authorization": "Basic k-1"}, False, None),
        ({"authorization": "Token "}, False, None),
        ({}, False, None),
        ({"sec-websocket-protocol": "token, k-1"}, True, "token"),
        # Echoed as the client offered it: a handshake answered with another spelling fails.
        ({"sec-websocket-protocol": "Token, k-2"}, True, "Token"),
        ({"sec-websocket-protocol": "TOKEN,wrong"}, False, "TOKEN"),
        ({"sec-websocket-protocol": "token"}, False, None),
        ({"sec-websocket-protocol": "chat, k-1"}, False, None),
    ],
)
def test_credentials_from_headers_or_the_token_subprotocol(
    headers: dict[str, str], allowed: bool, subprotocol: str | None
) -> None:
    caller = authenticate(headers, KEYS)
    assert (caller.allowed, caller.subprotocol) == (allowed, subprotocol)


def test_without_keys_everyone_may_call_and_the_subprotocol_is_still_echoed() -> None:
    open_ring = KeyRing.build([], None, b"secret")
    assert authenticate({}, open_ring) == Caller(OPEN)
    assert authenticate({"sec-websocket-protocol": "Token, anything"}, open_ring) == Caller(OPEN, "Token")


def test_a_key_without_the_scope_is_told_which_one() -> None:
    caller = Caller(Identity("k", "t", frozenset({Scope.LISTEN})))
    assert caller.admit(Scope.LISTEN) == caller.identity
    assert caller.admit(Scope.UPLOAD) == Denial(
        403, "insufficient_permissions", "this key (k) does not have the 'upload' scope"
    )
    refused = Caller(None).admit(Scope.LISTEN)
    assert isinstance(refused, Denial) and (refused.status, refused.code) == (401, "invalid_auth")


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
