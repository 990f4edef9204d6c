"""Twilio Media Streams, sans I/O: the messages, the call clock and the call as a session."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from streaming.actions import Action, CloseSocket, FinishSession, SubmitJob
from streaming.codecs import MULAW_TABLE, Encoding, Int16Array
from streaming.jobs import JobKind, JobResult
from streaming.protocol import CloseCode, ProtocolError, parse_listen_params
from streaming.session import ListenSession
from streaming.twilio.call import TwilioCall
from streaming.twilio.messages import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    Track,
    UnknownEvent,
    parse_twilio_message,
)
from streaming.twilio.tracks import CallClock, TimestampJump
from tests.unit.configs import session_config
from tests.unit.session_harness import MODEL, EnergyDetector, g711_encode, messages, silence, speech, words_for

START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC123",
        "streamSid": "MZ456",
        "callSid": "CA789",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"token": "k", "interim_results": "true"},
    },
    "streamSid": "MZ456",
}


def media(track: str, timestamp_ms: int, payload: bytes, chunk: int = 1) -> str:
    body = {"track": track, "chunk": str(chunk), "timestamp": str(timestamp_ms)}
    body["payload"] = base64.b64encode(payload).decode()
    return json.dumps({"event": "media", "sequenceNumber": "2", "media": body, "streamSid": "MZ456"})


# -- messages ------------------------------------------------------------------------


def test_messages_parse_as_twilio_writes_them() -> None:
    assert parse_twilio_message('{"event": "connected", "protocol": "Call", "version": "1.0.0"}') == Connected("Call")
    start = parse_twilio_message(json.dumps(START))
    assert start == Start("MZ456", "CA789", "AC123", (Track.INBOUND, Track.OUTBOUND), Encoding.MULAW, 8000,
                          {"token": "k", "interim_results": "true"})  # fmt: skip
    assert parse_twilio_message(media("outbound", 5020, b"\xff" * 160, chunk=3)) == Media(
        Track.OUTBOUND, 3, 5020, b"\xff" * 160
    )
    dtmf = {
        "event": "dtmf",
        "streamSid": "MZ456",
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "7"},
    }
    assert parse_twilio_message(json.dumps(dtmf)) == Dtmf(Track.INBOUND, "7")
    assert parse_twilio_message('{"event": "mark", "mark": {"name": "greeting"}}') == Mark("greeting")
    assert parse_twilio_message('{"event": "stop", "stop": {"callSid": "CA789"}}') == Stop()
    assert parse_twilio_message('{"event": "clear"}') == UnknownEvent("clear")


def test_start_with_one_track_and_numbers_as_json_numbers() -> None:
    start = json.loads(json.dumps(START))
    start["start"]["tracks"] = ["outbound"]
    parsed = parse_twilio_message(json.dumps(start))
    assert isinstance(parsed, Start) and parsed.tracks == (Track.OUTBOUND,)
    body = {"event": "media", "media": {"track": "inbound", "chunk": 2, "timestamp": 40, "payload": "//8="}}
    assert parse_twilio_message(json.dumps(body)) == Media(Track.INBOUND, 2, 40, b"\xff\xff")


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("not json", CloseCode.INVALID_DATA, "JSON"),
        ('["event"]', CloseCode.INVALID_DATA, "'event'"),
        ('{"event": "media", "media": {"track": "inbound", "timestamp": "0", "payload": "%%%"}}',
         CloseCode.INVALID_DATA, "base64"),
        ('{"event": "media", "media": {"track": "sideways", "timestamp": "0", "payload": ""}}',
         CloseCode.INVALID_DATA, "sideways"),
        ('{"event": "media", "media": {"track": "inbound", "timestamp": "-5", "payload": ""}}',
         CloseCode.INVALID_DATA, "timestamp"),
        ('{"event": "media", "media": {"track": "inbound", "timestamp": "soon", "payload": ""}}',
         CloseCode.INVALID_DATA, "timestamp"),
        ('{"event": "media"}', CloseCode.INVALID_DATA, "'media' object"),
        ('{"event": "media", "media": {"track": "inbound", "timestamp": "0", "payload": "' + "A" * 40_000 + '"}}',
         CloseCode.MESSAGE_TOO_BIG, "20 ms"),
    ],
)  # fmt: skip
def test_malformed_messages_are_protocol_errors_in_words(text: str, code: CloseCode, words: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_twilio_message(text)
    assert raised.value.code == code
    assert words in raised.value.reason


def test_start_with_another_audio_format_is_refused() -> None:
    start = json.loads(json.dumps(START))
    start["start"]["mediaFormat"] = {"encoding": "audio/L16", "sampleRate": 16000, "channels": 1}
    with pytest.raises(ProtocolError) as raised:
        parse_twilio_message(json.dumps(start))
    assert raised.value.code == CloseCode.POLICY_VIOLATION and "audio/x-mulaw" in raised.value.reason


# -- the call clock ---------------------------------------------------------------------


def columns(data: bytes, tracks: int = 2) -> list[bytes]:
    block = np.frombuffer(data, dtype=np.uint8).reshape(-1, tracks)
    return [block[:, t].tobytes() for t in range(tracks)]


def test_tracks_in_step_come_out_interleaved() -> None:
    clock = CallClock(2, sample_rate=8000, silence=0xFF)
    assert clock.push(0, 0, b"a" * 160) == b""  # the other track has not reached this time yet
    out = clock.push(1, 0, b"b" * 160)
    assert columns(out) == [b"a" * 160, b"b" * 160]
    assert clock.seconds == pytest.approx(0.02)


def test_a_late_track_is_silence_until_it_starts_and_its_audio_lands_at_its_timestamp() -> None:
    clock = CallClock(2, sample_rate=8000, silence=0xFF, max_skew_ms=100)
    out = b"".join(clock.push(0, ms, b"a" * 160) for ms in range(0, 3000, 20))
    inbound, outbound = columns(out)
    assert len(inbound) >= 8000 * 29 // 10  # not held back by more than the skew bound
    assert set(outbound) == {0xFF}
    for ms in range(3000, 4000, 20):
        out += clock.push(0, ms, b"a" * 160) + clock.push(1, ms, b"b" * 160)
    out += clock.flush()
    inbound, outbound = columns(out)
    assert len(inbound) == len(outbound) == 4 * 8000
    assert outbound.index(b"b") == 3 * 8000  # the outbound track's first sample sits at 3.000 s of call time
    assert clock.filled_samples == 3 * 8000


def test_gaps_are_filled_and_duplicates_dropped() -> None:
    clock = CallClock(1, sample_rate=8000, silence=0xFF)
    out = clock.push(0, 0, b"a" * 160) + clock.push(0, 100, b"b" * 160)  # 80 ms lost
    out += clock.push(0, 100, b"b" * 160)  # sent twice
    out += clock.push(0, 110, b"c" * 160)  # overlaps the last 10 ms
    assert out == b"a" * 160 + b"\xff" * 640 + b"b" * 160 + b"c" * 80
    assert clock.late_bytes == 160 + 80
    assert clock.filled_samples == 640


def test_a_timestamp_far_ahead_is_refused_not_filled() -> None:
    clock = CallClock(1, sample_rate=8000, silence=0xFF, max_gap_ms=60_000)
    clock.push(0, 0, b"a" * 160)
    with pytest.raises(TimestampJump, match="ahead"):
        clock.push(0, 10**9, b"a" * 160)


def test_memory_is_bounded_when_one_track_never_comes() -> None:
    clock = CallClock(2, sample_rate=8000, silence=0xFF, max_skew_ms=500)
    for ms in range(0, 60_000, 20):
        clock.push(0, ms, b"a" * 160)
    assert clock.seconds >= 59.5 - 0.02


# -- the call ----------------------------------------------------------------------------


class Call:
    """A TwilioCall driven at real-time pace, as the shell drives it."""

    def __init__(self, start: dict[str, Any] = START, query: str = "") -> None:
        parsed = parse_twilio_message(json.dumps(start))
        assert isinstance(parsed, Start)
        pairs = [tuple(item.split("=", 1)) for item in query.split("&") if item]
        params = replace(
            parse_listen_params(pairs),  # type: ignore[arg-type]
            encoding=Encoding.MULAW, sample_rate=8000, channels=len(parsed.tracks), multichannel=True,
        )  # fmt: skip
        session = ListenSession(
            session_id="call-session",
            params=params,
            model=MODEL,
            detector_factory=EnergyDetector,
            config=session_config(default_endpointing_ms=500),
            created="2026-11-27T00:00:00Z",
        )
        self.call = TwilioCall(parsed, session)
        self.now = 0.0
        self.log: list[Action] = []

    def text(self, text: str) -> list[Action]:
        actions = self.call.receive_text(text, self.now)
        self.log.extend(actions)
        return actions

    def play(self, tracks: dict[str, Int16Array], start_ms: dict[str, int]) -> None:
        """Each track's 8 kHz audio in 20 ms chunks from its start time, interleaved by time."""
        chunks = []
        for name, audio in tracks.items():
            encoded = g711_encode(audio, MULAW_TABLE)
            for offset in range(0, len(encoded), 160):
                chunks.append((start_ms[name] + offset // 8, name, encoded[offset : offset + 160]))
        for timestamp_ms, name, payload in sorted(chunks):
            self.now = timestamp_ms / 1000
            self.text(media(name, timestamp_ms, payload))

    def answer_all(self) -> None:
        for action in list(self.log):
            if isinstance(action, SubmitJob) and action.job.kind is JobKind.FINAL:
                job = action.job
                words = tuple(words_for(job, [f"c{job.channel}s{job.seq}"]))
                result = JobResult(job.session_id, job.channel, job.seq, job.kind, job.revision, words)
                self.log.extend(self.call.receive_result(result, self.now))


def test_two_tracks_become_two_channels_on_the_call_clock() -> None:
    call = Call()
    inbound = np.concatenate([silence(0.5, 8000), speech(1.0, 8000), silence(4.5, 8000)])
    outbound = np.concatenate([silence(0.5, 8000), speech(1.0, 8000, seed=3), silence(1.5, 8000)])
    call.play({"inbound": inbound, "outbound": outbound}, {"inbound": 0, "outbound": 3000})
    jobs = [a.job for a in call.log if isinstance(a, SubmitJob) and a.job.kind is JobKind.FINAL]
    by_channel = {job.channel: job for job in jobs}
    assert set(by_channel) == {0, 1}
    # Segment starts carry the preroll; the outbound one lies 3 s later, where it was said.
    assert by_channel[1].start - by_channel[0].start == pytest.approx(3.0, abs=0.05)
    call.text('{"event": "stop", "stop": {"callSid": "CA789"}}')
    call.answer_all()
    finals = messages(call.log, "Results")
    assert [m["channel_index"] for m in finals] == [[0, 2], [1, 2]]
    closes = [a for a in call.log if isinstance(a, CloseSocket)]
    assert closes == [CloseSocket(CloseCode.NORMAL, "")]
    finish = next(a for a in call.log if isinstance(a, FinishSession))
    assert finish.metadata["callSid"] == "CA789" and finish.metadata["streamSid"] == "MZ456"
    document = finish.document
    assert document["source"] == "twilio" and document["twilio"]["tracks"] == ["inbound", "outbound"]
    assert [(turn["speaker"], turn["text"]) for turn in document["dialogue"]] == [
        ("inbound", "c0s1"),
        ("outbound", "c1s1"),
    ]


def test_dtmf_is_an_event_at_call_time_and_marks_do_nothing() -> None:
    call = Call()
    call.play({"inbound": silence(1.0, 8000), "outbound": silence(1.0, 8000)}, {"inbound": 0, "outbound": 0})
    sent = call.text(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "5"}}))
    assert messages(sent) == [{"type": "Dtmf", "channel": [0, 2], "timestamp": pytest.approx(1.0, abs=0.03),
                               "digit": "5"}]  # fmt: skip
    assert call.text('{"event": "mark", "mark": {"name": "m1"}}') == []
    assert call.call.marks == 1


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        (json.dumps(START), CloseCode.POLICY_VIOLATION, "second start"),
        ("{oops", CloseCode.INVALID_DATA, "JSON"),
        (media("inbound", 10**10, b"\xff" * 160), CloseCode.INVALID_DATA, "ahead"),
    ],
)
def test_mistakes_after_start_report_an_error_and_close(text: str, code: int, words: str) -> None:
    call = Call()
    actions = call.text(text)
    errors = messages(actions, "Error")
    assert len(errors) == 1 and words in errors[0]["description"]
    assert [a for a in actions if isinstance(a, CloseSocket)] == [CloseSocket(code, errors[0]["description"])]


def test_media_of_a_track_start_did_not_announce_closes_the_call() -> None:
    start = json.loads(json.dumps(START))
    start["start"]["tracks"] = ["inbound"]
    call = Call(start)
    actions = call.text(media("outbound", 0, b"\xff" * 160))
    assert [a.code for a in actions if isinstance(a, CloseSocket)] == [CloseCode.INVALID_DATA]


def test_binary_frames_are_not_twilio() -> None:
    call = Call()
    actions = call.call.receive_bytes(b"\x00" * 320, 0.0)
    assert [a.code for a in actions if isinstance(a, CloseSocket)] == [CloseCode.UNSUPPORTED_DATA]


def test_unknown_events_are_ignored_and_remembered() -> None:
    call = Call()
    assert call.text('{"event": "clear"}') == []
    assert call.call.ignored_events == ["clear"]
