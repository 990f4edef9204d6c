"""WS /v1/listen: the thin loop that feeds a ListenSession and carries out its actions."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any, assert_never

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.archive.base import ArchiveOutcome, Recording
from server.calls.fanout import Fanout
from server.credentials import Identity, Scope
from server.policy import (
    OPT_OUT_REFUSED,
    Caller,
    Denial,
    admission,
    archive_for,
    authenticate,
    finish_archive,
    opt_out_refused,
)
from server.runtime.gateway import (
    ClientBytes,
    ClientGone,
    ClientText,
    Gateway,
    Inbox,
    SessionEvent,
    ShutdownRequested,
)
from server.webhook_security import check_callback_url
from streaming.actions import (
    Action,
    CloseSocket,
    FinishSession,
    RecordAudio,
    Reply,
    SendMessage,
    SubmitJob,
    WithdrawJob,
)
from streaming.core import LiveCore
from streaming.jobs import JobResult
from streaming.protocol import CloseCode, ListenParams, ProtocolError, parse_listen_params
from streaming.session import ListenSession
from streaming.vad import WebRtcVoiceDetector

log = logging.getLogger("streamscribe.listen")
TICK_S = 0.25
MAX_QUEUED_FRAMES = 64
"""Client frames read ahead of the session; beyond this the reader stops reading,
so a client sending faster than the session consumes is slowed by TCP, not
buffered in gateway memory."""
MAX_REASON_BYTES = 123


def close_reason(reason: str) -> str:
    """WebSocket close reasons are limited to 123 bytes of UTF-8."""
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


async def socket_caller(websocket: WebSocket, gateway: Gateway) -> tuple[Caller, Identity] | None:
    """Who opens this live socket (it needs the `listen` scope); None once a denial
    (401/403 before the upgrade, Deepgram's error body) has answered the handshake."""
    caller = authenticate(websocket.headers, gateway.policy.keyring)
    identity = caller.admit(Scope.LISTEN)
    if isinstance(identity, Denial):
        gateway.metrics.sessions_refused.labels("unauthorized").inc()
        await websocket.send_denial_response(identity.response())
        return None
    return caller, identity


async def listen_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    if (admitted := await socket_caller(websocket, gateway)) is None:
        return
    caller, identity = admitted
    try:
        params = parse_listen_params(websocket.query_params.multi_items())
        refusal = await session_refusal(gateway, identity, params)
    except ProtocolError as error:
        refusal = error
    await websocket.accept(subprotocol=caller.subprotocol)
    if refusal is not None:
        gateway.metrics.sessions_refused.labels(str(refusal.code)).inc()
        await websocket.close(refusal.code, close_reason(refusal.reason))
        return
    started = datetime.now(UTC)
    session = new_session(gateway, params, started)
    fanout = session_fanout(gateway, session.session_id, identity, params)
    await LiveConnection(gateway, websocket, session, identity, started, fanout).run()


async def session_refusal(gateway: Gateway, identity: Identity, params: ListenParams) -> ProtocolError | None:
    """Why a live session with these parameters is not taken now (the same rules for
    every live protocol: archive opt-out, callback URL, admission); None: take it."""
    if opt_out_refused(gateway, params.archive):
        return ProtocolError(CloseCode.POLICY_VIOLATION, OPT_OUT_REFUSED)
    if params.callback is not None:
        if gateway.webhooks is None:
            return ProtocolError(CloseCode.POLICY_VIOLATION, "callback: this server sends no webhooks")
        try:
            check_callback_url(params.callback, allow_private=gateway.webhooks.config.allow_private_callbacks)
        except ValueError as error:
            return ProtocolError(CloseCode.POLICY_VIOLATION, f"callback: {error}")
    if (admitted := await admission(gateway, identity, real_time=True)) is not None:
        return ProtocolError(admitted.close_code, admitted.message)
    return None


def new_session(
    gateway: Gateway, params: ListenParams, started: datetime, session_id: str | None = None
) -> ListenSession:
    """A session with a fresh id, or `session_id` (an adapter that remakes its session before audio)."""
    live = gateway.live
    return ListenSession(
        session_id=session_id or str(uuid.uuid4()),
        params=params,
        model=gateway.model_info,
        detector_factory=lambda: WebRtcVoiceDetector(live.vad_mode),
        config=live.session,
        reply_to=gateway.gateway_id,
        created=started.isoformat(),
        now=time.monotonic(),
    )


def session_fanout(gateway: Gateway, session_id: str, identity: Identity, params: ListenParams, **call: str) -> Fanout:
    """Subscribers by the session's id (and `call`'s ids), webhooks to the operator's URL and the client's callback."""
    webhooks = gateway.webhooks
    urls = [url for url in (webhooks.config.url if webhooks else None, params.callback) if url]
    return Fanout(
        gateway.calls,
        session_id,
        None if gateway.policy.keyring.open else identity.tenant,
        call_ids=[session_id, *call.values()],
        webhooks=webhooks,
        webhook_urls=urls,
        webhook_fields={"request_id": session_id, **call},
    )


class LiveConnection:
    """Shell of one session: socket reader, result inbox and the clock feed the core.

    `replies`: whether the session's messages go back on the socket (/v1/listen)
    or only to the fanout (Twilio, which does not read them; OpenAI Realtime,
    whose adapter answers in its own words: `Reply` actions, always sent)."""

    def __init__(
        self,
        gateway: Gateway,
        websocket: WebSocket,
        session: LiveCore,
        identity: Identity,
        started: datetime,
        fanout: Fanout,
        *,
        replies: bool = True,
    ) -> None:
        self.gateway = gateway
        self.identity = identity
        self.websocket = websocket
        self.started = started
        self.session = session
        self.fanout = fanout
        self.replies = replies
        self.connected = True
        self._recording: Recording | None = None
        self._frame_slots = asyncio.Semaphore(MAX_QUEUED_FRAMES)
        self._held: deque[ClientBytes | ClientText] = deque()
        """Client input the session does not accept yet (its finals are behind), in arrival order.
        Each held frame keeps its slot, so the reader stops reading the socket: TCP backpressure."""

    async def run(self) -> None:
        gateway, session = self.gateway, self.session
        inbox = gateway.register(session.session_id, self.identity.name)
        gateway.metrics.sessions_total.inc()
        reader = asyncio.create_task(self._read(inbox), name=f"reader-{session.session_id}")
        try:
            await self.fanout.open()
            archive = archive_for(gateway, session.params.archive)
            self._recording = await archive.open(session.session_id, self.started, session.params.output_channels)
            while not session.closed:
                try:
                    event = await asyncio.wait_for(inbox.get(), timeout=TICK_S)
                except TimeoutError:
                    event = None
                await self._handle(event)
        except Exception:
            log.exception("session %s failed", session.session_id)
            gateway.metrics.errors.labels("session").inc()
            if self.connected:
                with contextlib.suppress(Exception):
                    await self.websocket.close(CloseCode.INTERNAL_ERROR, "internal server error")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            gateway.unregister(session.session_id)
            await self.fanout.close()
            gateway.metrics.audio_seconds.inc(session.audio_seconds)
            gateway.metrics.count_speculative(session.speculative)

    async def _handle(self, event: SessionEvent | None) -> None:
        """Client input waits while the session does not accept it; the end of the
        client or of the server first feeds whatever waits (accepted audio is transcribed)."""
        held = self._held
        if isinstance(event, ClientBytes | ClientText) and (held or not self.session.accepts_input):
            held.append(event)
            return
        if isinstance(event, ClientGone | ShutdownRequested):
            await self._feed_held(everything=True)
        await self._dispatch(self._feed(event))
        await self._feed_held()

    async def _feed_held(self, *, everything: bool = False) -> None:
        while self._held and not self.session.closed and (everything or self.session.accepts_input):
            await self._dispatch(self._feed(self._held.popleft()))

    def _feed(self, event: SessionEvent | None) -> list[Action]:
        """Hand one inbox event (None: the tick) to the session."""
        now = time.monotonic()
        session = self.session
        # The gateway measures the load for all sessions; storing it is cheap, so every input sees the latest.
        session.observe_load(self.gateway.load.current, now)
        match event:
            case ClientBytes(data=data):
                self._frame_slots.release()
                return session.receive_bytes(data, now)
            case ClientText(text=text):
                self._frame_slots.release()
                return session.receive_text(text, now)
            case JobResult():
                metrics = self.gateway.metrics
                metrics.queue_wait.labels(event.kind.value).observe(event.queue_seconds)
                if event.hurried:
                    metrics.hurried_finals.inc()
                if event.published_at:
                    metrics.result_transit.observe(max(0.0, time.time() - event.published_at))
                return session.receive_result(event, now)
            case ShutdownRequested():
                return session.shutdown(now)
            case ClientGone():
                self.connected = False
                return session.disconnected(now)
            case None:
                return session.tick(now)
            case _:
                assert_never(event)

    async def _read(self, inbox: Inbox) -> None:
        try:
            while True:
                await self._frame_slots.acquire()
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    inbox.put_nowait(ClientBytes(message["bytes"]))
                elif message.get("text") is not None:
                    inbox.put_nowait(ClientText(message["text"]))
                else:
                    self._frame_slots.release()
        except (WebSocketDisconnect, RuntimeError):
            pass
        inbox.put_nowait(ClientGone())

    async def _dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, RecordAudio):
                assert self._recording is not None
                await self._recording.write(action.samples)
            elif isinstance(action, SubmitJob):
                job = action.job
                self.gateway.metrics.jobs_submitted.labels(job.kind.value).inc()
                await self.gateway.queue.submit(job)
            elif isinstance(action, WithdrawJob):
                self.gateway.queue.withdraw(action.job)
            elif isinstance(action, SendMessage):
                if action.end_of_turn_s is not None:
                    self.gateway.metrics.end_of_turn.observe(action.end_of_turn_s)
                await self._send(action.payload)
                self.fanout.publish(action.payload, final=action.final)
            elif isinstance(action, Reply):
                await self._send(action.payload, reply=True)
            elif isinstance(action, FinishSession):
                outcome = await self._finish_archive(action.document)
                metadata = {**action.metadata, "archive": outcome.as_dict()}
                await self._send(metadata)
                self.fanout.finish(metadata)
            elif isinstance(action, CloseSocket):
                await self._close(action.code, action.reason)

    async def _finish_archive(self, document: dict[str, Any]) -> ArchiveOutcome:
        assert self._recording is not None
        address = self.websocket.client.host if self.websocket.client else ""
        salt = self.gateway.live.archive_salt
        salted = hmac.new(salt, address.encode(), hashlib.sha256)
        document["client"] = {"address_hash": salted.hexdigest()[:32]}
        document["tenant"] = None if self.gateway.policy.keyring.open else self.identity.tenant
        return await finish_archive(self.gateway, self._recording, document, self.session.params.archive)

    async def _send(self, payload: dict[str, object], *, reply: bool = False) -> None:
        if not self.connected or not (self.replies or reply):
            return
        try:
            await self.websocket.send_text(json.dumps(payload))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.connected = False

    async def _close(self, code: int, reason: str) -> None:
        if not self.connected or self.websocket.application_state is WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.websocket.close(code, close_reason(reason))
        self.connected = False
