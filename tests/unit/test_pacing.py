"""Load-aware interims: the rule (streaming.pacing) with plain numbers, then
through the session: a busy pool gets fewer interim jobs for the same audio,
a finals backlog pauses them, and finals never change."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streaming.codecs import Int16Array
from streaming.jobs import Job
from streaming.pacing import (
    InterimPacer,
    PacingConfig,
    WorkerLoad,
    finals_backlog,
    interim_step,
    load_step,
    resume_floor,
)
from tests.unit.configs import session_config
from tests.unit.session_harness import Harness, finals, interims, silence, speech, track

PACING = PacingConfig(max_step_s=4.0, wait_factor=2.0, pause_finals_per_worker=1.0, resume_s=2.0)
BASE = 0.5
IDLE = WorkerLoad(interim_turnaround_s=0.3, interim_wait_s=0.0, finals_waiting=0, warm_workers=2)
BUSY = WorkerLoad(interim_turnaround_s=1.0, interim_wait_s=0.5, finals_waiting=1, warm_workers=2)
"""Step 1.0 + 2 x 0.5 = 2 s; one final waiting for two workers is no backlog."""
BACKLOG = WorkerLoad(interim_turnaround_s=0.3, finals_waiting=3, warm_workers=2)


# -- the rule ---------------------------------------------------------------------


def test_idle_workers_keep_the_base_step() -> None:
    assert interim_step(WorkerLoad(), BASE, PACING) == BASE
    # A fast machine or a slow one: no queue wait, so no slowdown below a turnaround of one step.
    assert interim_step(IDLE, BASE, PACING) == BASE
    assert interim_step(WorkerLoad(interim_turnaround_s=0.45), BASE, PACING) == BASE


def test_the_step_is_at_least_the_turnaround() -> None:
    assert interim_step(WorkerLoad(interim_turnaround_s=2.0), BASE, PACING) == pytest.approx(2.0)
    step = interim_step(WorkerLoad(interim_turnaround_s=0.8, interim_wait_s=0.2), BASE, PACING)
    assert step == pytest.approx(0.8 + 2 * 0.2)


def test_the_step_is_bounded_by_the_maximum() -> None:
    assert load_step(WorkerLoad(interim_turnaround_s=2.0, interim_wait_s=1.5), BASE, PACING) == 4.0
    assert load_step(WorkerLoad(interim_turnaround_s=30.0), BASE, PACING) == 4.0
    # A maximum under the base step never makes interims more frequent than the base.
    low = PacingConfig(max_step_s=0.2, wait_factor=2.0, pause_finals_per_worker=1.0, resume_s=2.0)
    assert load_step(WorkerLoad(interim_turnaround_s=2.0), BASE, low) == BASE


def test_first_interim_of_a_segment_keeps_the_base_step_under_load() -> None:
    assert interim_step(BUSY, BASE, PACING, first=True) == BASE
    assert interim_step(BUSY, BASE, PACING, first=False) == pytest.approx(2.0)


def test_a_finals_backlog_pauses_interims() -> None:
    assert finals_backlog(BACKLOG, PACING)
    assert interim_step(BACKLOG, BASE, PACING) is None
    assert interim_step(BACKLOG, BASE, PACING, first=True) is None
    # As many finals waiting as warm workers: each takes one, none is left behind.
    assert not finals_backlog(WorkerLoad(finals_waiting=2, warm_workers=2), PACING)
    # Warm workers unknown count as one.
    assert finals_backlog(WorkerLoad(finals_waiting=2, warm_workers=0), PACING)
    assert not finals_backlog(WorkerLoad(finals_waiting=1, warm_workers=0), PACING)


def test_after_a_pause_the_step_eases_down_from_the_maximum() -> None:
    assert resume_floor(None, PACING) == 0.0
    assert [resume_floor(t, PACING) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 5.0)] == [4.0, 3.0, 2.0, 1.0, 0.0, 0.0]
    assert interim_step(IDLE, BASE, PACING, since_resume_s=1.0) == 2.0
    assert interim_step(IDLE, BASE, PACING, first=True, since_resume_s=1.9) == pytest.approx(BASE)
    assert interim_step(IDLE, BASE, PACING, since_resume_s=3.0) == BASE
    # The rule's own step wins where it is the longer.
    assert interim_step(BUSY, BASE, PACING, since_resume_s=1.5) == pytest.approx(2.0)


def test_pacer_recovers_smoothly_after_a_backlog() -> None:
    pacer = InterimPacer(BASE, PACING)
    assert pacer.step(0.0, first=False) == BASE  # idle until told otherwise
    pacer.observe(BACKLOG, 1.0)
    assert pacer.step(1.0, first=False) is None
    pacer.observe(BACKLOG, 1.5)  # the same measurement again changes nothing
    pacer.observe(IDLE, 2.0)
    assert pacer.step(2.0, first=False) == 4.0
    assert pacer.step(3.0, first=True) == 2.0
    assert pacer.step(4.0, first=False) == BASE
    pacer.observe(IDLE, 5.0)  # no pause in between: no new easing
    assert pacer.step(5.0, first=False) == BASE


def test_without_pacing_the_step_ignores_the_load() -> None:
    pacer = InterimPacer(BASE, None)
    pacer.observe(BACKLOG, 0.0)
    assert pacer.step(0.0, first=False) == BASE
    assert interim_step(BACKLOG, BASE, None) == BASE


def test_invalid_pacing_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid interim pacing"):
        PacingConfig(max_step_s=4.0, wait_factor=-1.0, pause_finals_per_worker=1.0, resume_s=2.0)


# -- through the session ------------------------------------------------------------

CONFIG = session_config(default_endpointing_ms=500, interim_pacing=PACING)
UTTERANCE = (("silence", 1.0), ("speech", 8.0), ("silence", 1.0))


def stream(h: Harness, audio: Int16Array) -> tuple[list[Job], list[Job]]:
    """Send at real-time pace, answering every interim at once (so only the
    pacing holds them back); returns the interim and final jobs."""
    interim_jobs: list[Job] = []
    final_jobs: list[Job] = []
    for offset in range(0, len(audio), 320):
        actions = h.send(audio[offset : offset + 320])
        final_jobs.extend(finals(actions))
        waiting = interims(actions)
        while waiting:
            job = waiting.pop()
            interim_jobs.append(job)
            waiting.extend(interims(h.answer(job, ["w"])))
    return interim_jobs, final_jobs


def paced_session(load: WorkerLoad | None) -> Harness:
    h = Harness([("interim_results", "true")], config=CONFIG)
    if load is not None:
        h.session.observe_load(load, 0.0)
    return h


def same_jobs(a: list[Job], b: list[Job]) -> bool:
    return [(j.seq, j.start, j.duration) for j in a] == [(j.seq, j.start, j.duration) for j in b] and all(
        np.array_equal(x.audio, y.audio) for x, y in zip(a, b, strict=True)
    )


def test_busy_workers_get_fewer_interims_for_the_same_audio_and_the_same_finals() -> None:
    audio = track(*UTTERANCE)
    idle_interims, idle_finals = stream(paced_session(None), audio)
    busy_interims, busy_finals = stream(paced_session(BUSY), audio)
    assert len(idle_interims) >= 16  # every 0.5 s of an 8.5 s segment, as without pacing
    assert len(busy_interims) <= 5
    # The first as early as when idle; then one per 2 s of new audio.
    assert busy_interims[0].duration == pytest.approx(idle_interims[0].duration)
    durations = [j.duration for j in busy_interims]
    assert all(later - earlier >= 2.0 - 1e-6 for earlier, later in itertools.pairwise(durations))
    assert len(idle_finals) == 1
    assert same_jobs(idle_finals, busy_finals)


def test_idle_load_keeps_the_interim_rate_of_an_unpaced_session() -> None:
    audio = track(*UTTERANCE)
    unpaced, _ = stream(
        Harness([("interim_results", "true")], config=session_config(default_endpointing_ms=500)), audio
    )
    paced, _ = stream(paced_session(IDLE), audio)
    assert [j.duration for j in paced] == [j.duration for j in unpaced]


def test_a_finals_backlog_stops_interims_and_leaves_finals_alone() -> None:
    audio = track(*UTTERANCE)
    paused_interims, paused_finals = stream(paced_session(BACKLOG), audio)
    _, idle_finals = stream(paced_session(None), audio)
    assert paused_interims == []
    assert same_jobs(paused_finals, idle_finals)


def test_interims_resume_gradually_after_a_backlog() -> None:
    h = paced_session(BACKLOG)
    paused, _ = stream(h, track(("silence", 1.0), ("speech", 2.0)))
    assert paused == []
    resumed_at = h.now
    h.session.observe_load(IDLE, resumed_at)
    # 2.24 s of segment audio and no interim yet: the floor (4 s at the resumption) holds it back.
    assert interims(h.send(speech(0.02, seed=5))) == []
    first, _ = stream(h, speech(2.0, seed=6))
    assert first, "interims resume within the easing time"
    assert first[0].duration < 4.0
    after = h.now
    assert after - resumed_at >= PACING.resume_s
    later, _ = stream(h, speech(1.0, seed=7))
    durations = [j.duration for j in later]
    # Past the easing: the base step again.
    assert all(b - a == pytest.approx(BASE) for a, b in itertools.pairwise(durations))
    assert len(later) >= 2


def test_without_pacing_the_session_ignores_the_load() -> None:
    audio = track(("silence", 1.0), ("speech", 3.0), ("silence", 1.0))
    h = Harness([("interim_results", "true")], config=session_config(default_endpointing_ms=500))
    h.session.observe_load(BACKLOG, 0.0)
    ignored, _ = stream(h, audio)
    baseline, _ = stream(
        Harness([("interim_results", "true")], config=session_config(default_endpointing_ms=500)), audio
    )
    assert len(ignored) == len(baseline) > 0


def test_silence_alone_gets_no_interims_under_any_load() -> None:
    h = paced_session(IDLE)
    none, _ = stream(h, silence(2.0))
    assert none == []


# -- a pause shows its words at once ----------------------------------------------


def test_a_pause_waives_the_step_unless_the_load_stretched_it() -> None:
    assert interim_step(IDLE, BASE, PACING, at_pause=True) == 0.0
    assert interim_step(IDLE, BASE, None, at_pause=True) == 0.0
    assert interim_step(BUSY, BASE, PACING, at_pause=True) == pytest.approx(2.0)
    assert interim_step(BACKLOG, BASE, PACING, at_pause=True) is None


PAUSING = session_config(default_endpointing_ms=500, interim_pause_ms=100)


def test_a_pause_gets_an_interim_of_the_speech_before_it_at_once() -> None:
    h = Harness([("interim_results", "true")], config=PAUSING)
    (first,) = interims(h.send(track(("silence", 0.5), ("speech", 0.6))))  # at 0.5 s of segment audio
    assert interims(h.answer(first, ["a"])) == []  # 0.1 s more audio: under the step
    assert interims(h.send(silence(0.08))) == []  # not a pause yet
    (at_pause,) = interims(h.send(silence(0.04)))  # 100 ms of silence: its speech is read now
    assert at_pause.duration == pytest.approx(0.6 + 0.26 + 0.1, abs=0.021)
    assert interims(h.answer(at_pause, ["a", "b"])) == []  # one interim per pause
    assert interims(h.send(silence(0.2))) == []


def test_without_a_pause_setting_pauses_change_nothing() -> None:
    h = Harness([("interim_results", "true")], config=session_config(default_endpointing_ms=500))
    (first,) = interims(h.send(track(("silence", 0.5), ("speech", 0.6))))
    h.answer(first, ["a"])
    assert interims(h.send(silence(0.12))) == []  # a pause, but under the step: nothing
