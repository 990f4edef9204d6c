"""How a session ends (CloseStream, timeouts, errors, disconnects) and the events it sends."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from streaming.actions import CloseSocket, RecordAudio, SendMessage
from streaming.jobs import Word
from streaming.protocol import CloseCode
from streaming.session import State
from tests.unit.configs import session_config
from tests.unit.session_harness import (
    UTTERANCE,
    Harness,
    finals,
    kinds,
    messages,
    results,
    silence,
    speech,
    three_utterances,
    track,
    transcript,
)

# -- closing -----------------------------------------------------------------------


def test_close_stream_sends_all_finals_then_metadata_then_closes() -> None:
    h = Harness()
    audio = track(*UTTERANCE, ("speech", 1.0))
    (one,) = finals(h.send(audio))
    actions = h.text('{"type": "CloseStream"}')
    (two,) = finals(actions)
    assert kinds(actions) == ["Job:final"]
    assert h.session.state is State.DRAINING
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, ["one"])
    assert kinds(out) == ["Results", "Results", "Metadata", "Close:1000"]
    r1, r2 = results(out)
    assert (transcript(r1), r1["speech_final"]) == ("one", True)
    assert (transcript(r2), r2["speech_final"], r2["from_finalize"]) == ("two", False, False)
    metadata = messages(out, "Metadata")[0]
    assert metadata["request_id"] == "sess-1"
    assert metadata["duration"] == pytest.approx(4.0)
    assert metadata["channels"] == 1
    assert metadata["sha256"] == hashlib.sha256(bytes(h.sent)).hexdigest()
    assert metadata["created"] == "2024-05-01T00:00:00Z"
    assert metadata["models"] == ["model-uuid-1"]
    assert metadata["model_info"]["model-uuid-1"]["arch"] == "whisper-tiny"
    close = out[-1]
    assert close == CloseSocket(1000, "")
    assert h.session.closed
    assert h.session.close_code == 1000
    # nothing more after the close
    assert h.send(speech(0.5)) == []
    assert h.text('{"type": "KeepAlive"}') == []
    assert h.tick(h.now + 100) == []
    assert h.answer(two, ["again"]) == []


def test_close_stream_with_nothing_pending_closes_at_once() -> None:
    h = Harness()
    h.send(silence(1.0))
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["Metadata", "Close:1000"]


def test_close_stream_twice_is_harmless() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (job,) = finals(h.text('{"type": "CloseStream"}'))
    assert h.text('{"type": "CloseStream"}') == []
    assert h.text('{"type": "Finalize"}') == []
    assert kinds(h.answer(job)) == ["Results", "Metadata", "Close:1000"]


def test_transcript_document() -> None:
    h = Harness([("language", "en")])
    one, two, three = three_utterances(h)
    h.text('{"type": "CloseStream"}')
    for job, text in ((one, "one"), (two, ""), (three, "three")):
        h.answer(job, [text] if text else [])
    document = h.session.transcript_document()
    assert document["request_id"] == "sess-1"
    assert document["transcript"] == "one three"
    assert len(document["results"]) == 2
    assert document["close"] == {"code": 1000, "reason": ""}
    assert document["params"]["language"] == "en"
    assert document["errors"] == []


def test_audio_is_recorded_at_16k_including_resampler_tail() -> None:
    h = Harness([("sample_rate", "8000"), ("channels", "2"), ("multichannel", "true")])
    stereo = np.stack([speech(1.0, 8000, seed=1), silence(1.0, 8000)], axis=1)
    h.send(stereo)
    h.text('{"type": "CloseStream"}')
    recorded = [a.samples for a in h.log if isinstance(a, RecordAudio)]
    assert all(r.shape[1] == 2 and r.dtype == np.int16 for r in recorded)
    total = np.concatenate(recorded)
    assert abs(len(total) - 16_000) <= 1
    assert not total[:, 1].any()
    assert np.sqrt(np.mean(total[:, 0].astype(np.float64) ** 2)) == pytest.approx(3000, rel=0.1)


# -- events --------------------------------------------------------------------------


def test_speech_started_only_with_vad_events() -> None:
    h = Harness([("vad_events", "true")])
    actions = h.send(track(*UTTERANCE))
    assert kinds(actions) == ["SpeechStarted", "Job:final"]
    (started,) = messages(actions, "SpeechStarted")
    assert started == {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 1.0}
    # sent when the speech is detected: within 120 ms (6 voiced frames) of its start
    index = next(i for i, a in enumerate(h.log) if isinstance(a, SendMessage))
    audio_before = sum(len(a.samples) for a in h.log[:index] if isinstance(a, RecordAudio))
    assert audio_before / 16_000 == pytest.approx(1.12, abs=0.021)

    quiet = Harness([("vad_events", "false")])
    assert messages(quiet.send(track(*UTTERANCE)), "SpeechStarted") == []
    assert messages(Harness().send(track(*UTTERANCE)), "SpeechStarted") == []


def test_speech_started_is_not_repeated_after_a_forced_cut() -> None:
    h = Harness([("vad_events", "true")], config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 5.0), ("silence", 1.0)))
    assert len(messages(actions, "SpeechStarted")) == 1
    assert len(finals(actions)) >= 3


def test_utterance_end_after_the_gap() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6))))
    word = Word("hi", 1.0, 1.4, 0.9)
    out = h.answer(job, words=[word])
    assert kinds(out) == ["Results"]  # clock at 2.1 s: gap not over yet
    assert messages(h.send(silence(0.2)), "UtteranceEnd") == []  # 2.3 s
    out = h.send(silence(0.2))  # 2.5 s >= 1.4 + 1.0
    assert messages(out, "UtteranceEnd") == [{"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 1.4}]
    assert messages(h.send(silence(2.0)), "UtteranceEnd") == []  # once per utterance


def test_utterance_end_follows_a_late_final_at_once() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 2.0))))
    out = h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])
    assert kinds(out) == ["Results", "UtteranceEnd"]


def test_no_utterance_end_while_speech_continues_or_without_param() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6), ("speech", 3.0))))
    assert kinds(h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])) == ["Results"]
    assert messages(h.log, "UtteranceEnd") == []

    plain = Harness()
    (job,) = finals(plain.send(track(*UTTERANCE)))
    plain.answer(job)
    plain.send(silence(3.0))
    assert messages(plain.log, "UtteranceEnd") == []


def test_utterance_end_is_sent_before_closing() -> None:
    h = Harness([("utterance_end_ms", "2000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6))))
    h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["UtteranceEnd", "Metadata", "Close:1000"]


# -- control messages and errors -----------------------------------------------------


def test_keep_alive_does_nothing_but_counts_as_activity() -> None:
    h = Harness()
    h.send(silence(1.0))
    assert h.tick(5.0) == []
    assert h.text('{"type": "KeepAlive"}') == []
    assert h.tick(14.9) == []
    out = h.tick(15.0)
    assert kinds(out) == ["Metadata", "Close:1011"]


def test_keep_alive_alone_does_not_keep_a_session_past_the_audio_limit() -> None:
    h = Harness(config=session_config(max_without_audio_s=30.0))
    h.send(silence(1.0))  # the last audio at 1 s
    for now in range(5, 31, 5):
        assert h.tick(float(now)) == []
        assert h.text('{"type": "KeepAlive"}') == []
    out = h.tick(31.0)
    assert kinds(out) == ["Metadata", "Close:1011"]
    close = out[-1]
    assert isinstance(close, CloseSocket) and "no audio received for 30 s" in close.reason


def test_a_session_open_past_the_wall_clock_limit_is_closed() -> None:
    h = Harness(config=session_config(max_wall_s=20.0))
    for _ in range(19):  # a trickle: 0.1 s of audio every second
        h.send(silence(0.1))
        assert h.tick(h.now + 0.9) == []
    out = h.tick(20.0)
    assert kinds(out) == ["Metadata", "Close:1008"]
    close = out[-1]
    assert isinstance(close, CloseSocket) and "maximum duration of 20 s" in close.reason


def test_idle_timeout() -> None:
    h = Harness()
    h.send(silence(1.0))
    assert h.tick(10.99) == []
    out = h.tick(11.0)
    assert kinds(out) == ["Metadata", "Close:1011"]
    close = out[-1]
    assert isinstance(close, CloseSocket)
    assert "NET-0001" in close.reason
    assert "10 s" in close.reason


def test_idle_timeout_flushes_open_segment_first() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    out = h.tick(h.now + 10)
    (job,) = finals(out)
    assert kinds(out) == ["Job:final"]
    out = h.answer(job, ["tail"])
    assert kinds(out) == ["Results", "Metadata", "Close:1011"]
    assert results(out)[0]["speech_final"] is False


def test_results_do_not_count_as_activity() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    h.now = 12.0
    h.answer(job)
    assert kinds(h.tick(13.0)) == ["Metadata", "Close:1011"]


def test_oversized_frame_errors_then_drains_then_closes_1009() -> None:
    h = Harness(config=session_config(max_frame_bytes=1000))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    h.send_bytes(b"\x00" * 1000, 0.03)  # exactly at the limit: accepted
    assert h.session.state is State.ACTIVE
    assert h.session.errors == []
    out = h.send_bytes(b"\x00" * 1001)
    assert kinds(out) == ["Error", "Job:final"]
    error = messages(out, "Error")[0]
    assert "1001" in error["description"]
    assert "max_frame_bytes" in error["description"]
    assert h.session.state is State.DRAINING
    assert h.send_bytes(b"\x00" * 10) == []  # nothing accepted while draining
    (job,) = finals(out)
    out = h.answer(job, ["cut", "short"])
    assert kinds(out) == ["Results", "Metadata", "Close:1009"]
    assert out[-1] == CloseSocket(1009, error["description"])
    assert h.session.errors == [error["description"]]


def test_oversized_frame_with_nothing_open_closes_at_once() -> None:
    h = Harness(config=session_config(max_frame_bytes=640))
    out = h.send_bytes(b"\x00" * 641)
    assert kinds(out) == ["Error", "Metadata", "Close:1009"]


@pytest.mark.parametrize("text", ["hello", "{", "[]", '{"type": 3}', "null", "[" * 100_000])
def test_garbage_text_closes_1007(text: str) -> None:
    h = Harness()
    h.send(silence(0.5))
    out = h.text(text)
    assert kinds(out) == ["Error", "Metadata", "Close:1007"]
    assert h.session.close_code == 1007


def test_unknown_control_type_is_an_error_message_but_the_session_continues() -> None:
    h = Harness()
    out = h.text('{"type": "Configure", "features": {}}')
    assert kinds(out) == ["Error"]
    assert "Configure" in messages(out, "Error")[0]["description"]
    assert h.session.state is State.ACTIVE
    (job,) = finals(h.send(track(*UTTERANCE)))
    h.answer(job)
    assert kinds(h.text('{"type": "CloseStream"}')) == ["Metadata", "Close:1000"]


def test_disconnect_drains_with_going_away() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    out = h.session.disconnected(h.now)
    (job,) = finals(out)
    out = h.answer(job)
    assert kinds(out) == ["Results", "Metadata", f"Close:{int(CloseCode.GOING_AWAY)}"]
    assert h.session.disconnected(h.now) == []


def test_max_session_length_drains_with_1008() -> None:
    h = Harness(config=session_config(max_session_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 2.0)))
    (job,) = finals(actions)
    assert h.session.state is State.DRAINING
    out = h.answer(job)
    assert kinds(out) == ["Results", "Metadata", "Close:1008"]
    close = out[-1]
    assert isinstance(close, CloseSocket)
    assert "max_session_seconds" in close.reason
    assert h.session.audio_seconds == pytest.approx(2.0)


def test_drain_timeout_when_results_never_arrive() -> None:
    h = Harness(config=session_config(drain_timeout_s=60.0))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (job,) = finals(h.text('{"type": "CloseStream"}'))
    start = h.now
    assert h.tick(start + 59.9) == []
    out = h.tick(start + 60.0)
    assert kinds(out) == ["Error", "Metadata", "Close:1011"]
    error = messages(out, "Error")[0]
    assert error["variant"] == "TRANSCRIPTION_TIMEOUT"
    assert "1 final result" in error["description"]
    assert h.session.close_code == CloseCode.INTERNAL_ERROR
    assert h.session.closed
    assert h.answer(job) == []


def test_drain_timeout_keeps_a_client_error_code() -> None:
    h = Harness(config=session_config(max_frame_bytes=1000, drain_timeout_s=5.0))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    h.send_bytes(b"\x00" * 2000)
    out = h.tick(h.now + 5.0)
    assert kinds(out) == ["Error", "Metadata", "Close:1009"]


def test_a_session_behind_on_finals_takes_no_input_and_is_not_idle_meanwhile() -> None:
    h = Harness(config=session_config(max_outstanding_finals=2))
    one, two, *_ = three_utterances(h)  # three utterances sent at once, faster than real time
    assert not h.session.accepts_input  # three finals outstanding for a budget of two
    assert h.tick(h.now + 60.0) == []  # waiting for the workers is not the client's idleness
    h.answer(one)
    assert not h.session.accepts_input
    h.answer(two)
    assert h.session.accepts_input
    assert h.tick(h.now + 9.0) == []  # the idle clock restarted when input was taken again


def test_a_session_held_back_for_finals_that_never_come_is_closed() -> None:
    h = Harness(config=session_config(max_outstanding_finals=1, drain_timeout_s=30.0))
    h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 1.0)))
    assert not h.session.accepts_input
    start = h.now
    assert h.tick(start) == []  # the shell ticks every 0.25 s: the wait is counted from here
    assert h.tick(start + 29.0) == []
    out = h.tick(start + 30.5)
    assert "Close:1011" not in kinds(out)  # draining: it waits for the final a little longer
    close = h.tick(start + 61.0)[-1]
    assert isinstance(close, CloseSocket) and close.code == 1011
    assert "no final result for 30 s" in close.reason
