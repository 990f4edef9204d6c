"""Asynchronous uploads' job record and the embedded store (a real local intake directory): accepted jobs
wait in order, survive a restart of the store, finished ones are kept for the retention, the queue is bounded."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest

from server.jobs.async_local import LocalAsyncJobStore
from server.jobs.async_uploads import (
    AsyncJob,
    AsyncStatus,
    AsyncUploadConfig,
    IntakeUnavailable,
    QueueFull,
)
from server.jobs.intake import BodyMissing

RESULT = {"metadata": {"request_id": "r1"}, "results": {"channels": [{"alternatives": [{"transcript": "hi"}]}]}}


def config(directory: Path, **changes: object) -> AsyncUploadConfig:
    values: dict[str, object] = {
        "max_running": 1,
        "max_queued": 10,
        "retention_s": 3600.0,
        "intake_dir": directory,
        "claim_idle_s": 1.0,
    }
    return AsyncUploadConfig(**(values | changes))  # type: ignore[arg-type]


def new_job(request_id: str, created: float | None = None) -> AsyncJob:
    now = time.time() if created is None else created
    query = (("utterances", "true"), ("language", "en"))
    return AsyncJob(request_id, "https://example.com/hook?token=t", query, "key-a", "tenant-a", "ab" * 32, 5, now, now)


async def started(directory: Path, **changes: object) -> LocalAsyncJobStore:
    store = LocalAsyncJobStore(config(directory, **changes))
    await store.start()
    return store


def test_a_job_goes_through_its_lifecycle_and_reads_back_from_its_record() -> None:
    job = new_job("r1", created=1000.0)
    running = job.started(now=1001.0)
    assert (running.status, running.attempts, running.updated) == (AsyncStatus.RUNNING, 1, 1001.0)
    done = running.done(RESULT, now=1002.0)
    assert AsyncJob.from_record(json.loads(json.dumps(done.record()))) == done
    assert done.callback_body() == RESULT
    answer = done.status_answer()
    assert answer == {
        "request_id": "r1",
        "status": "done",
        "created": "1970-01-01T00:16:40Z",
        "updated": "1970-01-01T00:16:42Z",
        "callback": {"delivered": None},
        "result": RESULT,
        "error": None,
    }
    assert "example.com" not in repr(done), "the URL may hold a token: not in logs"

    failed = running.failed("invalid_file", "the request body is truncated", now=1003.0)
    error = {"err_code": "INVALID_FILE", "err_msg": "the request body is truncated"}
    assert failed.callback_body() == {"request_id": "r1", **error}
    assert failed.status_answer()["error"] == error and failed.status_answer()["result"] is None
    assert not failed.expired(60, now=1062.0) and failed.expired(60, now=1064.0)
    assert not running.expired(60, now=10_000.0), "unfinished jobs are kept until they finish"


async def test_accepted_jobs_are_taken_in_order_with_their_bodies(tmp_path: Path) -> None:
    store = await started(tmp_path / "intake")
    assert not (tmp_path / "intake").exists(), "no directory until the first upload"
    await store.accept(new_job("r1"), io.BytesIO(b"first"))
    await store.accept(new_job("r2"), io.BytesIO(b"second"))
    first = await store.take(1.0)
    assert first is not None and first.job.request_id == "r1" and first.job.status is AsyncStatus.QUEUED
    async with store.body(first) as body:
        assert body.read() == b"first"
    await store.save(first, first.job.started().done(RESULT))
    await store.acknowledge(first)
    assert not (tmp_path / "intake" / "r1.body").exists(), "the body goes once the job is done"
    found = await store.lookup("r1")
    assert found is not None and found.status is AsyncStatus.DONE and found.result == RESULT
    await store.set_delivered("r1", True)
    found = await store.lookup("r1")
    assert found is not None and found.delivered is True
    second = await store.take(1.0)
    assert second is not None and second.job.request_id == "r2"
    assert await store.take(0.05) is None
    assert await store.lookup("unknown") is None and await store.lookup("../etc/passwd") is None
    with pytest.raises(BodyMissing):
        async with store.body(first):
            pass


async def test_jobs_survive_a_restart_and_finished_ones_hand_over_their_callback(tmp_path: Path) -> None:
    directory = tmp_path / "intake"
    store = await started(directory)
    for n, request_id in enumerate(["queued", "running", "done-not-handed", "done-handed"]):
        await store.accept(new_job(request_id, created=time.time() + n), io.BytesIO(request_id.encode()))
    taken = [await store.take(1.0) for _ in range(4)]
    assert all(claimed is not None for claimed in taken)
    running, done_not_handed, done_handed = (claimed for claimed in taken[1:] if claimed is not None)
    await store.save(running, running.job.started())
    await store.save(done_not_handed, done_not_handed.job.started().done(RESULT))
    await store.save(done_handed, done_handed.job.started().done(RESULT))
    await store.acknowledge(done_handed)
    # The process dies here: a new store over the same directory takes up what was left.
    restarted = await started(directory)
    resumed = [await restarted.take(1.0) for _ in range(3)]
    assert [claimed.job.request_id for claimed in resumed if claimed is not None] == [
        "queued",
        "running",
        "done-not-handed",
    ]
    assert [claimed.job.status for claimed in resumed if claimed is not None] == [
        AsyncStatus.QUEUED,
        AsyncStatus.RUNNING,
        AsyncStatus.DONE,
    ]
    assert await restarted.take(0.05) is None


async def test_released_jobs_are_queued_again(tmp_path: Path) -> None:
    store = await started(tmp_path / "intake")
    await store.accept(new_job("r1"), io.BytesIO(b"x"))
    claimed = await store.take(1.0)
    assert claimed is not None
    await store.release(claimed)
    again = await store.take(1.0)
    assert again is not None and again.job.request_id == "r1" and again.job.status is AsyncStatus.QUEUED


async def test_the_queue_is_bounded_and_a_finished_job_frees_its_place(tmp_path: Path) -> None:
    store = await started(tmp_path / "intake", max_queued=2)
    await store.accept(new_job("r1"), io.BytesIO(b"x"))
    await store.accept(new_job("r2"), io.BytesIO(b"x"))
    with pytest.raises(QueueFull, match=r"2 asynchronous uploads are waiting or running.*async_max_queued=2"):
        await store.accept(new_job("r3"), io.BytesIO(b"x"))
    assert not (tmp_path / "intake" / "r3.body").exists()
    claimed = await store.take(1.0)
    assert claimed is not None
    await store.save(claimed, claimed.job.failed("invalid_file", "bad"))
    await store.acknowledge(claimed)
    await store.accept(new_job("r3"), io.BytesIO(b"x"))


async def test_finished_jobs_are_forgotten_after_the_retention(tmp_path: Path) -> None:
    directory = tmp_path / "intake"
    store = await started(directory, retention_s=0.2)
    await store.accept(new_job("r1"), io.BytesIO(b"x"))
    claimed = await store.take(1.0)
    assert claimed is not None
    await store.save(claimed, claimed.job.done(RESULT))
    await store.acknowledge(claimed)
    assert await store.lookup("r1") is not None
    await asyncio.sleep(0.3)
    assert await store.lookup("r1") is None, "expired: answered as unknown at once"
    assert (directory / "r1.json").exists()
    await store.sweep()
    assert not (directory / "r1.json").exists()


async def test_an_unusable_directory_refuses_uploads_with_the_reason(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    store = await started(blocked / "intake")
    with pytest.raises(IntakeUnavailable, match=r"cannot be stored in .*a-file/intake"):
        await store.accept(new_job("r1"), io.BytesIO(b"x"))
    assert await store.take(0.05) is None
