"""create_app(settings): the Starlette application and its lifespan."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from server.archive import Archive, DisabledArchive, LocalArchive
from server.config import Settings
from server.gateway import Gateway, Readiness
from server.listen import listen_endpoint
from server.metrics import Metrics
from server.models import ResolvedModel, model_name, resolve_model
from server.queue import MemoryJobQueue
from server.recordings import get_recording, get_recording_audio
from server.upload import deepgram_listen, list_models, openai_transcriptions
from server.web import install_web
from server.worker import Transcriber, WorkerPool
from streaming.protocol import ModelInfo

if TYPE_CHECKING:
    from server.whisper import DevicePlan

log = logging.getLogger("streamscribe.app")


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
        from server.s3archive import S3Archive

        return S3Archive(settings, metrics)
    return LocalArchive(settings.archive_dir)


def device_plan(settings: Settings) -> DevicePlan:
    from server.whisper import plan_device

    return plan_device(settings.device, settings.compute_type, settings.max_batch)


def default_transcriber_factory(
    settings: Settings, model: ResolvedModel, plan: DevicePlan
) -> Callable[[], Transcriber]:
    def factory() -> Transcriber:
        from server.short_window import WindowRule
        from server.whisper import DecodeSettings, FasterWhisperTranscriber

        rule = WindowRule(settings.window_min_s, settings.window_pad_s)
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
            ),
        )

    return factory


def embedded_runtime(settings: Settings, transcriber_factory: Callable[[], Transcriber] | None = None) -> Runtime:
    """In-process queue and worker pool, local-directory archive: no other service needed."""
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
    )

    async def readiness() -> Readiness:
        if pool.warm_workers:
            return Readiness(True, f"{pool.warm_workers} warm worker(s), model {model.name}", pool.warm_workers)
        return Readiness(False, f"model {model.name} is loading")

    gateway = Gateway(settings, queue, make_archive(settings, metrics), metrics, model_info(settings), readiness)

    async def startup() -> None:
        await gateway.archive.start()
        gateway.start()
        await pool.start()

    async def shutdown() -> None:
        gateway.accepting = False
        await gateway.stop()
        await pool.stop()
        await gateway.archive.close()

    return Runtime(gateway, startup, shutdown)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    state = await gateway.readiness()
    return JSONResponse(
        {
            "ready": state.ready,
            "detail": state.detail,
            "warm_workers": state.warm_workers,
            "sessions": gateway.active_sessions,
        },
        status_code=200 if state.ready else 503,
    )


async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    depth = await gateway.queue.depth()
    gateway.metrics.queue_depth.labels("final").set(depth.finals)
    gateway.metrics.queue_depth.labels("interim").set(depth.interims)
    return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or embedded_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.startup()
        try:
            yield
        finally:
            await runtime.shutdown()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            WebSocketRoute("/v1/listen", listen_endpoint),
            Route("/v1/listen", deepgram_listen, methods=["POST"]),
            Route("/v1/audio/transcriptions", openai_transcriptions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/recordings/{session_id}", get_recording, methods=["GET"]),
            Route("/v1/recordings/{session_id}/audio", get_recording_audio, methods=["GET"], name="recording_audio"),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = runtime.gateway
    install_web(app, settings)
    return app
