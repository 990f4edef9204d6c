"""Flux's messages as plain data: what the client sends, parsed, and what the
server sends, built (field names as in the official SDK's `deepgram.listen.v2`
types). Every server message carries `sequence_id`, which the caller counts
from 0 over all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streaming.jobs import Word
from streaming.protocol import CloseCode, CloseStream, KeepAlive, ProtocolError, json_object


@dataclass(frozen=True, slots=True)
class ForceEndTurn:
    pass


@dataclass(frozen=True, slots=True)
class Configure:
    thresholds: dict[str, object]
    """Configure's `thresholds` object (empty when absent)."""
    keyterms: tuple[str, ...] | None
    """None: keep the current keyterms."""
    ignored: tuple[str, ...]
    """Fields accepted but not applied (language_hints, numerals), for a Warning."""


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    type: str


ClientMessage = CloseStream | ForceEndTurn | KeepAlive | Configure | UnknownMessage
_SIMPLE: dict[str, ClientMessage] = {
    "CloseStream": CloseStream(),
    "ForceEndTurn": ForceEndTurn(),
    "KeepAlive": KeepAlive(),
}


def parse_client_message(text: str) -> ClientMessage:
    """A text frame. Not a JSON object with a string `type`, or a malformed Configure: ProtocolError (1007)."""
    message = json_object(text, "type", '{"type": "CloseStream"}')
    kind: str = message["type"]
    if kind != "Configure":
        return _SIMPLE.get(kind, UnknownMessage(kind[:40]))
    thresholds = message.get("thresholds") or {}
    keyterms = message.get("keyterms")
    if isinstance(keyterms, str):
        keyterms = [keyterms]
    if not isinstance(thresholds, dict) or not (
        keyterms is None or (isinstance(keyterms, list) and all(isinstance(term, str) for term in keyterms))
    ):
        raise ProtocolError(
            CloseCode.INVALID_DATA, "Configure: thresholds must be an object and keyterms a list of strings"
        )
    terms = None if keyterms is None else tuple(term.strip()[:100] for term in keyterms if term.strip())[:50]
    ignored = tuple(name for name in ("language_hints", "numerals") if message.get(name) is not None)
    return Configure(thresholds, terms, ignored)


# -- server messages ---------------------------------------------------------------


def connected(request_id: str, sequence_id: int) -> dict[str, Any]:
    return {"type": "Connected", "request_id": request_id, "sequence_id": sequence_id}


def turn_info(
    *,
    request_id: str,
    sequence_id: int,
    event: str,
    turn_index: int,
    window: tuple[float, float],
    words: tuple[Word, ...],
    confidence: float,
    trigger: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "TurnInfo",
        "request_id": request_id,
        "sequence_id": sequence_id,
        "event": event,
        "turn_index": turn_index,
        "audio_window_start": round(window[0], 3),
        "audio_window_end": round(window[1], 3),
        "transcript": " ".join(word.text for word in words),
        "words": [
            {"word": w.text, "confidence": round(w.confidence, 3), "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in words
        ],
        "end_of_turn_confidence": round(confidence, 3),
    }
    if trigger is not None:
        message["trigger"] = trigger
    return message


def configure_success(
    request_id: str, sequence_id: int, thresholds: dict[str, float | int | None], keyterms: tuple[str, ...]
) -> dict[str, Any]:
    active = {name: value for name, value in thresholds.items() if value is not None}
    return {
        "type": "ConfigureSuccess",
        "request_id": request_id,
        "sequence_id": sequence_id,
        "thresholds": active,
        "keyterms": list(keyterms),
    }


def configure_failure(request_id: str, sequence_id: int, code: str, description: str) -> dict[str, Any]:
    return {
        "type": "ConfigureFailure",
        "request_id": request_id,
        "sequence_id": sequence_id,
        "code": code,
        "description": description,
    }


def warning(request_id: str, sequence_id: int, code: str, description: str) -> dict[str, Any]:
    return {"type": "Warning", "request_id": request_id, "sequence_id": sequence_id, "code": code,
            "description": description}  # fmt: skip


def error(sequence_id: int, code: str, description: str) -> dict[str, Any]:
    """Flux's Error (the SDK's ListenV2FatalError): the socket closes after it."""
    return {"type": "Error", "sequence_id": sequence_id, "code": code, "description": description}
