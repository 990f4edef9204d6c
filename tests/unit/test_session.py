"""One live session through the core: utterances, ordered finals, Finalize."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streaming.actions import Action, RecordAudio
from streaming.jobs import JobKind, JobResult, TranscribeOptions, Word
from streaming.session import State
from tests.unit.configs import session_config
from tests.unit.session_harness import (
    UTTERANCE,
    Harness,
    finals,
    jobs,
    kinds,
    messages,
    results,
    silence,
    three_utterances,
    track,
    transcript,
)

# -- one utterance -----------------------------------------------------------------


def test_endpointed_utterance_gives_one_final_job_and_speech_final_result() -> None:
    h = Harness()
    actions = h.send(track(*UTTERANCE))
    assert kinds(actions) == ["Job:final"]
    (job,) = finals(actions)
    assert job.session_id == "sess-1"
    assert job.reply_to == "gateway-7"
    assert (job.channel, job.seq, job.kind) == (0, 1, JobKind.FINAL)
    assert job.live  # a worker may hurry it when it is late (server/jobs/hurry.py)
    # 250 ms of pre-roll (12 frames of 20 ms) before the speech at 1.0 s; 500 ms endpoint after 2.0 s
    assert job.start == pytest.approx(0.76)
    assert job.duration == pytest.approx(2.5 - 0.76)
    assert job.audio.dtype == np.int16
    assert np.array_equal(job.audio, track(*UTTERANCE)[round(0.76 * 16000) : 40000])

    out = h.answer(job, ["Hello,", "world."])
    assert kinds(out) == ["Results"]
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["speech_final"] is True
    assert message["from_finalize"] is False
    assert message["channel_index"] == [0, 1]
    assert message["start"] == pytest.approx(0.76)
    assert message["duration"] == pytest.approx(1.74)
    assert transcript(message) == "Hello, world."
    assert [w["word"] for w in message["channel"]["alternatives"][0]["words"]] == ["hello", "world"]
    assert message["metadata"]["request_id"] == "sess-1"
    assert h.session.finals == [message]


def test_silence_only_gives_nothing() -> None:
    h = Harness()
    actions = h.send(silence(3.0))
    assert kinds(actions) == []
    assert sum(len(a.samples) for a in actions if isinstance(a, RecordAudio)) == 48_000


def test_job_options_come_from_params() -> None:
    h = Harness([("language", "de-DE"), ("keyterm", "Kubernetes"), ("keywords", "Redis:3"), ("model", "base")])
    (job,) = finals(h.send(track(*UTTERANCE)))
    assert job.options == TranscribeOptions(language="de", hotwords=("Kubernetes", "Redis"), model="base")


def test_revisions_increase_across_jobs() -> None:
    h = Harness([("interim_results", "true")])
    h.send(track(*UTTERANCE, *UTTERANCE))
    revisions = [j.revision for j in jobs(h.log)]
    assert len(revisions) >= 3
    assert revisions == sorted(set(revisions))


# -- finals ------------------------------------------------------------------------


def test_finals_are_sent_in_segment_order_when_results_arrive_out_of_order() -> None:
    h = Harness()
    one, two, three = three_utterances(h)
    assert h.answer(three, ["three"]) == []
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, ["one"])
    assert [transcript(m) for m in results(out)] == ["one", "two", "three"]
    starts = [m["start"] for m in results(out)]
    assert starts == sorted(starts)
    assert all(m["is_final"] and m["speech_final"] for m in results(out))


def test_redelivered_final_is_ignored() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(two, ["two"]) == []
    assert h.answer(two, ["two again"]) == []  # redelivered before release
    out = h.answer(one, ["one"])
    assert [transcript(m) for m in results(out)] == ["one", "two"]
    assert h.answer(one, ["one again"]) == []  # redelivered after release
    assert h.answer(two, ["two a third time"]) == []
    assert len(h.session.finals) == 2


def test_result_for_unknown_seq_or_channel_is_ignored() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    bogus = JobResult("sess-1", 0, 7, JobKind.FINAL, 99, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(bogus, h.now) == []
    other_channel = JobResult("sess-1", 3, 1, JobKind.FINAL, job.revision, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(other_channel, h.now) == []
    negative = JobResult("sess-1", -1, 1, JobKind.FINAL, job.revision, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(negative, h.now) == []
    assert len(results(h.answer(job))) == 1


def test_final_without_words_sends_nothing_but_does_not_block() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(one, []) == []
    assert [transcript(m) for m in results(h.answer(two, ["two"]))] == ["two"]


def test_failed_final_reports_error_and_keeps_order() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, [], error="model crashed")
    assert kinds(out) == ["Error", "Results"]
    error = messages(out, "Error")[0]
    assert error["description"] == "model crashed"
    assert error["variant"] == "TRANSCRIPTION_FAILED"
    assert transcript(results(out)[0]) == "two"
    assert h.session.errors == ["model crashed"]


def test_short_blip_is_dropped_without_a_job_and_does_not_block() -> None:
    h = Harness()
    # 160 ms of speech opens a segment (>= 120 ms) but is below min_speech_ms (200 ms)
    actions = h.send(track(("silence", 0.5), ("speech", 0.16), ("silence", 1.0), ("speech", 1.0), ("silence", 1.0)))
    (job,) = finals(actions)
    assert job.seq == 2
    out = h.answer(job, ["real"])
    assert [transcript(m) for m in results(out)] == ["real"]


def test_max_length_cut_is_final_but_not_speech_final() -> None:
    h = Harness(config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 5.0), ("silence", 1.0)))
    jobs_ = finals(actions)
    assert len(jobs_) >= 3
    assert all(j.duration <= 2.0 + 1e-9 for j in jobs_)
    # consecutive pieces of one utterance touch: nothing is lost at the cuts
    for a, b in itertools.pairwise(jobs_):
        assert b.start == pytest.approx(a.start + a.duration)
    out: list[Action] = []
    for job in jobs_:
        out += h.answer(job)
    finals_ = results(out)
    assert len(finals_) == len(jobs_)
    assert [m["speech_final"] for m in finals_] == [False] * (len(jobs_) - 1) + [True]
    assert all(m["is_final"] and not m["from_finalize"] for m in finals_)


# -- Finalize ----------------------------------------------------------------------


def test_finalize_flushes_open_segment_with_from_finalize() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    actions = h.text('{"type": "Finalize"}')
    (job,) = finals(actions)
    assert job.duration == pytest.approx(1.5 - 0.26)
    out = h.answer(job, ["done"])
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["from_finalize"] is True
    assert message["speech_final"] is False
    assert transcript(message) == "done"
    assert h.session.state is State.ACTIVE


def test_finalize_with_nothing_open_sends_empty_from_finalize_final() -> None:
    h = Harness()
    h.send(silence(1.5))
    out = h.text('{"type": "Finalize"}')
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["from_finalize"] is True
    assert message["speech_final"] is False
    assert transcript(message) == ""
    assert message["start"] == pytest.approx(1.5)
    assert message["duration"] == 0.0


def test_finalize_waits_for_pending_finals() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    assert h.text('{"type": "Finalize"}') == []
    out = h.answer(job, ["pending"])
    first, second = results(out)
    assert (transcript(first), first["speech_final"], first["from_finalize"]) == ("pending", True, False)
    assert (transcript(second), second["from_finalize"]) == ("", True)


def test_finalize_of_dropped_blip_still_answers() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 0.16)))
    out = h.text('{"type": "Finalize"}')
    assert finals(out) == []
    (message,) = results(out)
    assert message["from_finalize"] is True
    assert transcript(message) == ""


def test_speech_after_finalize_continues_normally() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (one,) = finals(h.text('{"type": "Finalize"}'))
    (two,) = finals(h.send(track(("speech", 1.0), ("silence", 1.0))))
    assert two.seq == 2
    assert two.start == pytest.approx(one.start + one.duration)
    out = h.answer(two, ["two"]) + h.answer(one, ["one"])
    assert [(transcript(m), m["from_finalize"], m["speech_final"]) for m in results(out)] == [
        ("one", True, False),
        ("two", False, True),
    ]
