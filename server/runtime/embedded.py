"""The embedded runtime, and the wiring every mode shares: the model as
sessions report it, the archive, the device plan and the transcriber."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.archive.base import Archive, DisabledArchive, LocalArchive
from server.config import Settings
from server.jobs.async_local import LocalAsyncJobStore
from server.jobs.async_uploads import AsyncUploadConfig
from server.jobs.hurry import hurry_policy
from server.jobs.queue import MemoryJobQueue
from server.jobs.worker import Transcriber, WorkerPool
from server.metrics import Metrics
from server.runtime.gateway import Gateway, Readiness
from server.transcribe.model_files import ResolvedModel, model_name, resolve_model
from server.webhooks import WebhookConfig, WebhookSender
from streaming.protocol import ModelInfo

if TYPE_CHECKING:
    from server.transcribe.whisper import DevicePlan


@dataclass
class Runtime:
    """The parts a mode wires together, with how to start and stop them."""

    gateway: Gateway
    startup: Callable[[], Awaitable[None]]
    shutdown: Callable[[], Awaitable[None]]


def model_info(settings: Settings) -> ModelInfo:
    """What sessions report about the model (Metadata `model_info`, `/v1/models`): from the
    configuration alone, so that a gateway needs neither the weights nor the ML libraries."""
    uuid = hashlib.sha256(settings.model.encode()).hexdigest()[:32]
    return ModelInfo(name=model_name(settings.model), version="faster-whisper", arch="whisper", uuid=uuid)


def make_archive(settings: Settings, metrics: Metrics) -> Archive:
    """No archive, S3 (`archive_url`), or the local directory."""
    if not settings.archive:
        return DisabledArchive()
    if settings.archive_url:
        from server.archive.s3 import S3Archive

        return S3Archive(settings, metrics)
    return LocalArchive(settings.archive_dir)


def device_plan(settings: Settings) -> DevicePlan:
    from server.transcribe.whisper import plan_device

    return plan_device(settings.device, settings.compute_type, settings.max_batch)


def default_transcriber_factory(
    settings: Settings, model: ResolvedModel, plan: DevicePlan
) -> Callable[[], Transcriber]:
    def factory() -> Transcriber:
        from server.transcribe.short_window import WindowRule
        from server.transcribe.whisper import DecodeSettings, FasterWhisperTranscriber

        rule = WindowRule(settings.window_min_s, settings.window_pad_s)
        hurrying = hurry_policy(settings) is not None
        return FasterWhisperTranscriber(
            model,
            device=plan.device,
            compute_type=plan.compute_type,
            cpu_threads=settings.threads_per_worker(),
            workers=settings.workers,
            decode=DecodeSettings(
                final_beam_size=settings.final_beam_size,
                interim_beam_size=settings.interim_beam_size,
                final_window=rule if settings.short_window == "all" else None,
                interim_window=rule if settings.short_window != "off" else None,
                hurried_window=WindowRule(settings.hurry_window_min_s, settings.window_pad_s) if hurrying else None,
            ),
        )

    return factory


def embedded_runtime(settings: Settings, transcriber_factory: Callable[[], Transcriber] | None = None) -> Runtime:
    """In-process queue and worker pool, local-directory archive, asynchronous uploads in a local intake
    directory: no other service needed."""
    model = resolve_model(settings.model, settings.model_cache_dir)
    plan = device_plan(settings)
    metrics = Metrics()
    queue = MemoryJobQueue()
    pool = WorkerPool(
        queue,
        transcriber_factory or default_transcriber_factory(settings, model, plan),
        settings.workers,
        metrics,
        plan.max_batch,
        hurry_policy(settings),
    )

    async def readiness() -> Readiness:
        if pool.warm_workers:
            return Readiness(True, f"{pool.warm_workers} warm worker(s), model {model.name}", pool.warm_workers)
        return Readiness(False, f"model {model.name} is loading")

    async_jobs = LocalAsyncJobStore(AsyncUploadConfig.from_settings(settings))
    gateway = Gateway(
        settings.access_policy(),
        settings.live_config(),
        settings.upload_config(),
        queue,
        make_archive(settings, metrics),
        metrics,
        model_info(settings),
        readiness,
        webhooks=WebhookSender(WebhookConfig.from_settings(settings), metrics),
        async_jobs=async_jobs,
    )

    async def startup() -> None:
        await gateway.archive.start()
        await async_jobs.start()
        gateway.start()
        await pool.start()

    async def shutdown() -> None:
        gateway.accepting = False
        await gateway.stop()
        await pool.stop()
        await async_jobs.close()
        await gateway.archive.close()

    return Runtime(gateway, startup, shutdown)
