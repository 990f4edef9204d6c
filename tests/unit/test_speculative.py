"""Speculative finals (streaming.speculative through streaming.session): a
segment's final job starts in the pause before endpointing confirms it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from streaming.actions import Action, SendMessage, WithdrawJob
from streaming.codecs import Int16Array
from streaming.config import SessionConfig
from streaming.jobs import Job, JobKind
from streaming.speculative import SpeculativeStats
from tests.unit.configs import session_config
from tests.unit.session_harness import (
    UTTERANCE,
    Harness,
    finals,
    interims,
    jobs,
    kinds,
    messages,
    results,
    silence,
    speech,
    track,
    transcript,
)

# Endpointing 500 ms as in test_session; the speculative final after 200 ms of it.
CONFIG = session_config(default_endpointing_ms=500, speculative_ms=200)
LEAD = ("silence", 1.0)  # the segment opens with 240 ms of pre-roll: at 0.76 s


def quiet(seconds: float) -> Int16Array:
    """Low noise: unvoiced to the energy detector, but not the quietest frame."""
    rng = np.random.default_rng(99)
    return rng.normal(0, 100, round(seconds * 16_000)).astype(np.int16)


def withdrawn(actions: Iterable[Action]) -> list[Job]:
    return [a.job for a in actions if isinstance(a, WithdrawJob)]


def final_sends(actions: Iterable[Action]) -> list[SendMessage]:
    return [a for a in actions if isinstance(a, SendMessage) and a.payload.get("is_final")]


def stats(h: Harness) -> SpeculativeStats:
    return h.session.speculative


def speculate(h: Harness, speech_s: float = 1.0) -> Job:
    """Speech, then the 200 ms of silence that start the speculative final."""
    h.send(track(LEAD, ("speech", speech_s)))
    assert jobs(h.send(silence(0.18))) == []
    (job,) = finals(h.send(silence(0.02)))
    return job


# -- endpointing confirms ------------------------------------------------------------


def test_pause_starts_one_final_job_before_endpointing() -> None:
    h = Harness(config=CONFIG)
    job = speculate(h)
    assert (job.seq, job.kind) == (1, JobKind.FINAL)
    assert job.start == pytest.approx(0.76)
    assert job.start + job.duration == pytest.approx(2.2)  # the speech and the 200 ms so far
    assert np.array_equal(job.audio, track(LEAD, ("speech", 1.0), ("silence", 0.2))[round(0.76 * 16000) :])
    assert stats(h) == SpeculativeStats(submitted=1)
    # Endpointing closes the segment 300 ms later: no second job, no message yet.
    out = h.send(silence(0.3))
    assert kinds(out) == []
    assert h.session.finals == []


def test_confirmed_final_answered_after_the_close_is_sent_at_once() -> None:
    h = Harness(config=CONFIG)
    actions = h.send(track(*UTTERANCE))
    (job,) = finals(actions)  # one job in all
    assert job.start + job.duration == pytest.approx(2.2)
    out = h.answer(job, ["Hello,", "world."])
    assert kinds(out) == ["Results"]
    (message,) = results(out)
    # The closed segment's times, as without speculation: it closed at 2.5 s.
    assert (message["is_final"], message["speech_final"], message["from_finalize"]) == (True, True, False)
    assert message["start"] == pytest.approx(0.76)
    assert message["duration"] == pytest.approx(1.74)
    assert transcript(message) == "Hello, world."
    assert h.session.finals == [message]
    (send,) = final_sends(out)
    assert send.end_of_turn_s == pytest.approx(3.0 - 2.5)  # answered at 3.0 s, closed at 2.5 s
    assert stats(h) == SpeculativeStats(submitted=1, used=1)


def test_confirmed_final_answered_before_the_close_is_sent_with_the_close() -> None:
    h = Harness(config=CONFIG)
    job = speculate(h)
    assert h.answer(job, ["early"]) == []  # held: the segment is still open
    out = h.send(silence(0.28))
    assert kinds(out) == []
    out = h.send(silence(0.02))  # the 500th ms of silence: endpointing
    assert kinds(out) == ["Results"]
    (message,) = results(out)
    assert transcript(message) == "early"
    assert message["speech_final"] is True
    assert message["duration"] == pytest.approx(2.5 - 0.76)
    (send,) = final_sends(out)
    assert send.end_of_turn_s == 0.0
    assert h.answer(job, ["redelivered"]) == []
    assert len(h.session.finals) == 1
    assert stats(h) == SpeculativeStats(submitted=1, used=1)


def test_finals_keep_segment_order_with_speculation() -> None:
    h = Harness(config=CONFIG)
    parts = [("silence", 0.5), ("speech", 0.6), ("silence", 0.8)] * 2
    one, two = finals(h.send(track(*parts)))
    assert h.answer(two, ["two"]) == []
    assert [transcript(m) for m in results(h.answer(one, ["one"]))] == ["one", "two"]
    assert stats(h) == SpeculativeStats(submitted=2, used=2)


# -- speech resumes ------------------------------------------------------------------


def test_speech_resuming_abandons_the_job_and_ignores_its_result() -> None:
    h = Harness(config=CONFIG)
    first = speculate(h)
    out = h.send(speech(0.02, seed=5))
    assert withdrawn(out) == [first]
    assert jobs(out) == []
    assert stats(h) == SpeculativeStats(submitted=1, wasted=1, wasted_audio_s=pytest.approx(first.duration))
    assert h.answer(first, ["stale"]) == []  # ignored while the segment is open
    h.send(speech(0.48, seed=6))
    (second,) = finals(h.send(silence(0.2)))  # a new pause: a new speculative final
    assert second.seq == first.seq
    assert second.revision > first.revision
    assert second.start + second.duration == pytest.approx(2.9)
    assert kinds(h.send(silence(0.3))) == []  # endpointing confirms the second
    assert h.answer(first, ["stale", "again"]) == []  # ignored after the close too
    (message,) = results(h.answer(second, ["all", "the", "words"]))
    assert transcript(message) == "all the words"
    assert message["duration"] == pytest.approx(3.2 - 0.76)
    assert stats(h) == SpeculativeStats(submitted=2, used=1, wasted=1, wasted_audio_s=pytest.approx(first.duration))


def test_stale_speculative_result_is_never_taken_for_the_real_final() -> None:
    h = Harness(config=CONFIG)
    first = speculate(h)
    h.send(speech(0.1, seed=5))
    out = h.text('{"type": "Finalize"}')  # closes with speech after the speculative audio
    (real,) = finals(out)
    assert real.seq == first.seq and real.revision > first.revision
    assert real.start + real.duration == pytest.approx(2.3)
    assert h.answer(first, ["stale"]) == []
    (message,) = results(h.answer(real, ["real"]))
    assert transcript(message) == "real"
    assert message["from_finalize"] is True
    assert stats(h) == SpeculativeStats(submitted=1, wasted=1, wasted_audio_s=pytest.approx(first.duration))


def test_pause_shorter_than_the_threshold_submits_nothing() -> None:
    h = Harness(config=CONFIG)
    h.send(track(LEAD, ("speech", 0.5)))
    assert jobs(h.send(silence(0.18))) == []
    assert jobs(h.send(speech(0.5, seed=7))) == []
    assert withdrawn(h.log) == []
    assert stats(h) == SpeculativeStats()


def test_one_job_per_pause() -> None:
    # Endpointing 1000 ms: 800 ms of pause after the speculative final, and it stays the only job.
    h = Harness([("endpointing", "1000")], config=CONFIG)
    job = speculate(h)
    assert jobs(h.send(silence(0.78))) == []
    assert h.session.finals == []
    assert kinds(h.send(silence(0.02))) == []  # closed, waiting for the speculative result
    assert transcript(results(h.answer(job, ["one"]))[0]) == "one"
    assert jobs(h.log) == [job]


def test_too_little_speech_to_transcribe_gets_no_speculative_final() -> None:
    h = Harness(config=CONFIG)
    h.send(track(LEAD, ("speech", 0.14)))  # opens (120 ms voiced) but under min_speech_ms (200)
    assert jobs(h.send(silence(1.0))) == []
    assert stats(h) == SpeculativeStats()


# -- off -----------------------------------------------------------------------------


def session_trace(config: SessionConfig, query: list[tuple[str, str]]) -> tuple[list[str], list[tuple[float, float]]]:
    """What the session did with two utterances, one with a 300 ms pause inside."""
    h = Harness([*query, ("interim_results", "true")], config=config)
    h.send(track(LEAD, ("speech", 1.0), ("silence", 0.3), ("speech", 0.5), ("silence", 1.0), ("speech", 0.6)))
    for job in jobs(h.log):
        h.answer(job, ["x"])
    h.text('{"type": "CloseStream"}')
    assert withdrawn(h.log) == []
    return kinds(h.log), [(job.start, job.duration) for job in jobs(h.log)]


@pytest.mark.parametrize(
    ("speculative_ms", "query"),
    [
        (None, []),
        (0, []),
        (500, []),  # not under the endpointing silence
        (200, [("endpointing", "200")]),
        (200, [("endpointing", "false")]),
    ],
)
def test_off_keeps_todays_behaviour(speculative_ms: int | None, query: list[tuple[str, str]]) -> None:
    baseline = session_config(default_endpointing_ms=500)
    config = session_config(default_endpointing_ms=500, speculative_ms=speculative_ms)
    assert session_trace(config, query) == session_trace(baseline, query)
    h = Harness(query, config=config)
    h.send(track(*UTTERANCE))
    assert stats(h) == SpeculativeStats()


def test_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="speculative_ms"):
        session_config(speculative_ms=-1)


# -- Finalize, end of stream, maximum length --------------------------------------------


def test_finalize_in_the_pause_reuses_the_speculative_job() -> None:
    h = Harness(config=CONFIG)
    job = speculate(h)
    h.send(silence(0.1))
    assert kinds(h.text('{"type": "Finalize"}')) == []  # no duplicate job
    (message,) = results(h.answer(job, ["done"]))
    assert (message["from_finalize"], message["speech_final"]) == (True, False)
    assert message["duration"] == pytest.approx(2.3 - 0.76)
    assert stats(h) == SpeculativeStats(submitted=1, used=1)


def test_close_stream_in_the_pause_reuses_the_speculative_job() -> None:
    h = Harness(config=CONFIG)
    job = speculate(h)
    h.answer(job, ["bye"])
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["Results", "Metadata", "Close:1000"]
    assert transcript(results(out)[0]) == "bye"


def test_close_stream_with_an_abandoned_job_outstanding_closes_normally() -> None:
    h = Harness(config=session_config(default_endpointing_ms=500, speculative_ms=200, drain_timeout_s=5.0))
    first = speculate(h)
    h.send(speech(0.3, seed=5))  # abandons it; it is never answered
    out = h.text('{"type": "CloseStream"}')
    (real,) = finals(out)
    assert real.revision > first.revision
    assert kinds(h.answer(real, ["words"])) == ["Results", "Metadata", "Close:1000"]
    assert h.session.close_code == 1000


def test_drain_timeout_does_not_count_the_abandoned_job() -> None:
    h = Harness(config=session_config(default_endpointing_ms=500, speculative_ms=200, drain_timeout_s=5.0))
    speculate(h)
    h.send(speech(0.3, seed=5))
    h.text('{"type": "CloseStream"}')
    out = h.tick(h.now + 5.0)
    assert kinds(out) == ["Error", "Metadata", "Close:1011"]
    assert "1 final result(s)" in messages(out, "Error")[0]["description"]


def test_max_length_cut_before_the_speculative_end_submits_the_cut_segment() -> None:
    # A 2 s maximum and endpointing 1000 ms: the pause starting at 2.2 s gets a
    # speculative final at 2.4 s; the cut at 2.76 s falls at the pause's first
    # (quietest) frame, before the speculative audio ends.
    h = Harness([("endpointing", "1000")], config=session_config(max_segment_s=2.0, speculative_ms=200))
    out = h.send(track(LEAD, ("speech", 1.2), ("silence", 0.56)))
    speculative, real = finals(out)
    assert speculative.start + speculative.duration == pytest.approx(2.4)
    assert withdrawn(out) == [speculative]
    assert (real.seq, real.start) == (1, pytest.approx(0.76))
    assert real.start + real.duration == pytest.approx(2.22)
    (message,) = results(h.answer(real, ["cut"]))
    assert message["speech_final"] is False
    assert h.answer(speculative, ["stale"]) == []
    assert stats(h).wasted == 1


def test_max_length_cut_after_the_speculative_end_reuses_it() -> None:
    # Same, but the pause is low noise until 2.5 s, then digital silence: the
    # quietest frame, and so the cut, lies after the speculative audio's end.
    h = Harness([("endpointing", "1000")], config=session_config(max_segment_s=2.0, speculative_ms=200))
    h.send(track(LEAD, ("speech", 1.2)))
    h.send(quiet(0.3))
    out = h.send(silence(0.26))
    (speculative,) = finals(h.log)
    assert speculative.start + speculative.duration == pytest.approx(2.4)
    assert withdrawn(out) == []
    (message,) = results(h.answer(speculative, ["reused"]))
    assert message["speech_final"] is False
    assert message["start"] + message["duration"] == pytest.approx(2.52)
    assert stats(h) == SpeculativeStats(submitted=1, used=1)


# -- interims and channels --------------------------------------------------------------


def test_interims_hold_back_while_the_speculative_job_is_out() -> None:
    h = Harness([("interim_results", "true")], config=CONFIG)
    h.send(track(LEAD, ("speech", 1.0)))
    (pending,) = [j for j in interims(h.log) if j.revision == max(i.revision for i in interims(h.log))]
    job = finals(h.send(silence(0.2)))[0]
    assert job.revision > pending.revision
    # Nothing new was said: no interim during the pause, and the speculative
    # result, early, is shown as one.
    out = h.answer(job, ["so", "far"])
    (message,) = results(out)
    assert (message["is_final"], transcript(message)) == (False, "so far")
    assert interims(h.send(silence(0.1))) == []
    # Speech resumes: the speculative final is abandoned, and the interim slot
    # is free at once even though the older interim never answered (the
    # queue drops a waiting interim when a final of its stream arrives).
    out = h.send(speech(0.02, seed=8))
    assert withdrawn(out) == [job]
    (interim,) = interims(out)
    assert interim.start + interim.duration == pytest.approx(2.32)
    assert h.answer(pending, ["older"]) == []  # older than what was shown


def test_multichannel_speculates_per_channel() -> None:
    h = Harness([("channels", "2"), ("multichannel", "true")], config=CONFIG)
    left = track(("silence", 0.5), ("speech", 1.0), ("silence", 2.5))
    right = track(("silence", 0.5), ("speech", 1.0), ("silence", 0.3), ("speech", 1.0), ("silence", 1.2))
    h.send(np.stack([left, right], axis=1))
    submitted = finals(h.log)
    assert [(j.channel, round(j.start + j.duration, 2)) for j in submitted] == [(0, 1.7), (1, 1.7), (1, 3.0)]
    assert withdrawn(h.log) == [submitted[1]]
    assert stats(h) == SpeculativeStats(
        submitted=3, used=2, wasted=1, wasted_audio_s=pytest.approx(submitted[1].duration)
    )
    out = [*h.answer(submitted[2], ["right"]), *h.answer(submitted[1], ["stale"]), *h.answer(submitted[0], ["left"])]
    assert [(m["channel_index"], transcript(m)) for m in results(out)] == [([1, 2], "right"), ([0, 2], "left")]
