"""The speculative final told to adapters (streaming.channel, with `turn_notices`):
its reading as a `SpeculativeFinalEvent`, its abandonment as a `SpeculationAbandonedEvent`.
/v1/listen sessions (no `turn_notices`) get neither."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest

from streaming.actions import Action, Notice, SendMessage
from streaming.events import SpeculationAbandonedEvent, SpeculativeFinalEvent, TranscriptEvent
from streaming.jobs import Job
from streaming.session import ListenSession
from tests.unit.configs import session_config
from tests.unit.session_harness import MODEL, EnergyDetector, Harness, finals, silence, speech, track

CONFIG = session_config(default_endpointing_ms=500, speculative_ms=200)
LEAD = ("silence", 1.0)


def harness(*, notices: bool, interims: bool = True) -> Harness:
    h = Harness([("interim_results", "true")] if interims else [], config=CONFIG)
    if notices:
        params = replace(h.params, turn_notices=True)
        h.session = ListenSession(session_id="sess-1", params=params, model=MODEL, detector_factory=EnergyDetector,
                                  config=CONFIG)  # fmt: skip
    return h


def told(actions: Iterable[Action]) -> list[object]:
    """The speculative-final notices among the actions."""
    kinds = (SpeculativeFinalEvent, SpeculationAbandonedEvent)
    return [a.event for a in actions if isinstance(a, Notice) and isinstance(a.event, kinds)]


def pause(h: Harness) -> Job:
    """Speech from 1.0 to 2.0 s, then the 200 ms of silence that start the speculative final."""
    (job,) = finals(h.send(track(LEAD, ("speech", 1.0), ("silence", 0.2))))
    return job


@pytest.mark.parametrize("interims", [True, False])
def test_adapters_get_the_reading_and_the_final_that_follows_says_the_same(interims: bool) -> None:
    h = harness(notices=True, interims=interims)
    job = pause(h)
    out = h.answer(job, ["Hello", "there."])
    (reading,) = told(out)
    assert isinstance(reading, SpeculativeFinalEvent) and reading.text == "Hello there."
    assert reading.start == pytest.approx(job.start) and reading.duration == pytest.approx(job.duration)
    assert reading.speech_end == pytest.approx(2.0, abs=0.021)  # the pause began where the speech ended
    shown = [a.payload["is_final"] for a in out if isinstance(a, SendMessage)]
    assert shown == ([False] if interims else [])  # the interim /v1/listen shows, as before
    final = [a.event for a in h.send(silence(0.3)) if isinstance(a, SendMessage) and a.final]
    assert [event.words for event in final if isinstance(event, TranscriptEvent)] == [reading.words]
    assert told(h.answer(job, ["Hello", "there."])) == []  # a redelivery tells nothing twice


def test_speech_resuming_abandons_the_reading_once() -> None:
    h = harness(notices=True)
    job = pause(h)
    assert [type(event) for event in told(h.answer(job, ["Hello"]))] == [SpeculativeFinalEvent]
    (abandoned,) = told(h.send(speech(0.1, seed=5)))
    assert isinstance(abandoned, SpeculationAbandonedEvent) and abandoned.channel == 0
    assert abandoned.timestamp == pytest.approx(2.22, abs=0.021)
    assert told(h.send(speech(0.5, seed=6))) == []


def test_an_abandoned_job_answering_late_tells_nothing() -> None:
    h = harness(notices=True)
    job = pause(h)
    assert [type(event) for event in told(h.send(speech(0.1, seed=5)))] == [SpeculationAbandonedEvent]
    assert told(h.answer(job, ["late"])) == []


def test_v1_listen_sessions_get_no_speculative_notices() -> None:
    h = harness(notices=False)
    job = pause(h)
    out = [*h.answer(job, ["Hello"]), *h.send(speech(0.3, seed=5))]
    assert not [a for a in out if isinstance(a, Notice)]
    assert [a.payload["type"] for a in out if isinstance(a, SendMessage)][:1] == ["Results"]
