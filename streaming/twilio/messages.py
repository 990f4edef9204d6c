"""The messages Twilio Media Streams sends, parsed into typed values.

Twilio sends JSON text frames: `connected`, then `start` (the call, its tracks
and custom parameters), then `media` (20 ms of base64 mu-law per track),
`dtmf`, `mark`, and `stop`. Twilio writes numbers as strings ("chunk": "3",
"timestamp": "5020"); both spellings are accepted. Anything malformed is a
`ProtocolError` whose reason says what was wrong, in words.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from streaming.codecs import Encoding
from streaming.protocol import CloseCode, ProtocolError, json_object

MAX_PAYLOAD_BYTES = 16_000
"""Decoded audio in one `media` message: two seconds at 8 kHz (Twilio sends 160 bytes, 20 ms)."""
MAX_CUSTOM_PARAMETERS = 32
MAX_ID_CHARS = 64


class Track(IntEnum):
    """A call's two directions; the value is the session channel it becomes."""

    INBOUND = 0
    """What the caller says (Twilio's `inbound` track)."""
    OUTBOUND = 1
    """What the caller hears: the agent or the bot (`outbound`)."""


_TRACK_NAMES = {"inbound": Track.INBOUND, "inbound_track": Track.INBOUND,
                "outbound": Track.OUTBOUND, "outbound_track": Track.OUTBOUND}  # fmt: skip
_MEDIA_ENCODINGS = {"audio/x-mulaw": Encoding.MULAW, "audio/x-alaw": Encoding.ALAW}


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[Track, ...]
    """The tracks this stream carries, in channel order (inbound first)."""
    encoding: Encoding
    sample_rate: int
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    track: Track
    chunk: int
    timestamp_ms: int
    """Milliseconds from the start of the stream: where this audio lies on the call's clock."""
    payload: bytes
    """Encoded audio (mu-law unless `start` said otherwise), one channel."""


@dataclass(frozen=True, slots=True)
class Dtmf:
    track: Track
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event this server does not know (Twilio may add some): logged and ignored."""

    event: str


TwilioMessage = Connected | Start | Media | Dtmf | Mark | Stop | UnknownEvent


def _invalid(reason: str) -> ProtocolError:
    return ProtocolError(CloseCode.INVALID_DATA, reason[:120])


def _object(message: dict[str, Any], name: str) -> dict[str, Any]:
    value = message.get(name)
    if not isinstance(value, dict):
        raise _invalid(f"{message.get('event')} message without a {name!r} object")
    return value


def _text(source: dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_ID_CHARS) -> str:
    value = source.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise _invalid(f"{name!r} must be a string of at most {limit} characters")
    return value


def _number(source: dict[str, Any], name: str, default: int | None = None) -> int:
    """A non-negative integer, written as Twilio does (a string) or as a JSON number."""
    value = source.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(f"media {name!r} must be a non-negative integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise _invalid(f"media {name!r} must be a non-negative integer, got {value!r}") from None
    if number < 0 or number > 10**12:
        raise _invalid(f"media {name!r} must be a non-negative integer, got {value!r}")
    return number


def _track(name: object) -> Track:
    if not isinstance(name, str) or name not in _TRACK_NAMES:
        raise _invalid(f"unknown track {name!r}; expected inbound or outbound")
    return _TRACK_NAMES[name]


def parse_twilio_message(text: str) -> TwilioMessage:
    """One text frame from Twilio. Not JSON, or not an object with a string `event`: 1007."""
    message = json_object(text, "event", '{"event": "media", ...}')
    match message["event"]:
        case "connected":
            return Connected(str(message.get("protocol", ""))[:40])
        case "start":
            return _start(message)
        case "media":
            return _media(message)
        case "dtmf":
            dtmf = _object(message, "dtmf")
            return Dtmf(_track(dtmf.get("track", "inbound")), _text(dtmf, "digit", limit=1))
        case "mark":
            return Mark(_text(_object(message, "mark"), "name", limit=256))
        case "stop":
            return Stop()
        case other:
            return UnknownEvent(other[:40])


def _start(message: dict[str, Any]) -> Start:
    start = _object(message, "start")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not 1 <= len(tracks) <= 2:
        raise _invalid("start 'tracks' must be a list of one or two of inbound, outbound")
    ordered = tuple(sorted({_track(name) for name in tracks}))
    media_format = start.get("mediaFormat", {})
    if not isinstance(media_format, dict):
        raise _invalid("start 'mediaFormat' must be an object")
    encoding_name = media_format.get("encoding", "audio/x-mulaw")
    if encoding_name not in _MEDIA_ENCODINGS:
        raise ProtocolError(
            CloseCode.POLICY_VIOLATION, f"mediaFormat encoding {str(encoding_name)[:40]!r} is not audio/x-mulaw"
        )
    if media_format.get("sampleRate", 8000) != 8000 or media_format.get("channels", 1) != 1:
        raise ProtocolError(CloseCode.POLICY_VIOLATION, "mediaFormat must be 8000 Hz, one channel per track")
    return Start(
        stream_sid=_text(start, "streamSid", required=False) or _text(message, "streamSid"),
        call_sid=_text(start, "callSid"),
        account_sid=_text(start, "accountSid", required=False),
        tracks=ordered,
        encoding=_MEDIA_ENCODINGS[encoding_name],
        sample_rate=8000,
        custom_parameters=_custom_parameters(start.get("customParameters")),
    )


def _custom_parameters(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_CUSTOM_PARAMETERS:
        raise _invalid(f"start 'customParameters' must be an object of at most {MAX_CUSTOM_PARAMETERS} strings")
    parameters: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) or len(str(key)) > 64 or len(str(item)) > 1024:
            raise _invalid(f"customParameters {str(key)[:40]!r} must be a short string")
        parameters[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return parameters


def _media(message: dict[str, Any]) -> Media:
    media = _object(message, "media")
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise _invalid("media without a base64 'payload' string")
    if len(payload) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise ProtocolError(
            CloseCode.MESSAGE_TOO_BIG, f"media payload over {MAX_PAYLOAD_BYTES} bytes; Twilio sends 20 ms chunks"
        )
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("media 'payload' is not valid base64") from None
    return Media(_track(media.get("track", "inbound")), _number(media, "chunk", 0), _number(media, "timestamp"), audio)
