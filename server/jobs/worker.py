"""The worker loop: take jobs, run Whisper, publish results. Same code in every mode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from server.jobs.hurry import HurryPolicy
from server.jobs.queue import TakenJob, WorkerQueue
from server.metrics import Metrics
from streaming.codecs import Int16Array
from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word

log = logging.getLogger("streamscribe.worker")


class Transcriber(Protocol):
    def transcribe(
        self, audio: Int16Array, options: TranscribeOptions, kind: JobKind, *, hurried: bool = False
    ) -> list[Word] | None:
        """The words of `audio`, times from its first sample; None: an interim reading withheld.
        `hurried`: a final late for its listener, to be decoded on the cheaper short window."""
        ...

    def transcribe_batch(
        self, audios: Sequence[Int16Array], options: TranscribeOptions, kind: JobKind
    ) -> Sequence[list[Word] | None]: ...

    def warm_up(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    words: tuple[Word, ...]
    error: str | None
    seconds: float
    withheld: bool = False


def _on_stream_clock(job: Job, words: Sequence[Word]) -> tuple[Word, ...]:
    return tuple(Word(w.text, job.start + w.start, job.start + w.end, w.confidence) for w in words)


def _outcome(job: Job, words: Sequence[Word] | None, seconds: float) -> Outcome:
    if words is None:
        return Outcome((), None, seconds, withheld=True)
    return Outcome(_on_stream_clock(job, words), None, seconds)


def run_job(transcriber: Transcriber, job: Job, *, hurried: bool = False) -> Outcome:
    """Transcribe one job; word times move onto the stream clock. Never raises."""
    started = time.perf_counter()
    try:
        words = transcriber.transcribe(job.audio, job.options, job.kind, hurried=hurried)
    except Exception as error:
        log.exception("transcription failed for %s seq %d", job.session_id, job.seq)
        return Outcome(
            (), f"transcription failed: {type(error).__name__}: {error}"[:300], time.perf_counter() - started
        )
    return _outcome(job, words, time.perf_counter() - started)


def run_batch(transcriber: Transcriber, jobs: Sequence[Job], *, hurried: bool = False) -> list[Outcome]:
    """Jobs of one kind and options as one batch; if the batch fails, each job alone. Never raises.
    `hurried` applies to a batch of one (a batch is the accelerator's way to catch up)."""
    if len(jobs) == 1:
        return [run_job(transcriber, jobs[0], hurried=hurried)]
    started = time.perf_counter()
    try:
        batch = transcriber.transcribe_batch([job.audio for job in jobs], jobs[0].options, jobs[0].kind)
    except Exception:
        log.exception("batch of %d failed; decoding its jobs one by one", len(jobs))
        return [run_job(transcriber, job) for job in jobs]
    seconds = time.perf_counter() - started
    return [_outcome(job, words, seconds) for job, words in zip(jobs, batch, strict=True)]


def batches(taken: Sequence[TakenJob], max_batch: int) -> list[list[TakenJob]]:
    """Group jobs that can share one decode (same kind and options), finals' groups first."""
    groups: dict[tuple[JobKind, TranscribeOptions], list[list[TakenJob]]] = {}
    for item in taken:
        runs = groups.setdefault((item.job.kind, item.job.options), [[]])
        if len(runs[-1]) == max_batch:
            runs.append([])
        runs[-1].append(item)
    ordered = sorted(groups.items(), key=lambda entry: entry[0][0] is not JobKind.FINAL)
    return [run for _, runs in ordered for run in runs]


async def process(
    queue: WorkerQueue,
    transcriber: Transcriber,
    group: Sequence[TakenJob],
    metrics: Metrics | None,
    hurry: HurryPolicy | None = None,
) -> None:
    if metrics:
        metrics.jobs_running.inc(len(group))
        metrics.batch_size.observe(len(group))
    hurried = len(group) == 1 and hurry is not None and hurry.applies(group[0])
    try:
        outcomes = await asyncio.to_thread(run_batch, transcriber, [taken.job for taken in group], hurried=hurried)
    finally:
        if metrics:
            metrics.jobs_running.dec(len(group))
    for taken, outcome in zip(group, outcomes, strict=True):
        job = taken.job
        if metrics:
            metrics.whisper_seconds.labels(job.kind.value).observe(outcome.seconds)
            if outcome.error:
                metrics.errors.labels("transcription").inc()
        result = JobResult(
            session_id=job.session_id,
            channel=job.channel,
            seq=job.seq,
            kind=job.kind,
            revision=job.revision,
            words=outcome.words,
            error=outcome.error,
            withheld=outcome.withheld,
            hurried=hurried and outcome.error is None,
            queue_seconds=taken.waited_s,
            transcribe_seconds=outcome.seconds,
        )
        await queue.complete(taken, result)


class WorkerPool:
    """`count` concurrent worker loops over one warm transcriber.

    Each loop takes up to `max_batch` jobs at once; jobs of the same kind and
    options are decoded as one CTranslate2 batch (see bench/batching.py). A
    live final may be hurried (`HurryPolicy`); None: never.
    """

    def __init__(
        self,
        queue: WorkerQueue,
        transcriber_factory: Callable[[], Transcriber],
        count: int,
        metrics: Metrics | None = None,
        max_batch: int = 1,
        hurry: HurryPolicy | None = None,
    ) -> None:
        self._queue = queue
        self._hurry = hurry
        self._factory = transcriber_factory
        self._count = count
        self._max_batch = max_batch
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
            for group in batches(await self._queue.take(self._max_batch), self._max_batch):
                # Shielded: jobs in hand are finished and published even when stopping.
                await asyncio.shield(process(self._queue, transcriber, group, self._metrics, self._hurry))

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
