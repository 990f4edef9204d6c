"""A Flux stream driven as its shell drives it, with workers that answer at once
(or when told), and helpers that read the Flux messages out of the actions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streaming.actions import Action, CloseSocket, FinishSession, Reply, SendMessage, SubmitJob
from streaming.codecs import Int16Array
from streaming.flux.params import parse_flux_query, speculative_ms
from streaming.flux.stream import FluxStream
from streaming.jobs import Job, JobKind, JobResult
from streaming.session import ListenSession
from tests.unit.configs import session_config
from tests.unit.session_harness import MODEL, EnergyDetector, track, words_for

SERVER_SPECULATIVE_MS = 200
Answer = Callable[[Job], Sequence[str] | None]
"""The words a worker reads in a job's audio; None: leave the job unanswered (answer it later by hand)."""


def says(*texts: str) -> Answer:
    """Every job of segment n reads `texts[n - 1]` (its words split on spaces)."""
    return lambda job: texts[min(job.seq, len(texts)) - 1].split()


class FluxHarness:
    def __init__(self, query: Iterable[tuple[str, str]] = (), answer: Answer | None = None, **config: Any) -> None:
        params, options = parse_flux_query(list(query))
        settings = {"speculative_ms": speculative_ms(options.thresholds, SERVER_SPECULATIVE_MS), **config}
        session = ListenSession(
            session_id="flux-1",
            params=params,
            model=MODEL,
            detector_factory=EnergyDetector,
            config=session_config(**settings),
            reply_to="gateway-7",
            created="2024-05-01T00:00:00Z",
        )
        self.stream = FluxStream(session, options)
        self.answer = answer or says("hello world")
        self.opening = self.stream.opening()
        self.now = 0.0
        self.log: list[Action] = []
        self.unanswered: list[Job] = []

    def _take(self, actions: list[Action]) -> list[Action]:
        """Log the actions; answer the jobs among them (and those the answers cause)."""
        self.log.extend(actions)
        done = list(actions)
        for action in actions:
            if isinstance(action, SubmitJob):
                texts = self.answer(action.job)
                if texts is None:
                    self.unanswered.append(action.job)
                else:
                    done.extend(self.reply(action.job, texts))
        return done

    def reply(self, job: Job, texts: Sequence[str]) -> list[Action]:
        result = JobResult(job.session_id, job.channel, job.seq, job.kind, job.revision, tuple(words_for(job, texts)))
        return self._take(self.stream.receive_result(result, self.now))

    def send(self, samples: Int16Array, chunk_s: float = 0.02) -> list[Action]:
        data = samples.astype("<i2").tobytes()
        step = round(16_000 * chunk_s) * 2
        actions: list[Action] = []
        for offset in range(0, len(data), step):
            piece = data[offset : offset + step]
            self.now = round(self.now + len(piece) / 32_000, 9)
            actions.extend(self._take(self.stream.receive_bytes(piece, self.now)))
        return actions

    def play(self, *parts: tuple[str, float]) -> list[Action]:
        return self.send(track(*parts))

    def text(self, message: dict[str, Any] | str) -> list[Action]:
        raw = message if isinstance(message, str) else json.dumps(message)
        return self._take(self.stream.receive_text(raw, self.now))

    def tick(self, seconds: float) -> list[Action]:
        self.now += seconds
        return self._take(self.stream.tick(self.now))


def replies(actions: Iterable[Action]) -> list[dict[str, Any]]:
    return [action.payload for action in actions if isinstance(action, Reply)]


def turns(actions: Iterable[Action], *, updates: bool = False) -> list[tuple[str, int, str]]:
    """(event, turn_index, transcript) of each TurnInfo, Updates left out unless asked for."""
    return [
        (m["event"], m["turn_index"], m["transcript"])
        for m in replies(actions)
        if m["type"] == "TurnInfo" and (updates or m["event"] != "Update")
    ]


def of_type(actions: Iterable[Action], type_: str) -> list[dict[str, Any]]:
    return [m for m in replies(actions) if m["type"] == type_]


def closes(actions: Iterable[Action]) -> list[int]:
    return [action.code for action in actions if isinstance(action, CloseSocket)]


def finished(actions: Iterable[Action]) -> list[FinishSession]:
    return [action for action in actions if isinstance(action, FinishSession)]


def session_messages(actions: Iterable[Action]) -> list[SendMessage]:
    return [action for action in actions if isinstance(action, SendMessage)]


def final_jobs(jobs: Iterable[Job]) -> list[Job]:
    return [job for job in jobs if job.kind is JobKind.FINAL]
