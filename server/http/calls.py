"""WS /v1/calls/{call_id}/events: every message of a live call or session, to any number of listeners.

`call_id` is a Twilio call's `callSid` or a live session's `request_id`.
Authorised like /v1/listen (the `listen` scope); a call of another tenant is
answered like an unknown one, 404, so ids cannot be probed. The subscriber
gets the same `Results`, `SpeechStarted`, `UtteranceEnd` (and a call's `Dtmf`)
messages as the session's own client would, from the moment it joins, then
the session's `Metadata`, then a close with 1000. A subscriber that reads too
slowly is closed with 1008 rather than holding the call back. Messages sent on
this socket by the subscriber are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

from starlette.websockets import WebSocket, WebSocketDisconnect

from server.calls.hub import SubscriberTooSlow, Subscription
from server.credentials import Scope
from server.http.live import socket_caller
from server.policy import Denial
from server.runtime.gateway import Gateway
from streaming.protocol import CloseCode

_CALL_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


async def call_events_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    if (admitted := await socket_caller(websocket, gateway)) is None:
        return
    caller, identity = admitted
    call_id = websocket.path_params["call_id"]
    live = await gateway.calls.lookup(call_id) if _CALL_ID.fullmatch(call_id) else None
    visible = live is not None and (
        gateway.policy.keyring.open or identity.may(Scope.ADMIN) or live.tenant == identity.tenant
    )
    subscription = await gateway.calls.subscribe(call_id) if visible else None
    if subscription is None:
        not_found = Denial(404, "not_found", f"no live call or session {call_id[:64]!r} (unknown, or ended)")
        await websocket.send_denial_response(not_found.response())
        return
    await websocket.accept(subprotocol=caller.subprotocol)
    gateway.metrics.subscribers.inc()
    try:
        await _forward(websocket, subscription)
    finally:
        gateway.metrics.subscribers.dec()
        await subscription.close()


async def _forward(websocket: WebSocket, subscription: Subscription) -> None:
    """Messages to the subscriber until the call ends, the subscriber leaves, or falls behind."""
    gone = asyncio.create_task(_until_gone(websocket))
    try:
        while True:
            following = asyncio.create_task(subscription.next())
            await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                following.cancel()
                return
            try:
                message = following.result()
            except SubscriberTooSlow as error:
                await _close(websocket, CloseCode.POLICY_VIOLATION, f"subscriber too slow: {error}")
                return
            if message is None:
                await _close(websocket, CloseCode.NORMAL, "the call ended")
                return
            await websocket.send_text(json.dumps(message))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def _until_gone(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code, reason[:120])
