"""create_app(settings): the Starlette application and its lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from server.archive import Archive, DisabledArchive, LocalArchive
from server.config import Settings
from server.gateway import Gateway, Readiness
from server.listen import listen_endpoint
from server.metrics import Metrics
from server.models import ResolvedModel, resolve_model
from server.queue import MemoryJobQueue
from server.worker import Transcriber, WorkerPool
from streaming.protocol import ModelInfo

log = logging.getLogger("streamscribe.app")


@dataclass
class Runtime:
    """The parts a mode wires together, with how to start and stop them."""

    gateway: Gateway
    startup: Callable[[], Awaitable[None]]
    shutdown: Callable[[], Awaitable[None]]


def model_info(model: ResolvedModel) -> ModelInfo:
    return ModelInfo(name=model.name, version="faster-whisper", arch="whisper", uuid=model.uuid)


def local_archive(settings: Settings) -> Archive:
    return LocalArchive(settings.archive_dir) if settings.archive else DisabledArchive()


def default_transcriber_factory(settings: Settings, model: ResolvedModel) -> Callable[[], Transcriber]:
    def factory() -> Transcriber:
        from server.whisper import DecodeSettings, FasterWhisperTranscriber

        return FasterWhisperTranscriber(
            model,
            compute_type=settings.compute_type,
            cpu_threads=settings.threads_per_worker(),
            workers=settings.workers,
            decode=DecodeSettings(
                final_beam_size=settings.final_beam_size, interim_beam_size=settings.interim_beam_size
            ),
        )

    return factory


def embedded_runtime(settings: Settings, transcriber_factory: Callable[[], Transcriber] | None = None) -> Runtime:
    """In-process queue and worker pool, local-directory archive: no other service needed."""
    model = resolve_model(settings.model, settings.model_cache_dir)
    metrics = Metrics()
    queue = MemoryJobQueue()
    pool = WorkerPool(
        queue, transcriber_factory or default_transcriber_factory(settings, model), settings.workers, metrics
    )

    async def readiness() -> Readiness:
        if pool.warm_workers:
            return Readiness(True, f"{pool.warm_workers} warm worker(s), model {model.name}", pool.warm_workers)
        return Readiness(False, f"model {model.name} is loading")

    gateway = Gateway(settings, queue, local_archive(settings), metrics, model_info(model), readiness)

    async def startup() -> None:
        gateway.start()
        await pool.start()

    async def shutdown() -> None:
        gateway.accepting = False
        await gateway.stop()
        await pool.stop()

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
        ],
        lifespan=lifespan,
    )
    app.state.gateway = runtime.gateway
    return app
