"""The Deepgram-compatible live protocol: query parameters, control messages,
close codes and the server's messages, as plain data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from streaming.codecs import SAMPLE_RATE, Encoding
from streaming.jobs import Word
from streaming.redaction import RedactionMode, parse_redact
from streaming.resample import MAX_RATE, MIN_RATE

MAX_CHANNELS = 8
MIN_UTTERANCE_END_MS = 1000
MAX_UTTERANCE_END_MS = 5000
MIN_ENDPOINTING_MS = 10
MAX_ENDPOINTING_MS = 10_000
MAX_CALLBACK_CHARS = 2048
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


class ProtocolError(Exception):
    """A client mistake, carried to the socket as a close code and a reason."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _bad(name: str, expected: str, value: str) -> ProtocolError:
    return ProtocolError(CloseCode.POLICY_VIOLATION, f"{name} must be {expected}, got {value!r}"[:120])


@dataclass(frozen=True, slots=True)
class ListenParams:
    encoding: Encoding = Encoding.LINEAR16
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    multichannel: bool = False
    interim_results: bool = False
    endpointing_ms: int | None = None
    """None: the server's default; use `endpointing_disabled` for `endpointing=false`."""
    endpointing_disabled: bool = False
    utterance_end_ms: int | None = None
    vad_events: bool = False
    language: str | None = None
    model: str | None = None
    keyterms: tuple[str, ...] = field(default_factory=tuple)
    archive: bool = True
    """`archive=false`: the client asks that this session not be archived (if the server allows it)."""
    redact: frozenset[RedactionMode] = frozenset()
    """`redact=pci|ssn|numbers|true` (repeatable): what transcripts never show (streaming.redaction)."""
    redact_audio: bool = False
    """`redact_audio=true`: the archived audio is silenced where words were redacted."""
    callback: str | None = None
    """`callback=URL`: each final (and the closing Metadata) is also POSTed there (server/webhooks.py checks it)."""
    prompt: str | None = None
    """Free text that guides Whisper (its initial prompt): set by adapters (OpenAI Realtime's
    `transcription.prompt`); /v1/listen has no such parameter."""
    turn_notices: bool = False
    """Set by adapters that speak of turns (streaming.realtime): the session then also
    reports where each segment ended, finals without words, and the open segment's
    speculative final (its reading, or its abandonment when speech resumes), as
    `Notice`s (streaming.actions). /v1/listen sends none of these."""

    @property
    def output_channels(self) -> int:
        return self.channels if self.multichannel else 1


def parse_bool(value: str) -> bool | None:
    """A query or form flag (true/1/yes, false/0/no, any case); None when it is neither."""
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def _bool(name: str, value: str) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise _bad(name, "true or false", value)
    return parsed


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise _bad(name, f"an integer between {low} and {high}", value) from None
    if not low <= number <= high:
        raise _bad(name, f"an integer between {low} and {high}", value)
    return number


def parse_listen_params(query: Iterable[tuple[str, str]]) -> ListenParams:
    """Validate the query string of /v1/listen. Unknown parameters are ignored."""
    values: dict[str, str] = {}
    keyterms: list[str] = []
    redact: list[str] = []
    for key, value in query:
        if key == "redact":
            redact.append(value[:100])
            continue
        if key in ("keyterm", "keywords"):
            # Deepgram's keywords carry an optional ":boost"; Whisper has no boosts.
            term = value.rsplit(":", 1)[0] if key == "keywords" and ":" in value else value
            if term.strip():
                keyterms.append(term.strip()[:100])
        else:
            values[key] = value
    kwargs: dict[str, Any] = {}
    if "encoding" in values:
        try:
            kwargs["encoding"] = Encoding(values["encoding"].strip().lower())
        except ValueError:
            raise _bad("encoding", "one of linear16, mulaw, alaw", values["encoding"]) from None
    if "sample_rate" in values:
        kwargs["sample_rate"] = _int("sample_rate", values["sample_rate"], MIN_RATE, MAX_RATE)
    if "channels" in values:
        kwargs["channels"] = _int("channels", values["channels"], 1, MAX_CHANNELS)
    for name in ("multichannel", "interim_results", "vad_events", "archive", "redact_audio"):
        if name in values:
            kwargs[name] = _bool(name, values[name])
    if "endpointing" in values:
        raw = values["endpointing"].strip().lower()
        if raw in _FALSE:
            kwargs["endpointing_disabled"] = True
        elif raw not in _TRUE:
            kwargs["endpointing_ms"] = _int("endpointing", raw, MIN_ENDPOINTING_MS, MAX_ENDPOINTING_MS)
    if "utterance_end_ms" in values:
        kwargs["utterance_end_ms"] = _int(
            "utterance_end_ms", values["utterance_end_ms"], MIN_UTTERANCE_END_MS, MAX_UTTERANCE_END_MS
        )
    if "language" in values:
        language = values["language"].strip()
        if not _LANGUAGE.fullmatch(language):
            raise _bad("language", "a language code such as en or en-US", language)
        kwargs["language"] = language.split("-")[0].lower()
    if "model" in values and values["model"].strip():
        kwargs["model"] = values["model"].strip()[:100]
    if "callback" in values and values["callback"].strip():
        callback = values["callback"].strip()
        if len(callback) > MAX_CALLBACK_CHARS:
            raise _bad("callback", f"a URL of at most {MAX_CALLBACK_CHARS} characters", callback[:40])
        kwargs["callback"] = callback
    try:
        kwargs["redact"] = parse_redact(redact[:10])
    except ValueError as error:
        raise ProtocolError(CloseCode.POLICY_VIOLATION, str(error)[:120]) from None
    kwargs["keyterms"] = tuple(keyterms[:50])
    return ListenParams(**kwargs)


# -- client control messages -------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Finalize:
    pass


@dataclass(frozen=True, slots=True)
class CloseStream:
    pass


@dataclass(frozen=True, slots=True)
class UnknownControl:
    type: str


ControlMessage = KeepAlive | Finalize | CloseStream | UnknownControl
_CONTROL: dict[str, ControlMessage] = {
    "KeepAlive": KeepAlive(),
    "Finalize": Finalize(),
    "CloseStream": CloseStream(),
}


def json_object(text: str, key: str, example: str) -> dict[str, Any]:
    """A text frame of a JSON protocol: an object whose `key` is a string. Anything else is a
    ProtocolError (1007) that shows `example`, a well-formed message of the protocol."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ProtocolError(CloseCode.INVALID_DATA, f"text frames must be JSON messages such as {example}") from None
    if not isinstance(message, dict) or not isinstance(message.get(key), str):
        raise ProtocolError(CloseCode.INVALID_DATA, f"a message must be a JSON object with a string {key!r}")
    return message


def parse_control(text: str) -> ControlMessage:
    """Parse a text frame. Not JSON, or not an object with a string `type`: 1007."""
    kind: str = json_object(text, "type", '{"type": "KeepAlive"}')["type"]
    return _CONTROL.get(kind, UnknownControl(kind[:40]))


# -- server messages -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    version: str
    arch: str
    uuid: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "arch": self.arch}


def _round(value: float) -> float:
    return round(value, 3)


def results_message(
    *,
    request_id: str,
    model: ModelInfo,
    channel: int,
    channels: int,
    start: float,
    duration: float,
    words: Iterable[Word],
    is_final: bool,
    speech_final: bool,
    from_finalize: bool,
) -> dict[str, Any]:
    word_list = list(words)
    transcript = " ".join(w.text for w in word_list)
    confidence = sum(w.confidence for w in word_list) / len(word_list) if word_list else 0.0
    return {
        "type": "Results",
        "channel_index": [channel, channels],
        "duration": _round(duration),
        "start": _round(start),
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {
            "alternatives": [
                {
                    "transcript": transcript,
                    "confidence": _round(confidence),
                    "words": [
                        {
                            "word": w.normalized,
                            "start": _round(w.start),
                            "end": _round(w.end),
                            "confidence": _round(w.confidence),
                            "punctuated_word": w.text,
                        }
                        for w in word_list
                    ],
                }
            ]
        },
        "metadata": {"request_id": request_id, "model_info": model.as_dict(), "model_uuid": model.uuid},
    }


def metadata_message(
    request_id: str, sha256: str, created: str, seconds: float, params: ListenParams, model: ModelInfo
) -> dict[str, Any]:
    """The last message of a session: what was received (`sha256` of every audio byte, `seconds` of it)."""
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": created,
        "duration": round(seconds, 3),
        "channels": params.channels,
        "models": [model.uuid],
        "model_info": {model.uuid: model.as_dict()},
    }


def speech_started_message(channel: int, channels: int, timestamp: float) -> dict[str, Any]:
    return {"type": "SpeechStarted", "channel": [channel, channels], "timestamp": _round(timestamp)}


def utterance_end_message(channel: int, channels: int, last_word_end: float) -> dict[str, Any]:
    return {"type": "UtteranceEnd", "channel": [channel, channels], "last_word_end": _round(last_word_end)}


def error_message(description: str, code: str = "BAD_REQUEST") -> dict[str, Any]:
    return {"type": "Error", "description": description, "message": description, "variant": code}
