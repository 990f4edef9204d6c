"""The worker loop: take jobs, run Whisper, publish results. Same code in every mode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from server.metrics import Metrics
from server.queue import TakenJob, WorkerQueue
from streaming.codecs import Int16Array
from streaming.transcript import Job, JobKind, JobResult, TranscribeOptions, Word

log = logging.getLogger("streamscribe.worker")


class Transcriber(Protocol):
    def transcribe(self, audio: Int16Array, options: TranscribeOptions, kind: JobKind) -> list[Word]: ...

    def warm_up(self) -> float: ...


def run_job(transcriber: Transcriber, job: Job) -> tuple[tuple[Word, ...], str | None, float]:
    """Transcribe one job; word times move onto the stream clock. Never raises."""
    started = time.perf_counter()
    try:
        words = transcriber.transcribe(job.audio, job.options, job.kind)
    except Exception as error:
        log.exception("transcription failed for %s seq %d", job.session_id, job.seq)
        return (), f"transcription failed: {type(error).__name__}: {error}"[:300], time.perf_counter() - started
    shifted = tuple(Word(w.text, job.start + w.start, job.start + w.end, w.confidence) for w in words)
    return shifted, None, time.perf_counter() - started


async def process(queue: WorkerQueue, transcriber: Transcriber, taken: TakenJob, metrics: Metrics | None) -> None:
    job = taken.job
    if metrics:
        metrics.jobs_running.inc()
    try:
        words, error, seconds = await asyncio.to_thread(run_job, transcriber, job)
    finally:
        if metrics:
            metrics.jobs_running.dec()
    if metrics:
        metrics.whisper_seconds.labels(job.kind.value).observe(seconds)
        if error:
            metrics.errors.labels("transcription").inc()
    result = JobResult(
        session_id=job.session_id,
        channel=job.channel,
        seq=job.seq,
        kind=job.kind,
        revision=job.revision,
        words=words,
        error=error,
        queue_seconds=taken.waited_s,
        transcribe_seconds=seconds,
    )
    await queue.complete(taken, result)


class WorkerPool:
    """`count` concurrent worker loops over one warm transcriber (embedded mode)."""

    def __init__(
        self,
        queue: WorkerQueue,
        transcriber_factory: Callable[[], Transcriber],
        count: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._queue = queue
        self._factory = transcriber_factory
        self._count = count
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []
        self.transcriber: Transcriber | None = None
        self.warm_workers = 0
        self._stopping = False

    async def start(self) -> None:
        self.transcriber = await asyncio.to_thread(self._factory)
        seconds = await asyncio.to_thread(self.transcriber.warm_up)
        log.info("model warm in %.2f s; %d worker(s)", seconds, self._count)
        transcriber = self.transcriber
        self._tasks = [asyncio.create_task(self._loop(transcriber), name=f"worker-{i}") for i in range(self._count)]
        self.warm_workers = self._count
        if self._metrics:
            self._metrics.workers_warm.set(self._count)

    async def _loop(self, transcriber: Transcriber) -> None:
        while not self._stopping:
            for taken in await self._queue.take(1):
                # Shielded: a job in hand is finished and published even when stopping.
                await asyncio.shield(process(self._queue, transcriber, taken, self._metrics))

    async def stop(self, graceful: bool = False, timeout_s: float = 60.0) -> None:
        """Stop the loops. Graceful: take no new job, finish the ones in hand."""
        self._stopping = True
        self.warm_workers = 0
        if graceful and self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
