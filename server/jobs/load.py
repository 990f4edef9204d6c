"""The gateway's measurement of worker load, for load-aware interims (streaming/pacing.py).

Two sources, one `WorkerLoad` for every open session:
- interim turnaround, from each interim result this gateway routes: the result
  carries its queue wait and decode time (and, across processes, when it was
  published), so wait = queue wait + transit and turnaround = wait + decode,
  added to recent means. Every answered interim counts, also the slow ones whose
  segment closed meanwhile: those matter most under load;
- finals waiting unstarted and warm workers, polled from the queue and the
  readiness check by one task (not per frame: `depth()` is a Redis round
  trip in distributed mode).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from server.jobs.queue import QueueDepth
from streaming.jobs import JobKind, JobResult
from streaming.pacing import WorkerLoad

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


class LoadMonitor:
    """Measures the load; `current` is what sessions observe.

    The shell calls `answered` for every result it routes, with
    `time.monotonic()`; `run` polls the rest until cancelled."""

    def __init__(
        self,
        depth: Callable[[], Awaitable[QueueDepth]],
        warm_workers: Callable[[], Awaitable[int]],
    ) -> None:
        self._depth = depth
        self._warm_workers = warm_workers
        self._turnaround = RecentMean()
        self._wait = RecentMean()
        self._finals_waiting = 0
        self._warm = 0
        self.current = WorkerLoad()

    def answered(self, result: JobResult, now: float) -> None:
        if result.kind is not JobKind.INTERIM:
            return
        transit = max(0.0, time.time() - result.published_at) if result.published_at else 0.0
        wait = result.queue_seconds + transit
        self._turnaround.add(wait + result.transcribe_seconds, now)
        self._wait.add(wait, now)
        self._publish()

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
