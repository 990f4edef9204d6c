"""WS /v1/realtime?intent=transcription: OpenAI Realtime transcription sessions.

The official OpenAI SDKs connect unchanged (`client.realtime.connect(
extra_query={"intent": "transcription"})`, or `client.beta.realtime`), with
`Authorization: Bearer KEY` (a key, or a token of `POST /v1/realtime/
client_secrets`); browsers, which cannot set headers, offer the subprotocols
`realtime, openai-insecure-api-key.KEY` (and `openai-beta.realtime-v1` for the
beta protocol) and get `realtime` back. The session
(streaming.realtime.session) wraps a live session, so it runs on the same
queue, workers, limits and archive as /v1/listen (archived with `source:
"realtime"`), through the same policy (server/policy.py) and admission
(`session_refusal`). Its OpenAI events go on the socket; subscribers and
webhooks get the live session's own messages, as for /v1/listen.

Query: `intent=transcription` (required: conversation sessions are not served),
and optionally `archive`, `redact`, `redact_audio`, `callback` as on /v1/listen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.credentials import Identity, Scope
from server.http.live import LiveConnection, close_reason, new_session, session_fanout, session_refusal
from server.policy import Denial, authenticate
from server.runtime.gateway import Gateway
from streaming.protocol import ListenParams, ProtocolError, parse_listen_params
from streaming.realtime.session import RealtimeTranscription

log = logging.getLogger("streamscribe.realtime")
KEY_PROTOCOL = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
_QUERY = {"archive", "redact", "redact_audio", "callback"}
"""The /v1/listen parameters a Realtime connection may set in its query; the rest comes in session.update."""


def openai_error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    """OpenAI's HTTP error body."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def denial_response(denial: Denial) -> JSONResponse:
    code = "invalid_api_key" if denial.status == 401 else denial.code
    return openai_error(denial.status, code, denial.message)


def offered_protocols(headers: Mapping[str, str]) -> list[str]:
    return [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


def browser_key(protocols: list[str]) -> str | None:
    """The key (or token) a browser offers as the `openai-insecure-api-key.KEY` subprotocol."""
    return next((p.removeprefix(KEY_PROTOCOL) for p in protocols if p.startswith(KEY_PROTOCOL)), None)


async def realtime_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    if websocket.query_params.get("intent") != "transcription":
        gateway.metrics.sessions_refused.labels("intent").inc()
        message = "this server serves transcription sessions only: connect with ?intent=transcription"
        await websocket.send_denial_response(openai_error(400, "unsupported_intent", message))
        return
    protocols = offered_protocols(websocket.headers)
    caller = authenticate(websocket.headers, gateway.policy.keyring, token=browser_key(protocols))
    identity = caller.admit(Scope.LISTEN)
    if isinstance(identity, Denial):
        gateway.metrics.sessions_refused.labels("unauthorized").inc()
        await websocket.send_denial_response(denial_response(identity))
        return
    try:
        params = parse_listen_params([(k, v) for k, v in websocket.query_params.multi_items() if k in _QUERY])
        refusal = await session_refusal(gateway, identity, params)
    except ProtocolError as error:
        refusal = error
    await websocket.accept(subprotocol="realtime" if "realtime" in protocols else caller.subprotocol)
    if refusal is not None:
        gateway.metrics.sessions_refused.labels(str(refusal.code)).inc()
        await _refuse(websocket, refusal)
        return
    beta_header = websocket.headers.get("openai-beta", "").replace(" ", "").lower().startswith("realtime=v1")
    beta = beta_header or BETA_PROTOCOL in protocols  # the SDKs' header; a browser's subprotocol
    await _run(gateway, websocket, identity, params, beta=beta)


async def _run(gateway: Gateway, websocket: WebSocket, identity: Identity, params: ListenParams, *, beta: bool) -> None:
    started = datetime.now(UTC)
    session_id = str(uuid.uuid4())
    core = RealtimeTranscription(
        new_session=lambda chosen: new_session(gateway, chosen, started, session_id),
        base=params,
        beta=beta,
        created_at=time.time(),
    )
    try:
        await websocket.send_text(json.dumps(core.opening()))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    fanout = session_fanout(gateway, session_id, identity, params)
    log.info("realtime session %s (%s)", session_id, "beta" if beta else "ga")
    await LiveConnection(gateway, websocket, core, identity, started, fanout, replies=False).run()
    log.info(
        "realtime session %s ended: %.1f s of audio, %d client errors, close %d",
        session_id, core.audio_seconds, core.client_errors, core.session.close_code,
    )  # fmt: skip


async def _refuse(websocket: WebSocket, refusal: ProtocolError) -> None:
    """An `error` event saying why, then the close code (1013: try later, 1008: not allowed)."""
    kind = "server_error" if refusal.code >= 1011 else "invalid_request_error"
    error = {"type": kind, "code": "session_refused", "message": refusal.reason, "param": None, "event_id": None}
    event = {"type": "error", "event_id": f"event_{uuid.uuid4().hex[:20]}", "error": error}
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_text(json.dumps(event))
        await websocket.close(refusal.code, close_reason(refusal.reason))
