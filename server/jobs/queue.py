"""Job queues between gateway sessions and Whisper workers.

The rules (DESIGN section 4) hold in every implementation:
- final jobs always go before interim jobs;
- at most one interim job per (session, channel) waits: a newer one replaces
  an unstarted older one, and a final drops the interim of its stream;
- a withdrawn job (an abandoned speculative final) is no longer tracked, and
  is dropped where it has not started.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from streaming.jobs import Job, JobKind, JobResult


@dataclass(frozen=True, slots=True)
class QueueDepth:
    finals: int
    interims: int
    running: int


@dataclass(frozen=True, slots=True)
class TakenJob:
    job: Job
    waited_s: float
    receipt: tuple[str, str] | None = None
    """Where the job came from (stream, entry id), for the queue to acknowledge it."""


class GatewayQueue(Protocol):
    """The gateway's side: submit jobs, receive the results addressed to it."""

    async def submit(self, job: Job) -> None: ...

    def results(self) -> AsyncIterator[JobResult]: ...

    async def depth(self) -> QueueDepth: ...

    def forget(self, session_id: str) -> None:
        """The session has ended: stop tracking its jobs, and drop those no worker has started."""
        ...

    def withdraw(self, job: Job) -> None:
        """The session no longer wants this job's result: stop tracking it
        (never send it again) and drop it if it has not started."""
        ...


class WorkerQueue(Protocol):
    """The worker's side: take jobs, publish their results."""

    async def take(self, max_jobs: int) -> list[TakenJob]: ...

    async def complete(self, taken: TakenJob, result: JobResult) -> None: ...


class MemoryJobQueue:
    """In-process queue for embedded mode: both sides in one event loop."""

    def __init__(self) -> None:
        self._finals: deque[tuple[Job, float]] = deque()
        self._interims: OrderedDict[tuple[str, int], tuple[Job, float]] = OrderedDict()
        self._results: asyncio.Queue[JobResult] = asyncio.Queue()
        self._available = asyncio.Condition()
        self._running = 0
        self._running_by_session: Counter[str] = Counter()
        self._idle_takers = 0

    async def submit(self, job: Job) -> None:
        async with self._available:
            now = time.monotonic()
            if job.kind is JobKind.FINAL:
                self._interims.pop(job.stream_key, None)
                self._finals.append((job, now))
            else:
                # Replacing keeps the stream's place in line: no stream starves.
                self._interims[job.stream_key] = (job, now)
            self._available.notify()

    async def take(self, max_jobs: int) -> list[TakenJob]:
        """Up to `max_jobs` finals, or else one interim.

        Never more than this taker's fair share of the finals waiting: an idle
        worker beside this one gets its job rather than this one a bigger batch.
        Interims are never batched: a final that arrives must wait for at most
        one interim decode per worker.
        """
        async with self._available:
            self._idle_takers += 1
            try:
                await self._available.wait_for(lambda: bool(self._finals or self._interims))
                share = -(-len(self._finals) // self._idle_takers)
            finally:
                self._idle_takers -= 1
            taken: list[TakenJob] = []
            now = time.monotonic()
            while len(taken) < min(max_jobs, share) and self._finals:
                job, queued_at = self._next_final()
                taken.append(TakenJob(job, now - queued_at))
            if not taken:
                job, queued_at = self._interims.popitem(last=False)[1]
                taken.append(TakenJob(job, now - queued_at))
            self._running += len(taken)
            self._running_by_session.update(t.job.session_id for t in taken)
            return taken

    def _next_final(self) -> tuple[Job, float]:
        """The oldest final of the session with the fewest jobs being decoded: a session with many
        finals queued (a client sending faster than real time) takes turns with the others
        instead of making their finals wait behind all of its own."""
        running = self._running_by_session
        index = min(range(len(self._finals)), key=lambda i: (running[self._finals[i][0].session_id], i))
        chosen = self._finals[index]
        del self._finals[index]
        return chosen

    async def complete(self, taken: TakenJob, result: JobResult) -> None:
        self._running -= 1
        self._running_by_session[taken.job.session_id] -= 1
        if self._running_by_session[taken.job.session_id] <= 0:
            del self._running_by_session[taken.job.session_id]
        await self._results.put(result)

    async def results(self) -> AsyncIterator[JobResult]:
        while True:
            yield await self._results.get()

    async def depth(self) -> QueueDepth:
        return QueueDepth(len(self._finals), len(self._interims), self._running)

    def forget(self, session_id: str) -> None:
        """The session has ended: its jobs still queued are work for nobody."""
        self._finals = deque((job, at) for job, at in self._finals if job.session_id != session_id)
        for key in [key for key in self._interims if key[0] == session_id]:
            del self._interims[key]

    def withdraw(self, job: Job) -> None:
        # Revisions are unique within a session. A job a worker has taken
        # runs to its end; the session ignores its result.
        kept = [(j, at) for j, at in self._finals if (j.session_id, j.revision) != (job.session_id, job.revision)]
        if len(kept) < len(self._finals):
            self._finals = deque(kept)
