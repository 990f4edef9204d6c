"""Distributed mode: gateways and workers that meet in Redis Streams."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable

from server.archive.base import Archive
from server.calls.redis_hub import RedisCallHub
from server.config import Settings
from server.jobs.async_uploads import AsyncUploadConfig
from server.jobs.hurry import hurry_policy
from server.jobs.intake import BodyStore, LocalBodyStore, ObjectBodyStore
from server.jobs.redis_async import RedisAsyncJobStore
from server.jobs.redis_streams import DOWN_ERRORS, RedisGatewayQueue, RedisWorkerQueue, connect
from server.jobs.worker import Transcriber, WorkerPool
from server.metrics import Metrics
from server.runtime.embedded import Runtime, default_transcriber_factory, device_plan, make_archive, model_info
from server.runtime.gateway import Gateway, Readiness
from server.runtime.health import keep_ready_file
from server.transcribe.model_files import resolve_model
from server.webhooks import WebhookConfig, WebhookSender

log = logging.getLogger("streamscribe.distributed")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def intake_bodies(settings: Settings, archive: Archive, config: AsyncUploadConfig) -> BodyStore:
    """Where asynchronous uploads' bodies wait: the object store of an S3 archive (any gateway on it can run
    the job), else the local intake directory (only gateways that share that directory can)."""
    if settings.archive and settings.archive_url:
        from server.archive.s3 import S3Archive

        assert isinstance(archive, S3Archive)
        return ObjectBodyStore(archive)
    return LocalBodyStore(config.intake_dir)


def redis_gateway_runtime(
    settings: Settings,
    *,
    with_workers: bool = False,
    transcriber_factory: Callable[[], Transcriber] | None = None,
) -> Runtime:
    """A gateway over Redis; with `with_workers`, also an in-process worker pool reading the same Redis."""
    assert settings.redis_url is not None
    metrics = Metrics()
    redis = connect(settings.redis_url)
    gateway_id = settings.gateway_id or new_id("gw")
    queue = RedisGatewayQueue(redis, gateway_id)
    pool: WorkerPool | None = None
    if with_workers:
        worker_queue = RedisWorkerQueue(redis, settings.worker_id or new_id("w"), settings.claim_idle_s)
        plan = device_plan(settings)
        factory = transcriber_factory or default_transcriber_factory(
            settings, resolve_model(settings.model, settings.model_cache_dir), plan
        )
        pool = WorkerPool(worker_queue, factory, settings.workers, metrics, plan.max_batch, hurry_policy(settings))

    async def readiness() -> Readiness:
        try:
            await redis.ping()
            warm = await queue.warm_workers()
        except DOWN_ERRORS as error:
            return Readiness(False, f"redis unreachable: {error}")
        if pool is not None:
            warm = max(warm, pool.warm_workers)
        if warm == 0:
            return Readiness(False, "redis reachable, no warm worker")
        return Readiness(True, f"{warm} warm worker(s)", warm)

    archive = make_archive(settings, metrics)
    async_config = AsyncUploadConfig.from_settings(settings)
    async_jobs = RedisAsyncJobStore(redis, intake_bodies(settings, archive, async_config), gateway_id, async_config)
    gateway = Gateway(
        settings.access_policy(),
        settings.live_config(),
        settings.upload_config(),
        queue,
        archive,
        metrics,
        model_info(settings),
        readiness,
        gateway_id,
        webhooks=WebhookSender(WebhookConfig.from_settings(settings), metrics),
        calls=RedisCallHub(redis),
        async_jobs=async_jobs,
    )

    async def startup() -> None:
        await archive.start()
        await async_jobs.start()
        gateway.start()
        if pool is not None:
            await pool.start()

    async def shutdown() -> None:
        gateway.accepting = False
        await gateway.stop()
        if pool is not None:
            await pool.stop()
        await async_jobs.close()
        await archive.close()
        await redis.aclose()

    return Runtime(gateway, startup, shutdown)


async def run_worker(settings: Settings) -> int:
    """`streamscribe worker`: load the model once, then transcribe jobs until SIGTERM.

    SIGTERM (or SIGINT) stops taking jobs; the jobs in hand are finished and
    acknowledged, the rest stay in Redis for the other workers."""
    assert settings.redis_url is not None
    model = resolve_model(settings.model, settings.model_cache_dir)
    worker_id = settings.worker_id or new_id("w")
    redis = connect(settings.redis_url)
    queue = RedisWorkerQueue(redis, worker_id, settings.claim_idle_s)
    metrics = Metrics()
    plan = device_plan(settings)
    pool = WorkerPool(
        queue,
        default_transcriber_factory(settings, model, plan),
        settings.workers,
        metrics,
        plan.max_batch,
        hurry_policy(settings),
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await pool.start()
    info = {
        "worker_id": worker_id,
        "model": model.name,
        "device": plan.device,
        "pid": os.getpid(),
        "started": time.time(),
    }
    heartbeat = asyncio.create_task(queue.heartbeat(info))
    ready_file = asyncio.create_task(keep_ready_file(settings.ready_file)) if settings.ready_file else None
    log.info("worker %s ready (model %s on %s, %d concurrent)", worker_id, model.name, plan.device, settings.workers)
    await stopping.wait()
    log.info("worker %s stopping: finishing the jobs in hand", worker_id)
    heartbeat.cancel()
    if ready_file is not None:
        ready_file.cancel()
        await asyncio.gather(ready_file, return_exceptions=True)
    await queue.leave()
    await pool.stop(graceful=True)
    await redis.aclose()
    log.info("worker %s stopped", worker_id)
    return 0
