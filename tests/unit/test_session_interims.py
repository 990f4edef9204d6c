"""Interim results of the open segment: one in flight, stale ones dropped, stabilized words."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.actions import Action, SendMessage
from streaming.events import TranscriptEvent
from streaming.jobs import Job, JobKind
from tests.unit.configs import session_config
from tests.unit.session_harness import (
    Harness,
    finals,
    interims,
    jobs,
    kinds,
    results,
    silence,
    speech,
    track,
    transcript,
    words_for,
)

# -- interim results ----------------------------------------------------------------


def open_segment_with_interim(h: Harness, seconds: float = 2.0) -> Job:
    actions = h.send(track(("silence", 0.5), ("speech", seconds)))
    (job,) = interims(actions)
    return job


def test_no_interim_jobs_without_interim_results() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 3.0)))
    assert jobs(h.log) == []


def test_at_most_one_interim_job_in_flight() -> None:
    h = Harness([("interim_results", "true")])
    job = open_segment_with_interim(h, seconds=5.0)  # five seconds, still one job
    assert job.kind is JobKind.INTERIM
    assert job.seq == 1
    assert job.start == pytest.approx(0.26)
    assert 0.5 <= job.duration < 0.6
    out = h.answer(job, ["hel"])
    assert kinds(out) == ["Results", "Job:interim"]  # the answer frees the slot at once
    message = results(out)[0]
    assert message["is_final"] is False
    assert message["speech_final"] is False
    assert message["start"] == pytest.approx(0.26)
    assert message["duration"] == pytest.approx(job.duration, abs=1e-3)
    assert transcript(message) == "hel"
    (second,) = interims(out)
    assert second.seq == 1
    assert second.duration == pytest.approx(5.5 - 0.26)
    assert second.revision > job.revision
    assert interims(h.send(speech(2.0, seed=9))) == []


def test_interims_wait_for_enough_new_audio() -> None:
    h = Harness([("interim_results", "true")])
    (job,) = interims(h.send(track(("silence", 0.5), ("speech", 0.3))))
    assert job.duration == pytest.approx(0.5)  # segment opened at 0.26 s; first interim at 0.5 s of audio
    assert interims(h.answer(job, ["a"])) == []  # only 40 ms more audio since
    assert interims(h.send(speech(0.44, seed=3))) == []  # 0.48 s more
    (more,) = interims(h.send(speech(0.04, seed=4)))  # due after the next 20 ms: 0.5 s more
    assert more.duration == pytest.approx(1.0)


def test_one_interim_in_flight_per_channel() -> None:
    h = Harness([("interim_results", "true"), ("channels", "2"), ("multichannel", "true")])
    stereo = np.stack([track(("silence", 0.5), ("speech", 4.0)), track(("silence", 1.0), ("speech", 3.5))], axis=1)
    actions = h.send(stereo)
    assert sorted(j.channel for j in interims(actions)) == [0, 1]


def test_interim_after_its_final_is_dropped() -> None:
    h = Harness([("interim_results", "true")])
    interim = open_segment_with_interim(h, seconds=1.0)
    (final,) = finals(h.send(silence(1.0)))
    assert final.seq == interim.seq
    assert h.answer(interim, ["late", "interim"]) == []
    out = h.answer(final, ["final"])
    assert kinds(out) == ["Results"]
    assert results(out)[0]["is_final"] is True


def test_interim_arriving_after_final_result_is_dropped() -> None:
    h = Harness([("interim_results", "true")])
    interim = open_segment_with_interim(h, seconds=1.0)
    (final,) = finals(h.send(silence(1.0)))
    h.answer(final, ["final"])
    assert h.answer(interim, ["late"]) == []


def test_older_interim_after_newer_is_dropped() -> None:
    h = Harness([("interim_results", "true")], config=session_config(interim_stall_s=1.0))
    old = open_segment_with_interim(h, seconds=1.0)
    # unanswered for over 1 s: a newer job may go out
    (new,) = interims(h.send(speech(1.2, seed=5)))
    assert new.revision > old.revision
    assert new.duration > old.duration
    out = h.answer(new, ["newer", "words"])
    assert [transcript(m) for m in results(out)] == ["newer words"]
    assert h.answer(old, ["older"]) == []
    # the same interim delivered twice is shown once
    assert results(h.answer(new, ["newer", "words"])) == []


def test_failed_interim_shows_nothing_but_frees_the_slot() -> None:
    h = Harness([("interim_results", "true")])
    job = open_segment_with_interim(h, seconds=2.0)
    out = h.answer(job, [], error="busy")
    assert results(out) == []
    assert len(interims(out)) == 1


def test_empty_first_interim_is_not_shown_but_a_later_empty_one_clears() -> None:
    h = Harness([("interim_results", "true")])
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    out = h.answer(first, [])
    assert results(out) == []
    (second,) = interims(out)
    h.send(speech(0.6, seed=2))
    out = h.answer(second, ["hi"])
    assert [transcript(m) for m in results(out)] == ["hi"]
    (third,) = interims(out)
    out = h.answer(third, [])
    assert [(transcript(m), m["is_final"]) for m in results(out)] == [("", False)]


def test_a_withheld_interim_shows_nothing_and_keeps_what_was_shown() -> None:
    h = Harness([("interim_results", "true")])
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    out = h.answer(first, withheld=True)
    assert results(out) == []  # a first interim withheld: nothing on screen yet
    (second,) = interims(out)  # and the slot is free for the next reading
    h.send(speech(0.6, seed=2))
    (third,) = interims(h.answer(second, ["hi", "there"]))
    h.send(speech(0.6, seed=3))
    out = h.answer(third, withheld=True)
    assert results(out) == []  # not an empty reading: "hi there" stays, no clearing message
    (fourth,) = interims(out)
    out = h.answer(fourth, ["hi", "there", "you"])
    assert [transcript(m) for m in results(out)] == ["hi there you"]


def shown(actions: list[Action]) -> tuple[str, int]:
    """The interim's text and its count of stable (committed) words."""
    (event,) = [a.event for a in actions if isinstance(a, SendMessage) and isinstance(a.event, TranscriptEvent)]
    return event.text, event.stable


def test_a_segments_first_words_wait_for_three_agreeing_readings() -> None:
    # The server's default: two short readings guessing the opening alike commit nothing.
    h = Harness([("interim_results", "true")])
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    out = h.answer(first, ["And", "so", "am", "I"])
    assert shown(out) == ("And so am I", 0)
    (second,) = interims(out)
    h.send(speech(0.6, seed=2))
    out = h.answer(second, ["And", "so", "am", "I"])
    (third,) = interims(out)
    h.send(speech(0.6, seed=3))
    out = h.answer(third, ["And", "so", "my", "fellow"])
    # the third reading heard more: it replaces the guess, and the opening all three agree on is committed
    assert shown(out) == ("And so my fellow", 2)
    (fourth,) = interims(out)
    out = h.answer(fourth, ["And", "so", "my", "fellow", "Americans"])
    assert shown(out) == ("And so my fellow Americans", 4)  # later words: two readings


def test_interim_words_are_stabilized() -> None:
    h = Harness([("interim_results", "true")], config=session_config(interim_opening_readings=2))
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    (second,) = interims(h.answer(first, ["hello", "word"]))
    h.send(speech(0.6, seed=2))
    out = h.answer(second, ["Hello,", "world", "again"])
    assert transcript(results(out)[0]) == "Hello, world again"
    (third,) = interims(out)
    out = h.answer(third, ["HELLO", "world", "again", "more"])
    # "Hello," was committed by two agreeing readings: later readings do not re-spell it
    (message,) = results(out)
    assert transcript(message) == "Hello, world again more"
    words = message["channel"]["alternatives"][0]["words"]
    assert [w["punctuated_word"] for w in words] == ["Hello,", "world", "again", "more"]
    expected = words_for(third, ["a", "b", "c", "d"])
    assert [w["start"] for w in words] == pytest.approx([w.start for w in expected], abs=1e-3)
    assert message["start"] == pytest.approx(third.start)


def test_forced_cut_opens_next_segment_for_interims() -> None:
    h = Harness([("interim_results", "true")], config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 1.0)))
    (first,) = interims(actions)
    actions = h.send(speech(1.5, seed=4))
    (final,) = finals(actions)
    assert final.seq == 1
    later = interims(actions)
    assert all(j.seq == 2 for j in later)
    assert h.answer(first, ["stale"]) == []
