"""Worker loops take several jobs at once and decode compatible ones as one batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from server.config import Settings
from server.jobs.hurry import HurryPolicy, hurry_policy
from server.jobs.queue import MemoryJobQueue, TakenJob
from server.jobs.redis_codec import decode_job, decode_result, encode_job, encode_result
from server.jobs.worker import WorkerPool, batches, run_job
from streaming.codecs import Int16Array
from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word


def job(
    session: str,
    kind: JobKind = JobKind.FINAL,
    *,
    start: float = 0.0,
    language: str | None = None,
    live: bool = False,
    seconds: float = 0.1,
) -> Job:
    return Job(
        session_id=session,
        channel=0,
        seq=1,
        kind=kind,
        revision=1,
        start=start,
        audio=np.full(round(16000 * seconds), len(session), dtype=np.int16),
        options=TranscribeOptions(language=language),
        live=live,
    )


def taken(*jobs: Job) -> list[TakenJob]:
    return [TakenJob(j, 0.0) for j in jobs]


def sessions(groups: list[list[TakenJob]]) -> list[list[str]]:
    return [[t.job.session_id for t in group] for group in groups]


def test_batches_group_by_kind_and_options_finals_first() -> None:
    jobs = taken(
        job("i1", JobKind.INTERIM),
        job("f1"),
        job("de", language="de"),
        job("f2"),
        job("i2", JobKind.INTERIM),
        job("f3"),
    )
    assert sessions(batches(jobs, 2)) == [["f1", "f2"], ["f3"], ["de"], ["i1", "i2"]]
    assert sessions(batches(jobs, 1)) == [["f1"], ["f2"], ["f3"], ["de"], ["i1"], ["i2"]]


@dataclass
class GatedTranscriber:
    """Holds its first call until released, so jobs pile up behind it; records each call's size."""

    fail_batches: bool = False
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    sizes: list[int] = field(default_factory=list)
    hurried: list[bool] = field(default_factory=list)

    def warm_up(self) -> float:
        return 0.0

    def transcribe(
        self, audio: Int16Array, options: TranscribeOptions, kind: JobKind, *, hurried: bool = False
    ) -> list[Word]:
        self.entered.set()
        self.release.wait(30)
        self.sizes.append(1)
        self.hurried.append(hurried)
        return [Word(f"w{int(audio[0])}", 0.5, 0.75, 0.9)]

    def transcribe_batch(
        self, audios: Sequence[Int16Array], options: TranscribeOptions, kind: JobKind
    ) -> list[list[Word]]:
        if self.fail_batches:
            raise RuntimeError("batch exploded")
        self.sizes.append(len(audios))
        return [[Word(f"w{int(a[0])}", 0.5, 0.75, 0.9)] for a in audios]


async def results_of(queue: MemoryJobQueue, count: int) -> dict[str, JobResult]:
    stream = queue.results()
    received = [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]
    return {r.session_id: r for r in received}


@pytest.mark.parametrize("fail_batches", [False, True])
async def test_backlog_is_decoded_in_batches_and_every_job_answered(fail_batches: bool) -> None:
    queue = MemoryJobQueue()
    transcriber = GatedTranscriber(fail_batches=fail_batches)
    pool = WorkerPool(queue, lambda: transcriber, count=1, max_batch=3)
    await pool.start()
    try:
        names = ["a", "bb", "ccc", "dddd"]
        await queue.submit(job(names[0]))
        # The first is taken alone and held; the rest wait behind it.
        assert await asyncio.to_thread(transcriber.entered.wait, 30)
        for index, name in enumerate(names[1:], start=1):
            await queue.submit(job(name, start=10.0 * index))
        transcriber.release.set()
        results = await results_of(queue, len(names))
    finally:
        await pool.stop()
    # Word times move onto each job's own stream clock, batch or not.
    for index, name in enumerate(names):
        (word,) = results[name].words
        assert (word.text, word.start, word.end) == (f"w{len(name)}", 10.0 * index + 0.5, 10.0 * index + 0.75)
        assert results[name].error is None
    # A failed batch is retried job by job instead of failing three sessions.
    assert transcriber.sizes == ([1, 1, 1, 1] if fail_batches else [1, 3])


async def test_idle_workers_share_the_queue_before_anyone_batches() -> None:
    queue = MemoryJobQueue()
    first = asyncio.create_task(queue.take(4))
    second = asyncio.create_task(queue.take(4))
    await asyncio.sleep(0.01)
    await queue.submit(job("a"))
    await queue.submit(job("b"))
    await asyncio.sleep(0.01)
    got = [len(await asyncio.wait_for(task, 1)) for task in (first, second)]
    assert sorted(got) == [1, 1]
    # One taker alone with a backlog takes a batch.
    for name in ("c", "d", "e"):
        await queue.submit(job(name))
    assert len(await queue.take(4)) == 3


class DoubtingTranscriber(GatedTranscriber):
    """Withholds every interim reading, as the short window does with a doubtful one."""

    def transcribe(
        self, audio: Int16Array, options: TranscribeOptions, kind: JobKind, *, hurried: bool = False
    ) -> list[Word] | None:
        return None if kind is JobKind.INTERIM else [Word("final", 0.5, 0.75, 0.9)]


async def test_a_withheld_reading_reaches_the_gateway_as_withheld_not_as_no_words() -> None:
    transcriber = DoubtingTranscriber()
    assert run_job(transcriber, job("a")).withheld is False
    queue = MemoryJobQueue()
    pool = WorkerPool(queue, lambda: transcriber, count=1)
    await pool.start()
    try:
        await queue.submit(job("i", JobKind.INTERIM))
        result = (await results_of(queue, 1))["i"]
    finally:
        await pool.stop()
    assert (result.withheld, result.words, result.error) == (True, (), None)
    # The same across processes: the Redis result codec carries it.
    fields = {key.encode(): value for key, value in encode_result(result).items()}
    assert decode_result(fields)[0].withheld is True


def test_only_a_live_final_that_waited_long_enough_and_has_speech_enough_is_hurried() -> None:
    policy = HurryPolicy(after_s=0.2, min_audio_s=2.0)
    late = TakenJob(job("a", live=True, seconds=3.0), waited_s=0.2)
    assert policy.applies(late)
    assert not policy.applies(TakenJob(late.job, waited_s=0.19))
    assert not policy.applies(TakenJob(job("a", seconds=3.0), waited_s=5.0))  # an upload's: nobody waits live
    assert not policy.applies(TakenJob(job("a", JobKind.INTERIM, live=True, seconds=3.0), waited_s=5.0))
    assert not policy.applies(TakenJob(job("a", live=True, seconds=1.9), waited_s=5.0))  # one word or two
    assert hurry_policy(Settings()) == policy  # the defaults
    assert hurry_policy(Settings(hurry_finals_after_ms=0)) is None


async def test_a_live_final_that_waited_behind_another_is_hurried_and_says_so() -> None:
    queue = MemoryJobQueue()
    transcriber = GatedTranscriber()
    pool = WorkerPool(queue, lambda: transcriber, count=1, hurry=HurryPolicy(after_s=0.05, min_audio_s=2.0))
    await pool.start()
    try:
        await queue.submit(job("first", live=True, seconds=3.0))
        assert await asyncio.to_thread(transcriber.entered.wait, 30)
        await queue.submit(job("second", live=True, seconds=3.0))
        await asyncio.sleep(0.1)  # waits behind the first
        transcriber.release.set()
        results = await results_of(queue, 2)
    finally:
        await pool.stop()
    assert transcriber.hurried == [False, True]
    assert (results["first"].hurried, results["second"].hurried) == (False, True)
    # Across processes: the Redis codecs carry both flags.
    fields = {key.encode(): value for key, value in encode_result(results["second"]).items()}
    assert decode_result(fields)[0].hurried is True
    job_fields = {key.encode(): value for key, value in encode_job(job("x", live=True)).items()}
    assert decode_job(job_fields)[0].live is True
