"""The client events of an OpenAI Realtime transcription session, parsed into typed values.

Anything malformed is a `RealtimeError` worded as OpenAI words it; the
session answers it with an `error` event and goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from streaming.realtime.errors import RealtimeError, invalid_type, invalid_value, missing_parameter, string_too_long

CLIENT_EVENTS = (
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    event_id: str | None
    session: object
    """The raw `session` object; streaming.realtime.config reads it."""
    beta: bool
    """`transcription_session.update` (answered with `transcription_session.updated`)."""


@dataclass(frozen=True, slots=True)
class AppendAudio:
    event_id: str | None
    audio: bytes


@dataclass(frozen=True, slots=True)
class CommitAudio:
    event_id: str | None


@dataclass(frozen=True, slots=True)
class ClearAudio:
    event_id: str | None


ClientEvent = SessionUpdate | AppendAudio | CommitAudio | ClearAudio


class ClientEventError(RealtimeError):
    """A `RealtimeError` of one client event, with that event's `event_id` when it had one."""

    def __init__(self, error: RealtimeError, event_id: str | None) -> None:
        super().__init__(error.code, error.message, error.param, kind=error.kind)
        self.event_id = event_id


def parse_client_event(text: str, max_audio_bytes: int) -> ClientEvent:
    """One text frame. `max_audio_bytes`: the most decoded audio one append may carry."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:
        reason = str(error)[:120] if isinstance(error, ValueError) else "nested too deeply"
        raise ClientEventError(
            RealtimeError("invalid_json", f"The server failed to parse the client event as JSON: {reason}"), None
        ) from None
    if not isinstance(message, dict):
        raise ClientEventError(invalid_type("event", dict, message), None)
    event_id = message.get("event_id")
    event_id = event_id[:128] if isinstance(event_id, str) else None
    try:
        return _event(message, event_id, max_audio_bytes)
    except RealtimeError as error:
        raise ClientEventError(error, event_id) from None


def _event(message: dict[str, object], event_id: str | None, max_audio_bytes: int) -> ClientEvent:
    kind = message.get("type")
    if kind is None:
        raise missing_parameter("type")
    if not isinstance(kind, str):
        raise invalid_type("type", str, kind)
    match kind:
        case "session.update" | "transcription_session.update":
            if "session" not in message:
                raise missing_parameter("session")
            return SessionUpdate(event_id, message["session"], beta=kind == "transcription_session.update")
        case "input_audio_buffer.append":
            return AppendAudio(event_id, _audio(message.get("audio"), max_audio_bytes))
        case "input_audio_buffer.commit":
            return CommitAudio(event_id)
        case "input_audio_buffer.clear":
            return ClearAudio(event_id)
        case _:
            raise invalid_value("type", kind, CLIENT_EVENTS)


def _audio(value: object, max_audio_bytes: int) -> bytes:
    if value is None:
        raise missing_parameter("audio")
    if not isinstance(value, str):
        raise invalid_type("audio", str, value)
    limit = 4 * -(-max_audio_bytes // 3)  # base64 of max_audio_bytes
    if len(value) > limit:
        raise string_too_long("audio", len(value), limit)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RealtimeError(
            "invalid_value", "Invalid 'audio': expected base64-encoded audio bytes, but got an invalid value.", "audio"
        ) from None
