"""OpenAI Realtime transcription sessions: session.created, both update forms, merging, and
bad client events answered with `error` events as OpenAI words them, the session kept."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from streaming.codecs import Encoding
from streaming.jobs import JobKind
from streaming.realtime.config import RealtimeConfig
from tests.unit.realtime_harness import Realtime, jobs, replies, types
from tests.unit.session_harness import silence, track

GA_TRANSCRIPTION = {"type": "transcription"}


def ga(**audio_input: Any) -> dict[str, Any]:
    return {**GA_TRANSCRIPTION, "audio": {"input": audio_input}}


def test_session_created_ga_shows_the_defaults() -> None:
    created = Realtime().core.opening()
    assert created["type"] == "session.created" and created["event_id"].startswith("event_")
    session = created["session"]
    assert session["type"] == "transcription" and session["id"].startswith("sess_")
    assert session["expires_at"] > 1_700_000_000
    audio = session["audio"]["input"]
    assert audio["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    }
    assert audio["transcription"]["model"] == "general"  # the server's model, until the client names one
    assert audio["noise_reduction"] is None


def test_session_created_beta_spelling() -> None:
    created = Realtime(beta=True).core.opening()
    assert created["type"] == "transcription_session.created"
    session = created["session"]
    assert session["input_audio_format"] == "pcm16"
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["input_audio_transcription"]["model"] == "general"


def test_ga_update_is_acknowledged_with_the_full_configuration_and_shapes_the_session() -> None:
    rt = Realtime()
    update = ga(
        format={"type": "audio/pcmu"},
        transcription={"model": "gpt-4o-transcribe", "language": "de", "prompt": "Kubernetes, Redis"},
        turn_detection={"type": "server_vad", "silence_duration_ms": 800, "threshold": 0.6},
        noise_reduction={"type": "near_field"},
    )
    (updated,) = rt.update({**update, "include": ["item.input_audio_transcription.logprobs"]})
    assert updated["type"] == "session.updated"
    audio = updated["session"]["audio"]["input"]
    assert audio["format"] == {"type": "audio/pcmu"}
    assert audio["transcription"] == {"model": "gpt-4o-transcribe", "language": "de", "prompt": "Kubernetes, Redis"}
    assert audio["turn_detection"]["silence_duration_ms"] == 800 and audio["turn_detection"]["threshold"] == 0.6
    assert audio["noise_reduction"] == {"type": "near_field"}
    params = rt.core.params
    assert (params.encoding, params.sample_rate) == (Encoding.LINEAR16, 16000)  # the adapter decodes
    assert (params.endpointing_ms, params.language, params.prompt) == (800, "de", "Kubernetes, Redis")
    assert params.interim_results and params.vad_events and params.turn_notices


def test_partial_updates_merge_without_losing_fields() -> None:
    rt = Realtime()
    rt.update(ga(transcription={"language": "fr", "prompt": "one"}, turn_detection={"silence_duration_ms": 900}))
    (updated,) = rt.update(ga(transcription={"prompt": "two"}))
    audio = updated["session"]["audio"]["input"]
    assert audio["transcription"]["language"] == "fr" and audio["transcription"]["prompt"] == "two"
    assert audio["turn_detection"]["silence_duration_ms"] == 900
    (updated,) = rt.update(ga(turn_detection={"threshold": 0.2}))
    turns = updated["session"]["audio"]["input"]["turn_detection"]
    assert (turns["type"], turns["threshold"], turns["silence_duration_ms"]) == ("server_vad", 0.2, 900)
    (updated,) = rt.update(GA_TRANSCRIPTION)  # nothing but the type: still acknowledged, nothing lost
    assert updated["type"] == "session.updated"
    assert updated["session"]["audio"]["input"]["transcription"]["language"] == "fr"
    assert rt.core.params.endpointing_ms == 900


def test_beta_update_form_and_manual_commits() -> None:
    rt = Realtime(beta=True)
    (updated,) = rt.update(
        {
            "input_audio_format": "g711_alaw",
            "input_audio_transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": None,
            "input_audio_noise_reduction": {"type": "far_field"},
        },
        beta=True,
    )
    assert updated["type"] == "transcription_session.updated"
    session = updated["session"]
    assert session["input_audio_format"] == "g711_alaw" and session["turn_detection"] is None
    assert session["input_audio_transcription"]["language"] == "en"
    assert rt.core.params.endpointing_disabled and not rt.core.params.vad_events
    (updated,) = rt.update({"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}, beta=True)
    session = updated["session"]
    assert session["turn_detection"]["silence_duration_ms"] == 700 and session["input_audio_format"] == "g711_alaw"
    assert rt.core.params.endpointing_ms == 700


def test_semantic_vad_runs_as_server_vad_with_a_silence_by_eagerness() -> None:
    rt = Realtime()
    (updated,) = rt.update(ga(turn_detection={"type": "semantic_vad", "eagerness": "high"}))
    assert updated["session"]["audio"]["input"]["turn_detection"] == {"type": "semantic_vad", "eagerness": "high"}
    assert rt.core.params.endpointing_ms == 300


def error_of(rt: Realtime, event: dict[str, Any] | str) -> dict[str, Any]:
    (answer,) = replies(rt.send(event))
    assert answer["type"] == "error", answer
    body: dict[str, Any] = answer["error"]
    assert set(body) == {"type", "code", "message", "param", "event_id"}
    return body


BAD_EVENTS: list[tuple[dict[str, Any] | str, str, str | None]] = [
    ("{not json", "invalid_json", None),
    ("[1, 2]", "invalid_type", "event"),
    ({"event_id": "e1"}, "missing_required_parameter", "type"),
    ({"type": "response.create", "event_id": "e2"}, "invalid_value", "type"),
    ({"type": "session.update", "session": ga(format={"type": "audio/opus"})}, "invalid_value",
     "session.audio.input.format.type"),
    ({"type": "session.update", "session": ga(format={"type": "audio/pcm", "rate": 16000})}, "invalid_value",
     "session.audio.input.format.rate"),
    ({"type": "transcription_session.update", "session": {"input_audio_format": "opus"}}, "invalid_value",
     "session.input_audio_format"),
    ({"type": "session.update", "session": {"type": "realtime"}}, "invalid_value", "session.type"),
    ({"type": "session.update", "session": {"audio": {}}}, "missing_required_parameter", "session.type"),
    ({"type": "session.update", "session": {**GA_TRANSCRIPTION, "voice": "alloy"}}, "unknown_parameter",
     "session.voice"),
    ({"type": "session.update", "session": ga(turn_detection={"silence_duration_ms": "long"})}, "invalid_type",
     "session.audio.input.turn_detection.silence_duration_ms"),
    ({"type": "session.update", "session": ga(turn_detection={"threshold": 1.5})}, "decimal_above_max_value",
     "session.audio.input.turn_detection.threshold"),
    ({"type": "session.update", "session": ga(transcription={"language": "English!"})}, "invalid_value",
     "session.audio.input.transcription.language"),
    ({"type": "input_audio_buffer.append", "audio": "not base64 at all!"}, "invalid_value", "audio"),
    ({"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio"),
    ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty", None),
]  # fmt: skip


@pytest.mark.parametrize(("event", "code", "param"), BAD_EVENTS, ids=[f"{c}-{p}" for _, c, p in BAD_EVENTS])
def test_bad_events_are_errors_and_the_session_goes_on(
    event: dict[str, Any] | str, code: str, param: str | None
) -> None:
    rt = Realtime()
    rt.update(ga(transcription={"language": "en"}))
    before = rt.core.config
    body = error_of(rt, event)
    assert (body["type"], body["code"], body["param"]) == ("invalid_request_error", code, param), body
    assert body["message"]
    if isinstance(event, dict) and "event_id" in event:
        assert body["event_id"] == event["event_id"]
    assert rt.core.config == before and not rt.core.closed  # nothing changed, nothing closed
    (final,) = jobs(rt.append(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8))), JobKind.FINAL)
    assert final.duration > 1.0  # audio after the error is still transcribed


def test_oversized_append_is_refused_before_decoding() -> None:
    rt = Realtime()
    limit = rt.core.session.config.max_frame_bytes
    audio = base64.b64encode(b"\x00" * (limit + 3)).decode()
    body = error_of(rt, {"type": "input_audio_buffer.append", "audio": audio, "event_id": "big"})
    assert (body["code"], body["param"], body["event_id"]) == ("string_above_max_length", "audio", "big")
    assert rt.core.audio_seconds == 0.0 and not rt.core.closed
    ok = base64.b64encode(b"\x00" * limit).decode()
    assert replies(rt.send({"type": "input_audio_buffer.append", "audio": ok})) == []
    assert rt.core.audio_seconds == pytest.approx(limit / 2 / 24000, abs=0.01)


def test_binary_frames_are_errors() -> None:
    rt = Realtime()
    (answer,) = replies(rt.core.receive_bytes(b"\x00\x01", 0.0))
    assert answer["error"]["code"] == "binary_frame_not_supported"
    assert not rt.core.closed


def test_audio_before_any_update_uses_the_defaults() -> None:
    rt = Realtime()
    actions = rt.append(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8)))
    assert types(replies(actions))[0] == "input_audio_buffer.speech_started"
    assert jobs(actions, JobKind.FINAL)
    assert rt.core.audio_seconds == pytest.approx(2.3, abs=0.02)


def test_after_audio_turn_detection_stays_and_the_acknowledgement_says_so() -> None:
    rt = Realtime()
    rt.append(silence(0.4))
    made = len(rt.made)
    (updated,) = rt.update(ga(turn_detection=None, format={"type": "audio/pcma"}, transcription={"language": "de"}))
    audio = updated["session"]["audio"]["input"]
    assert audio["turn_detection"]["type"] == "server_vad"  # in effect since the audio began
    assert audio["transcription"]["language"] is None
    assert audio["format"] == {"type": "audio/pcma"}  # the format still changes: audio is decoded here
    assert len(rt.made) == made and rt.core.config.turn_detection is not None
    rt.format = "g711_alaw"
    rt.append(silence(0.5))
    assert 0.8 <= rt.core.audio_seconds <= 0.91  # less the resampler's delay line (85 ms at 8 kHz)


def test_config_default_is_the_vendors() -> None:
    assert RealtimeConfig().turn_detection is not None
    assert json.dumps(RealtimeConfig().ga_session("sess_x", 0, "m"))  # plain JSON
