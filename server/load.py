"""The gateway's measurement of worker load, for load-aware interims (streaming/pacing.py).

Two sources, one `WorkerLoad` for every open session:
- interim turnaround, from the jobs this gateway submits and the results it
  routes: submit time is kept per stream (at most one interim of a stream is
  outstanding), and each answered interim adds its turnaround, and the part
  of it not spent in the Whisper call, to recent means;
- finals waiting unstarted and warm workers, polled from the queue and the
  readiness check by one task (not per frame: `depth()` is a Redis round
  trip in distributed mode).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.queue import QueueDepth
from streaming.pacing import WorkerLoad
from streaming.transcript import Job, JobKind, JobResult

log = logging.getLogger("streamscribe.load")

DEPTH_POLL_S = 0.5
"""How often the queue depth is read: finals wait for about one decode (0.5-1 s on 2 cores), so a
backlog lasts at least that long and a slower poll would miss short ones."""
WARM_POLL_S = 5.0
"""How often warm workers are counted: they change only when a worker starts or stops (in Redis
mode a heartbeat key scan)."""
MEAN_TIME_CONSTANT_S = 2.0
"""The turnaround means follow the last few seconds: a sample after a gap this long outweighs
the old mean, so a mean left high by a burst does not outlive it."""
MIN_SAMPLE_WEIGHT = 0.1
"""Samples arriving together (many streams) each still count."""


class RecentMean:
    """Exponentially weighted mean whose weights decay with time, not sample count."""

    def __init__(self, time_constant_s: float = MEAN_TIME_CONSTANT_S) -> None:
        self.time_constant_s = time_constant_s
        self.value = 0.0
        self._at: float | None = None

    def add(self, sample: float, now: float) -> None:
        if self._at is None:
            self.value = sample
        else:
            weight = 1.0 - math.exp(-max(0.0, now - self._at) / self.time_constant_s)
            self.value += max(MIN_SAMPLE_WEIGHT, weight) * (sample - self.value)
        self._at = now


@dataclass(frozen=True, slots=True)
class _Outstanding:
    revision: int
    submitted_at: float


class LoadMonitor:
    """Measures the load; `current` is what sessions observe.

    The shell calls `submitted` for every live job it submits, `answered`
    for every result it routes and `forget` when a session ends, all with
    `time.monotonic()`; `run` polls the rest until cancelled."""

    def __init__(
        self,
        depth: Callable[[], Awaitable[QueueDepth]],
        warm_workers: Callable[[], Awaitable[int]],
    ) -> None:
        self._depth = depth
        self._warm_workers = warm_workers
        self._outstanding: dict[tuple[str, int], _Outstanding] = {}
        self._turnaround = RecentMean()
        self._wait = RecentMean()
        self._finals_waiting = 0
        self._warm = 0
        self.current = WorkerLoad()

    def submitted(self, job: Job, now: float) -> None:
        if job.kind is JobKind.INTERIM:
            # A newer interim of the stream replaces the older one, as in the queue.
            self._outstanding[job.stream_key] = _Outstanding(job.revision, now)
        else:
            # A final drops the stream's waiting interim from the queue: it may never answer.
            self._outstanding.pop(job.stream_key, None)

    def answered(self, result: JobResult, now: float) -> None:
        if result.kind is not JobKind.INTERIM:
            return
        key = (result.session_id, result.channel)
        outstanding = self._outstanding.get(key)
        if outstanding is None or outstanding.revision != result.revision:
            return
        del self._outstanding[key]
        turnaround = max(0.0, now - outstanding.submitted_at)
        self._turnaround.add(turnaround, now)
        self._wait.add(max(0.0, turnaround - result.transcribe_seconds), now)
        self._publish()

    def forget(self, session_id: str) -> None:
        for key in [key for key in self._outstanding if key[0] == session_id]:
            del self._outstanding[key]

    async def poll(self, *, warm: bool) -> WorkerLoad:
        """Read the queue depth (and with `warm` the warm workers) once; keeps the last
        figures when a read fails (Redis away: the queue's own loops report it)."""
        try:
            self._finals_waiting = (await self._depth()).finals
            if warm:
                self._warm = await self._warm_workers()
        except Exception as error:
            # Whatever went wrong, the next poll must still run: the sessions keep the last figures.
            log.debug("load poll failed: %s", error)
        return self._publish()

    async def run(self, active: Callable[[], bool], published: Callable[[WorkerLoad], None]) -> None:
        """Poll while `active()` (live sessions are open), hand each result to `published`."""
        polls = 0
        every = round(WARM_POLL_S / DEPTH_POLL_S)
        while True:
            if active():
                published(await self.poll(warm=polls % every == 0))
                polls += 1
            await asyncio.sleep(DEPTH_POLL_S)

    def _publish(self) -> WorkerLoad:
        self.current = WorkerLoad(
            interim_turnaround_s=self._turnaround.value,
            interim_wait_s=self._wait.value,
            finals_waiting=self._finals_waiting,
            warm_workers=self._warm,
        )
        return self.current
