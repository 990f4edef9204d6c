"""Every message a live session sends carries its typed event (streaming.events), saying what the payload says."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from streaming.actions import Action, Notice, SendMessage
from streaming.codecs import Encoding
from streaming.events import (
    DtmfEvent,
    ErrorEvent,
    SegmentEndEvent,
    SpeechStartedEvent,
    TranscriptEvent,
    UtteranceEndEvent,
)
from streaming.session import ListenSession
from streaming.twilio.call import TwilioCall
from streaming.twilio.messages import Start, Track
from tests.unit.configs import session_config
from tests.unit.session_harness import MODEL, EnergyDetector, Harness, finals, interims, silence, track

SESSION = {
    "session_id": "sess-1",
    "model": MODEL,
    "detector_factory": EnergyDetector,
    "config": session_config(default_endpointing_ms=500),
    "reply_to": "gateway-7",
}


def sent(actions: list[Action]) -> list[SendMessage]:
    return [action for action in actions if isinstance(action, SendMessage)]


def assert_event_matches_payload(message: SendMessage) -> None:
    event, payload = message.event, message.payload
    match event:
        case TranscriptEvent():
            assert payload["type"] == "Results"
            alternative = payload["channel"]["alternatives"][0]
            assert alternative["transcript"] == event.text
            assert [w["punctuated_word"] for w in alternative["words"]] == [w.text for w in event.words]
            assert payload["channel_index"][0] == event.channel
            assert (payload["is_final"], payload["speech_final"], payload["from_finalize"]) == (
                event.is_final,
                event.speech_final,
                event.from_finalize,
            )
            assert payload["start"] == pytest.approx(event.start, abs=1e-3)
            assert payload["duration"] == pytest.approx(event.duration, abs=1e-3)
            assert message.final == event.is_final
            assert 0 <= event.stable <= len(event.words)
        case SpeechStartedEvent():
            assert payload == {
                "type": "SpeechStarted",
                "channel": [event.channel, 1],
                "timestamp": payload["timestamp"],
            }
            assert payload["timestamp"] == pytest.approx(event.timestamp, abs=1e-3)
        case UtteranceEndEvent():
            assert payload["type"] == "UtteranceEnd"
            assert payload["last_word_end"] == pytest.approx(event.last_word_end, abs=1e-3)
        case ErrorEvent():
            assert (payload["type"], payload["description"], payload["variant"]) == (
                "Error",
                event.description,
                event.code,
            )
        case _:
            raise AssertionError(f"a session message without its event: {payload}")


def test_every_message_of_a_session_has_its_event() -> None:
    # plain LocalAgreement-2 (the opening agreement: test_session_interims)
    h = Harness(
        [("interim_results", "true"), ("vad_events", "true"), ("utterance_end_ms", "1000")],
        config=session_config(interim_opening_readings=2),
    )
    h.send(track(("silence", 0.5), ("speech", 1.5)))
    (interim,) = interims(h.log)
    h.answer(interim, ["hello", "there", "friend"])
    (second,) = interims(h.log)[1:]
    h.answer(second, ["hello", "there", "again", "friend"])
    (final,) = finals(h.send(silence(0.8)))
    h.answer(final, ["Hello", "there", "again."])
    h.send(silence(1.5))
    h.text('{"type": "Configure"}')
    h.text("not json")
    messages = sent(h.log)
    for message in messages:
        assert_event_matches_payload(message)
    events = [m.event for m in messages]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "SpeechStartedEvent"
    assert {"TranscriptEvent", "UtteranceEndEvent", "ErrorEvent"} <= set(kinds)
    transcripts = [e for e in events if isinstance(e, TranscriptEvent)]
    # LocalAgreement: the second interim agrees with the first on "hello there": two stable words.
    assert [(t.is_final, t.stable) for t in transcripts] == [(False, 0), (False, 2), (True, 3)]
    assert transcripts[-1].speech_final and transcripts[-1].text == "Hello there again."
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert [e.code for e in errors] == ["BAD_REQUEST", "BAD_REQUEST"]
    assert "Configure" in errors[0].description


def test_failed_transcription_and_finalize_are_typed() -> None:
    h = Harness()
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8))))
    failed = sent(h.answer(job, error="worker crashed", words=[]))
    assert [m.event for m in failed] == [ErrorEvent("worker crashed", "TRANSCRIPTION_FAILED")]
    h.text('{"type": "Finalize"}')  # nothing open: an empty from_finalize final
    (empty,) = sent(h.log)[1:]
    assert isinstance(empty.event, TranscriptEvent)
    assert empty.event.from_finalize and empty.event.words == () and empty.final


def test_redacted_interims_count_stable_words_by_time() -> None:
    h = Harness([("interim_results", "true"), ("redact", "numbers")])
    h.send(track(("silence", 0.5), ("speech", 1.5)))
    (first,) = interims(h.log)
    h.answer(first, ["call", "five", "five", "five"])
    (second,) = interims(h.log)[1:]
    out = sent(h.answer(second, ["call", "five", "five", "five", "now"]))
    (event,) = [m.event for m in out]
    assert isinstance(event, TranscriptEvent)
    assert "five" not in event.text.lower()
    assert event.stable <= len(event.words)
    assert all(w.end <= event.words[event.stable - 1].end for w in event.words[: event.stable])


def test_twilio_dtmf_is_typed_and_redacted() -> None:
    start = Start("MZ1", "CA1", "AC1", (Track.INBOUND,), Encoding.MULAW, 8000)
    harness = Harness([("encoding", "mulaw"), ("sample_rate", "8000"), ("multichannel", "true"), ("redact", "pci")])
    call = TwilioCall(start, harness.session)
    out = call.receive_text(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "7"}}), 0.0)
    (message,) = sent(out)
    assert isinstance(message.event, DtmfEvent)
    assert message.event.digit == message.payload["digit"] != "7"
    assert message.event.channel == 0


def test_speech_started_only_with_vad_events() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    assert sent(h.log) == []
    h = Harness([("vad_events", "true")])
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (message,) = sent(h.log)
    assert isinstance(message.event, SpeechStartedEvent)
    assert message.event.timestamp == pytest.approx(0.5, abs=0.05)


def test_turn_notices_tell_segment_ends_and_finals_without_words() -> None:
    plain = Harness()
    (job,) = finals(plain.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8))))
    assert plain.answer(job, []) == []  # /v1/listen: nothing for a final without words
    assert not any(isinstance(action, Notice) for action in plain.log)
    h = Harness()
    h.session = ListenSession(**{**SESSION, "params": replace(h.params, turn_notices=True)})
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8))))
    (ended,) = [a.event for a in h.log if isinstance(a, Notice)]
    assert isinstance(ended, SegmentEndEvent) and ended.speech_final and ended.channel == 0
    assert ended.end == pytest.approx(2.0, abs=0.05)
    (empty,) = h.answer(job, [])
    assert isinstance(empty, Notice) and isinstance(empty.event, TranscriptEvent)
    assert empty.event.words == () and empty.event.is_final and empty.event.speech_final


def test_an_adapters_finalize_closes_the_open_segment() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (job,) = finals(h.session.finalize(h.now))
    (final,) = sent(h.answer(job, ["now"]))
    assert isinstance(final.event, TranscriptEvent) and final.event.from_finalize
    assert final.event.text == "now"
    h.text('{"type": "CloseStream"}')
    assert h.session.finalize(h.now) == []  # draining or closed: nothing to finalize
