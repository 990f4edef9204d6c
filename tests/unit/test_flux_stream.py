"""Flux (`/v2/listen`) over a live session, sans I/O: the order of turn events,
thresholds, ForceEndTurn, the timeout, Configure and bad input."""

from __future__ import annotations

import itertools

import pytest

from streaming.actions import FinishSession, Notice, Reply, SendMessage, SubmitJob
from streaming.jobs import JobKind, JobResult
from tests.unit.flux_harness import (
    FluxHarness,
    closes,
    finished,
    of_type,
    replies,
    says,
    session_messages,
    turns,
)

LEAD = ("silence", 0.5)
"""The speech that follows starts at 0.5 s; its segment opens 120 ms later (the VAD's start window)."""


def test_one_turn_in_order_with_updates_and_contiguous_sequence_ids() -> None:
    h = FluxHarness(answer=says("Hello world."))
    assert h.opening == [{"type": "Connected", "request_id": "flux-1", "sequence_id": 0}]
    out = h.play(LEAD, ("speech", 1.0), ("silence", 1.0))
    assert turns(out) == [("StartOfTurn", 0, ""), ("EndOfTurn", 0, "Hello world.")]
    infos = of_type(out, "TurnInfo")
    assert [m["sequence_id"] for m in replies(out)] == list(range(1, len(replies(out)) + 1))
    start, end = infos[0], infos[-1]
    assert start["audio_window_start"] == pytest.approx(0.5) and start["words"] == []
    # Sentence-final punctuation: 300 ms of silence reach 0.7, before the 400 ms endpointing
    # (the turn ends on the speculative final, through the session's Finalize).
    assert end["trigger"] == "model" and end["end_of_turn_confidence"] == pytest.approx(0.7, abs=0.02)
    assert end["audio_window_end"] == pytest.approx(1.8, abs=0.03)
    assert [w["word"] for w in end["words"]] == ["Hello", "world."] and 0 < end["words"][0]["confidence"] <= 1
    # Updates about every 0.25 s of audio while the turn is open, none outside it.
    assert 4 <= sum(m["event"] == "Update" for m in infos) <= 6
    assert all(m["event"] != "Update" for m in infos[infos.index(end) :])


def test_updates_come_every_quarter_second_of_audio_while_a_turn_is_open() -> None:
    h = FluxHarness(answer=says("one two three"))
    h.play(LEAD)
    clocks: list[float] = []
    for _ in range(100):  # 2 s of speech, 20 ms at a time
        if of_type(h.play(("speech", 0.02)), "TurnInfo"):
            clocks.append(h.now)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(clocks)]
    assert len(gaps) >= 6 and all(gap == pytest.approx(0.26, abs=0.011) for gap in gaps)  # 0.25 s in 20 ms frames


def test_a_trailing_and_keeps_the_turn_open_across_segments() -> None:
    h = FluxHarness(answer=says("I went there and", "then I came back."))
    # 450 ms of silence closes the first segment (endpointing 400 ms) but the
    # trailing "and" needs 600 ms: the speech that resumes is the same turn.
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.45), ("speech", 1.0), ("silence", 1.0))
    assert turns(out) == [("StartOfTurn", 0, ""), ("EndOfTurn", 0, "I went there and then I came back.")]
    finals = [m for m in session_messages(out) if m.final]
    assert len(finals) == 2


def test_the_same_pause_after_a_full_stop_ends_the_turn() -> None:
    h = FluxHarness(answer=says("I went there.", "Then I came back."))
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.45), ("speech", 1.0), ("silence", 1.0))
    assert turns(out) == [
        ("StartOfTurn", 0, ""),
        ("EndOfTurn", 0, "I went there."),
        ("StartOfTurn", 1, ""),
        ("EndOfTurn", 1, "Then I came back."),
    ]


def test_eager_end_of_turn_is_the_speculative_final_and_the_end_repeats_it() -> None:
    h = FluxHarness([("eager_eot_threshold", "0.5")], answer=says("hello world"))
    out = h.play(LEAD, ("speech", 1.0), ("silence", 1.0))
    assert turns(out) == [("StartOfTurn", 0, ""), ("EagerEndOfTurn", 0, "hello world"), ("EndOfTurn", 0, "hello world")]
    eager, end = of_type(out, "TurnInfo")[-2:]
    assert 0.5 <= eager["end_of_turn_confidence"] < 0.7 <= end["end_of_turn_confidence"] + 1e-9
    assert eager["words"] == end["words"]
    # The eager reading came before the segment closed: it was the speculative final, which became the final.
    kinds = [("eager" if a.payload.get("event") == "EagerEndOfTurn" else "final") for a in out
             if (isinstance(a, Reply) and a.payload.get("event") == "EagerEndOfTurn")
             or (isinstance(a, SendMessage) and a.final)]  # fmt: skip
    assert kinds == ["eager", "final"]
    assert h.stream.speculative.used == 1 and h.stream.speculative.wasted == 0


def test_no_eager_events_without_the_eager_threshold() -> None:
    h = FluxHarness(answer=says("hello world"))
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.3), ("speech", 1.0), ("silence", 1.0))
    assert {event for event, _, _ in turns(out)} == {"StartOfTurn", "EndOfTurn"}


def test_speech_resuming_after_an_eager_end_resumes_the_turn() -> None:
    h = FluxHarness([("eager_eot_threshold", "0.5")], answer=says("hello world"))
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.3), ("speech", 0.6), ("silence", 1.0))
    events = [event for event, _, _ in turns(out)]
    assert events == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn", "EndOfTurn"]
    # The abandoned speculative final was withdrawn; TurnResumed came with the abandonment.
    assert h.stream.speculative.wasted == 1


def test_turn_resumed_only_after_eager_and_end_equals_eager_whatever_the_pauses() -> None:
    # Each reading has a word per half second of audio: the transcript grows as the segment does.
    h = FluxHarness(
        [("eager_eot_threshold", "0.3")], answer=lambda job: [f"w{i}" for i in range(1 + int(job.duration / 0.5))]
    )
    parts = [LEAD, ("speech", 0.8), ("silence", 0.15), ("speech", 0.5), ("silence", 0.35), ("speech", 0.4)]
    out = h.play(*parts, ("silence", 0.7), ("speech", 0.9), ("silence", 1.2))
    eager: str | None = None
    index = 0
    for event, turn, transcript in turns(out, updates=True):
        assert turn == index
        if event == "TurnResumed":
            assert eager is not None
            eager = None
        elif event == "EagerEndOfTurn":
            assert transcript and eager is None
            eager = transcript
        elif event == "EndOfTurn":
            assert eager is None or transcript == eager
            eager, index = None, index + 1
    assert index >= 2
    assert {"TurnResumed", "EagerEndOfTurn", "Update"} <= {event for event, _, _ in turns(out, updates=True)}


def test_force_end_turn_ends_the_open_turn_on_what_was_said() -> None:
    h = FluxHarness([("eot_threshold", "1.0")], answer=lambda job: None if job.kind is JobKind.FINAL else ["hi"])
    out = h.play(LEAD, ("speech", 1.0))
    assert turns(out) == [("StartOfTurn", 0, "")]
    assert turns(h.text({"type": "ForceEndTurn"})) == []  # its final is still being read
    (job,) = h.unanswered
    out = h.reply(job, ["hi", "there"])
    assert turns(out) == [("EndOfTurn", 0, "hi there")]
    assert of_type(out, "TurnInfo")[0]["trigger"] == "manual"
    # Without a turn it is ignored, as on Flux.
    assert replies(h.text({"type": "ForceEndTurn"})) == []
    assert replies(h.play(("silence", 0.3))) == []


def test_speech_during_a_forced_end_starts_the_next_turn() -> None:
    h = FluxHarness([("eot_threshold", "1.0")], answer=lambda job: None if job.kind is JobKind.FINAL else ["x"])
    h.play(LEAD, ("speech", 1.0))
    h.text({"type": "ForceEndTurn"})
    before = h.play(("silence", 0.3), ("speech", 0.5))
    assert turns(before) == []  # the new speech waits for the forced end
    out = h.reply(h.unanswered[0], ["first"])
    assert turns(out) == [("EndOfTurn", 0, "first"), ("StartOfTurn", 1, "")]
    assert of_type(out, "TurnInfo")[-1]["audio_window_start"] == pytest.approx(1.8)


def test_eot_threshold_one_leaves_the_end_to_the_timeout() -> None:
    h = FluxHarness([("eot_threshold", "1.0"), ("eot_timeout_ms", "1000")], answer=says("All done."))
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.98))
    assert turns(out) == [("StartOfTurn", 0, "")]
    out = h.play(("silence", 0.04))
    assert turns(out) == [("EndOfTurn", 0, "All done.")]
    assert of_type(out, "TurnInfo")[0]["trigger"] == "timeout"
    assert h.now == pytest.approx(2.52)


def test_speech_too_short_to_transcribe_opens_a_turn_the_timeout_closes() -> None:
    h = FluxHarness([("eot_timeout_ms", "600")])
    out = h.play(LEAD, ("speech", 0.16), ("silence", 1.5))
    assert turns(out) == [("StartOfTurn", 0, ""), ("EndOfTurn", 0, "")]
    assert of_type(out, "TurnInfo")[-1]["trigger"] == "timeout"
    assert [j for j in h.unanswered] == [] and h.stream.session.finals == []


def test_configure_changes_the_thresholds_now_and_answers_with_the_active_ones() -> None:
    h = FluxHarness(answer=says("one and", "two"))
    out = h.text({"type": "Configure", "thresholds": {"eot_threshold": 0.9, "eager_eot_threshold": 0.4},
                  "keyterms": ["Flux"]})  # fmt: skip
    (success,) = of_type(out, "ConfigureSuccess")
    assert success["thresholds"] == {"eot_threshold": 0.9, "eager_eot_threshold": 0.4, "eot_timeout_ms": 5000}
    assert success["keyterms"] == ["Flux"] and success["sequence_id"] == 1
    out = h.play(LEAD, ("speech", 1.0), ("silence", 0.7))
    # "and" at 0.9: 800 ms of silence; the eager 0.4 reached at 300 ms, on the segment's final.
    assert turns(out) == [("StartOfTurn", 0, ""), ("EagerEndOfTurn", 0, "one and")]
    out = h.play(("silence", 0.2))
    assert turns(out) == [("EndOfTurn", 0, "one and")]
    jobs = [a.job for a in h.log if isinstance(a, SubmitJob)]
    assert jobs[-1].options.hotwords == ("Flux",)


def test_configure_out_of_range_fails_and_changes_nothing() -> None:
    h = FluxHarness()
    bad: list[tuple[dict[str, object], str]] = [
        ({"eot_threshold": 0.4}, "eot_threshold"),
        ({"eager_eot_threshold": 0.95}, "eager_eot_threshold"),
        ({"eot_timeout_ms": 100}, "eot_timeout_ms"),
        ({"eot_threshold": "high"}, "eot_threshold"),
        ({"eot_threshold": 0.8, "eot_timeout_ms": 70_000}, "eot_timeout_ms"),
    ]
    for thresholds, name in bad:
        (failure,) = of_type(h.text({"type": "Configure", "thresholds": thresholds}), "ConfigureFailure")
        assert failure["code"] == "INVALID_THRESHOLD" and failure["description"].startswith(name)
    (success,) = of_type(h.text({"type": "Configure"}), "ConfigureSuccess")
    assert success["thresholds"] == {"eot_threshold": 0.7, "eot_timeout_ms": 5000}
    assert [m["sequence_id"] for m in replies(h.log)] == list(range(1, 7))


def test_configure_ignores_language_hints_and_numerals_with_a_warning() -> None:
    h = FluxHarness()
    out = h.text({"type": "Configure", "language_hints": ["en"], "numerals": True})
    assert [m["type"] for m in replies(out)] == ["ConfigureSuccess", "Warning", "Warning"]


def test_close_stream_ends_the_open_turn_then_closes_without_metadata() -> None:
    h = FluxHarness([("eot_threshold", "1.0"), ("tag", "agent-7")], answer=says("still talking"))
    h.play(LEAD, ("speech", 1.0), ("silence", 0.2))
    out = h.text({"type": "CloseStream"})
    assert turns(out) == [("EndOfTurn", 0, "still talking")]
    assert of_type(out, "TurnInfo")[0]["trigger"] == "manual"
    assert closes(out) == [1000] and not [m for m in replies(out) if m["type"] in ("Error", "Metadata")]
    (finish,) = finished(out)
    assert finish.document["source"] == "flux"
    assert finish.document["flux"]["tags"] == ["agent-7"] and finish.document["flux"]["turns"] == 1
    assert isinstance(out[-2], FinishSession)


def test_session_messages_pass_through_for_subscribers_and_notices_do_not() -> None:
    h = FluxHarness([("eager_eot_threshold", "0.5")], answer=says("hello"))
    h.play(LEAD, ("speech", 1.0), ("silence", 1.0))
    assert not [a for a in h.log if isinstance(a, Notice)]
    finals = [a for a in h.log if isinstance(a, SendMessage) and a.final]
    assert [a.payload["type"] for a in finals] == ["Results"]
    assert all("sequence_id" not in a.payload for a in h.log if isinstance(a, SendMessage))
    assert all("sequence_id" in a.payload for a in h.log if isinstance(a, Reply))


def test_malformed_json_is_a_fatal_error_after_the_last_turn() -> None:
    h = FluxHarness(answer=says("half a"))
    h.play(LEAD, ("speech", 1.0))
    out = h.text("{not json")
    assert [m["type"] for m in replies(out)][-2:] == ["TurnInfo", "Error"]
    error = of_type(out, "Error")[0]
    assert error["code"] == "INVALID_MESSAGE" and "JSON" in error["description"]
    assert closes(out) == [1007] and isinstance(out[-3], FinishSession)
    assert h.text({"type": "CloseStream"}) == []


def test_unknown_message_types_are_warned_about_and_ignored() -> None:
    h = FluxHarness()
    (warning,) = replies(h.text({"type": "Finalize"}))
    assert (warning["type"], warning["code"]) == ("Warning", "UNKNOWN_MESSAGE_TYPE")
    assert "Finalize" in warning["description"]
    assert h.stream.ignored_messages == ["Finalize"] and not h.stream.closed
    assert replies(h.text({"type": "KeepAlive"})) == []


def test_an_oversized_frame_is_an_error_with_1009() -> None:
    h = FluxHarness(max_frame_bytes=1024)
    out = h.stream.receive_bytes(b"\0" * 2048, 0.0)
    assert [m["code"] for m in of_type(out, "Error")] == ["MESSAGE_TOO_BIG"] and closes(out) == [1009]


def test_a_failed_transcription_is_a_warning_and_the_stream_goes_on() -> None:
    h = FluxHarness(answer=lambda job: None)
    h.play(LEAD, ("speech", 1.0), ("silence", 0.5))
    job = next(job for job in h.unanswered if job.kind is JobKind.FINAL)
    result = JobResult(job.session_id, job.channel, job.seq, job.kind, job.revision, (), error="worker crashed")
    out = h.stream.receive_result(result, h.now)
    assert [m["code"] for m in of_type(out, "Warning")] == ["TRANSCRIPTION_FAILED"] and closes(out) == []
