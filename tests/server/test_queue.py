"""The in-process job queue keeps the scheduling rules of DESIGN section 4."""

from __future__ import annotations

import asyncio

import numpy as np

from server.jobs.queue import MemoryJobQueue
from streaming.jobs import Job, JobKind, JobResult


def job(session: str, kind: JobKind, revision: int, channel: int = 0, seq: int = 1) -> Job:
    return Job(
        session_id=session,
        channel=channel,
        seq=seq,
        kind=kind,
        revision=revision,
        start=0.0,
        audio=np.zeros(160, dtype=np.int16),
    )


async def take_all(queue: MemoryJobQueue) -> list[Job]:
    jobs: list[Job] = []
    while (await queue.depth()).finals or (await queue.depth()).interims:
        jobs.extend(t.job for t in await queue.take(5))
    return jobs


async def test_finals_go_before_interims() -> None:
    queue = MemoryJobQueue()
    await queue.submit(job("a", JobKind.INTERIM, 1))
    await queue.submit(job("b", JobKind.INTERIM, 2))
    await queue.submit(job("c", JobKind.FINAL, 3))
    assert [(j.session_id, j.kind) for j in await take_all(queue)] == [
        ("c", JobKind.FINAL),
        ("a", JobKind.INTERIM),
        ("b", JobKind.INTERIM),
    ]


async def test_a_take_is_a_batch_of_finals_or_one_interim() -> None:
    queue = MemoryJobQueue()
    for index, name in enumerate("abcd"):
        await queue.submit(job(name, JobKind.INTERIM, index))
    await queue.submit(job("x", JobKind.FINAL, 10))
    await queue.submit(job("y", JobKind.FINAL, 11))
    assert [t.job.session_id for t in await queue.take(3)] == ["x", "y"]
    # A final arriving later waits behind one interim decode, not a batch of them.
    assert [t.job.session_id for t in await queue.take(3)] == ["a"]


async def test_newer_interim_replaces_unstarted_one_in_place() -> None:
    queue = MemoryJobQueue()
    await queue.submit(job("a", JobKind.INTERIM, 1))
    await queue.submit(job("b", JobKind.INTERIM, 2))
    await queue.submit(job("a", JobKind.INTERIM, 3))
    assert [(j.session_id, j.revision) for j in await take_all(queue)] == [("a", 3), ("b", 2)]
    depth = await queue.depth()
    assert (depth.finals, depth.interims, depth.running) == (0, 0, 2)


async def test_interims_of_other_channels_do_not_replace_each_other() -> None:
    queue = MemoryJobQueue()
    await queue.submit(job("a", JobKind.INTERIM, 1, channel=0))
    await queue.submit(job("a", JobKind.INTERIM, 2, channel=1))
    assert len(await take_all(queue)) == 2


async def test_final_drops_the_waiting_interim_of_its_stream() -> None:
    queue = MemoryJobQueue()
    await queue.submit(job("a", JobKind.INTERIM, 1))
    await queue.submit(job("a", JobKind.FINAL, 2))
    assert [j.kind for j in await take_all(queue)] == [JobKind.FINAL]


async def test_take_waits_for_work_and_results_flow_back() -> None:
    queue = MemoryJobQueue()
    waiter = asyncio.create_task(queue.take(1))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await queue.submit(job("a", JobKind.FINAL, 1))
    (taken,) = await asyncio.wait_for(waiter, 1)
    result = JobResult("a", 0, 1, JobKind.FINAL, 1)
    await queue.complete(taken, result)
    results = queue.results()
    assert await asyncio.wait_for(anext(results), 1) == result
    assert (await queue.depth()).running == 0


async def test_withdrawn_final_is_dropped_unstarted() -> None:
    queue = MemoryJobQueue()
    abandoned = job("a", JobKind.FINAL, 1)
    await queue.submit(abandoned)
    await queue.submit(job("b", JobKind.FINAL, 1))
    await queue.submit(job("a", JobKind.FINAL, 2))
    queue.withdraw(abandoned)
    assert [(j.session_id, j.revision) for j in await take_all(queue)] == [("b", 1), ("a", 2)]
    queue.withdraw(abandoned)  # already gone (or started): nothing happens
    assert (await queue.depth()).finals == 0


async def test_an_ended_session_leaves_no_queued_work() -> None:
    queue = MemoryJobQueue()
    for revision in range(1, 4):
        await queue.submit(job("gone", JobKind.FINAL, revision, seq=revision))
    await queue.submit(job("gone", JobKind.INTERIM, 4, channel=1))
    await queue.submit(job("stays", JobKind.FINAL, 1))
    queue.forget("gone")
    assert [(j.session_id, j.revision) for j in await take_all(queue)] == [("stays", 1)]


async def test_a_session_with_many_finals_queued_takes_turns_with_the_others() -> None:
    queue = MemoryJobQueue()
    for seq in range(1, 5):  # a client sending faster than real time
        await queue.submit(job("fast", JobKind.FINAL, seq, seq=seq))
    await queue.submit(job("live", JobKind.FINAL, 1))
    (first,) = await queue.take(1)
    (second,) = await queue.take(1)  # "fast" has one being decoded, "live" none: "live" goes next
    assert [first.job.session_id, second.job.session_id] == ["fast", "live"]
