"""create_app(settings): the Starlette application, its routes and lifespan, and the monitoring endpoints."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from server.config import Settings
from server.http.async_uploads import async_upload_status
from server.http.calls import call_events_endpoint
from server.http.flux import flux_endpoint
from server.http.grant import grant
from server.http.limits import QueryLimitMiddleware, raise_handshake_line_limit
from server.http.live import listen_endpoint
from server.http.page import install_web
from server.http.realtime import realtime_endpoint
from server.http.realtime_secrets import client_secrets, transcription_sessions
from server.http.recordings import get_recording, get_recording_audio
from server.http.twilio import twilio_endpoint
from server.http.uploads import deepgram_listen, list_models, openai_transcriptions
from server.policy import may_monitor
from server.runtime.embedded import Runtime, embedded_runtime
from server.runtime.gateway import Gateway
from server.uploads.async_runner import AsyncUploadRunner

log = logging.getLogger("streamscribe.app")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready or not; the details (workers, model, sessions) only to a caller who may monitor."""
    gateway: Gateway = request.app.state.gateway
    state = await gateway.readiness()
    body: dict[str, object] = {"ready": state.ready}
    if may_monitor(request.headers, gateway.policy):
        body |= {"detail": state.detail, "warm_workers": state.warm_workers, "sessions": gateway.active_sessions}
    return JSONResponse(body, status_code=200 if state.ready else 503)


async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    if not may_monitor(request.headers, gateway.policy):
        return JSONResponse(
            {"err_code": "INVALID_AUTH", "err_msg": "/metrics needs the metrics token or an API key"}, status_code=401
        )
    depth = await gateway.queue.depth()
    gateway.metrics.queue_depth.labels("final").set(depth.finals)
    gateway.metrics.queue_depth.labels("interim").set(depth.interims)
    return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or embedded_runtime(settings)
    raise_handshake_line_limit()  # in the process that serves (with --reload, uvicorn's child)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.startup()
        store = runtime.gateway.async_jobs
        runner = AsyncUploadRunner(runtime.gateway, store) if store is not None else None
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:  # before the gateway stops: its webhook sender takes the callbacks
                await runner.stop()
            await runtime.shutdown()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            WebSocketRoute("/v1/listen", listen_endpoint),
            WebSocketRoute("/v1/twilio", twilio_endpoint),
            WebSocketRoute("/v2/listen", flux_endpoint),
            WebSocketRoute("/v1/realtime", realtime_endpoint),
            WebSocketRoute("/v1/calls/{call_id}/events", call_events_endpoint),
            Route("/v1/listen", deepgram_listen, methods=["POST"]),
            Route("/v1/listen/{request_id}", async_upload_status, methods=["GET"]),
            Route("/v1/audio/transcriptions", openai_transcriptions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/auth/grant", grant, methods=["POST"]),
            Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
            Route("/v1/realtime/transcription_sessions", transcription_sessions, methods=["POST"]),
            Route("/v1/recordings/{session_id}", get_recording, methods=["GET"]),
            Route("/v1/recordings/{session_id}/audio", get_recording_audio, methods=["GET"], name="recording_audio"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(QueryLimitMiddleware)],
    )
    app.state.gateway = runtime.gateway
    install_web(app, settings)
    return app
