"""Asynchronous uploads in Redis (server/jobs/redis_async.py) against a real redis-server: gateways share one
queue per body location, a job is acknowledged only when told, a job whose gateway stopped renewing its claim is
taken over by another, a released one at once, the queue is bounded and records expire."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.jobs.async_uploads import AsyncJob, AsyncStatus, QueueFull
from server.jobs.intake import LocalBodyStore
from server.jobs.redis_async import RedisAsyncJobStore
from server.jobs.redis_streams import connect
from testbed.services import RedisServer
from tests.server.test_async_jobs import RESULT, config, new_job


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


async def gateway_store(redis: aioredis.Redis, directory: Path, consumer: str, **changes: object) -> RedisAsyncJobStore:
    settings = config(directory, **({"claim_idle_s": 0.5} | changes))
    store = RedisAsyncJobStore(redis, LocalBodyStore(directory), consumer, settings)
    await store.start()
    return store


async def take(store: RedisAsyncJobStore, within_s: float = 3.0) -> AsyncJob | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        claimed = await store.take(0.1)
        if claimed is not None:
            return claimed.job
    return None


async def test_a_job_is_taken_once_and_acknowledged_after_its_outcome(redis: aioredis.Redis, tmp_path: Path) -> None:
    a = await gateway_store(redis, tmp_path / "intake", "gw-a")
    b = await gateway_store(redis, tmp_path / "intake", "gw-b")
    await a.accept(new_job("r1"), io.BytesIO(b"audio"))
    assert await redis.xlen(a.stream) == 1
    claimed = await a.take(1.0)
    assert claimed is not None and claimed.job.request_id == "r1"
    assert await b.take(0.2) is None, "taken by one gateway only"
    async with a.body(claimed) as body:
        assert body.read() == b"audio"
    await a.save(claimed, claimed.job.started())
    found = await b.lookup("r1")
    assert found is not None and found.status is AsyncStatus.RUNNING and found.attempts == 1
    await a.save(claimed, claimed.job.started().done(RESULT))
    assert await redis.xlen(a.stream) == 1, "not acknowledged before the callback is handed over"
    await a.acknowledge(claimed)
    assert await redis.xlen(a.stream) == 0 and not (tmp_path / "intake" / "r1.body").exists()
    await a.set_delivered("r1", True)
    found = await b.lookup("r1")
    assert found is not None and found.status is AsyncStatus.DONE and found.result == RESULT and found.delivered
    assert 0 < await redis.ttl("streamscribe:async:job:r1") <= 3600


async def test_a_job_whose_gateway_stops_renewing_is_taken_over(redis: aioredis.Redis, tmp_path: Path) -> None:
    a = await gateway_store(redis, tmp_path / "intake", "gw-a")
    b = await gateway_store(redis, tmp_path / "intake", "gw-b")
    await a.accept(new_job("r1"), io.BytesIO(b"audio"))
    claimed = await a.take(1.0)
    assert claimed is not None
    await a.save(claimed, claimed.job.started())
    for _ in range(8):  # a renews its claim: b must not take it however long it runs
        await asyncio.sleep(0.2)
        await a.keep(claimed)
        assert await b.take(0.05) is None
    # a dies: no more renewals, and b takes the job over once it has been idle for claim_idle_s.
    started = time.monotonic()
    job = await take(b)
    assert job is not None and job.request_id == "r1" and job.status is AsyncStatus.RUNNING
    assert time.monotonic() - started >= 0.3


async def test_a_released_job_is_taken_at_once_by_another_gateway(redis: aioredis.Redis, tmp_path: Path) -> None:
    a = await gateway_store(redis, tmp_path / "intake", "gw-a", claim_idle_s=60.0)
    b = await gateway_store(redis, tmp_path / "intake", "gw-b", claim_idle_s=60.0)
    await a.accept(new_job("r1"), io.BytesIO(b"audio"))
    claimed = await a.take(1.0)
    assert claimed is not None
    await a.release(claimed)
    job = await take(b, within_s=1.0)
    assert job is not None and job.status is AsyncStatus.QUEUED
    assert await redis.xlen(b.stream) == 1


async def test_the_queue_is_bounded(redis: aioredis.Redis, tmp_path: Path) -> None:
    store = await gateway_store(redis, tmp_path / "intake", "gw-a", max_queued=1)
    await store.accept(new_job("r1"), io.BytesIO(b"audio"))
    with pytest.raises(QueueFull, match="1 asynchronous uploads are waiting or running"):
        await store.accept(new_job("r2"), io.BytesIO(b"audio"))
    assert not (tmp_path / "intake" / "r2.body").exists()


async def test_a_job_whose_record_expired_while_queued_is_dropped(redis: aioredis.Redis, tmp_path: Path) -> None:
    store = await gateway_store(redis, tmp_path / "intake", "gw-a", retention_s=1.0)
    await store.accept(new_job("r1"), io.BytesIO(b"audio"))
    await asyncio.sleep(1.2)
    assert await store.lookup("r1") is None
    assert await store.take(0.2) is None
    assert await redis.xlen(store.stream) == 0 and not (tmp_path / "intake" / "r1.body").exists()


async def test_gateways_with_other_intake_directories_do_not_take_the_job(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    a = await gateway_store(redis, tmp_path / "a", "gw-a")
    b = await gateway_store(redis, tmp_path / "b", "gw-b")
    assert a.stream != b.stream
    await a.accept(new_job("r1"), io.BytesIO(b"audio"))
    assert await take(b, within_s=1.0) is None, "b cannot read a's bodies"
    restarted = await gateway_store(redis, tmp_path / "a", "gw-a2")
    job = await take(restarted)
    assert job is not None and job.request_id == "r1"


async def test_a_job_run_again_is_not_skipped_as_an_ended_session(redis: aioredis.Redis, tmp_path: Path) -> None:
    store = await gateway_store(redis, tmp_path / "intake", "gw-a")
    await store.accept(new_job("r1"), io.BytesIO(b"audio"))
    claimed = await store.take(1.0)
    assert claimed is not None
    # An interrupted run's session ended under the request id: workers would skip the next run's jobs.
    await redis.set("streamscribe:ended:r1", 1, ex=3600)
    await store.save(claimed, claimed.job.started())
    assert not await redis.exists("streamscribe:ended:r1")
