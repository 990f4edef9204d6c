"""WS /v1/twilio: Twilio Media Streams in, transcripts out to subscribers and webhooks.

Twilio opens the socket, sends `connected` and `start`, then the call's audio.
It cannot send headers, so the API key comes as the `token` query parameter
or as `customParameters.token` of `start` (`<Parameter name="token" .../>` in
the TwiML); the URL should be `wss://` behind TLS, since the key travels in
it. Twilio does not read what a server sends on a unidirectional stream, so
nothing goes back on this socket: results reach subscribers
(`/v1/calls/{callSid}/events`) and webhooks; mistakes are logged and end the
socket with a close code.

Session parameters (`interim_results`, `endpointing`, `utterance_end_ms`,
`vad_events`, `language`, `keyterm`, `redact`, `callback`, `archive`) come from
the query and from `customParameters` (which win); the audio format is
Twilio's: G.711 at 8 kHz, one channel per track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import UTC, datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from server.credentials import Identity, Scope
from server.http.live import LiveConnection, close_reason, new_session, session_fanout, session_refusal
from server.policy import Denial, authenticate
from server.runtime.gateway import Gateway
from streaming.protocol import CloseCode, ListenParams, ProtocolError, parse_listen_params
from streaming.twilio.call import TwilioCall
from streaming.twilio.messages import Connected, Start, parse_twilio_message

log = logging.getLogger("streamscribe.twilio")
START_TIMEOUT_S = 10.0
TWILIO_CREDENTIALS = "Invalid credentials: give the API key as the token custom parameter of <Stream> (or ?token=)"
_FIXED = {"token", "encoding", "sample_rate", "channels", "multichannel"}
"""Parameters Twilio's audio decides, or that are credentials: never read as session parameters."""


async def twilio_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    await websocket.accept()
    try:
        start = await asyncio.wait_for(_read_start(websocket), START_TIMEOUT_S)
    except TimeoutError:
        return await _refuse(websocket, gateway, CloseCode.POLICY_VIOLATION, "no start message within 10 s")
    except ProtocolError as error:
        return await _refuse(websocket, gateway, error.code, error.reason)
    except WebSocketDisconnect:
        return None
    token = websocket.query_params.get("token") or start.custom_parameters.get("token")
    identity = authenticate(websocket.headers, gateway.policy.keyring, token=token).admit(Scope.LISTEN)
    if isinstance(identity, Denial):
        gateway.metrics.sessions_refused.labels("unauthorized").inc()
        reason = identity.message if identity.status == 403 else TWILIO_CREDENTIALS
        return await _refuse(websocket, gateway, CloseCode.POLICY_VIOLATION, reason, start)
    try:
        params = twilio_params(websocket, start)
        refusal = await session_refusal(gateway, identity, params)
    except ProtocolError as error:
        refusal = error
    if refusal is not None:
        gateway.metrics.sessions_refused.labels(str(refusal.code)).inc()
        return await _refuse(websocket, gateway, refusal.code, refusal.reason, start)
    await _run_call(gateway, websocket, start, params, identity)


def twilio_params(websocket: WebSocket, start: Start) -> ListenParams:
    """The session's parameters: the query's, then `customParameters`' (which win), in Twilio's audio format."""
    pairs = [(key, value) for key, value in websocket.query_params.multi_items() if key not in _FIXED]
    custom = start.custom_parameters
    overridden = {key for key in custom if key not in _FIXED}
    pairs = [(key, value) for key, value in pairs if key not in overridden]
    pairs += [(key, value) for key, value in custom.items() if key not in _FIXED]
    params = parse_listen_params(pairs)
    return replace(
        params, encoding=start.encoding, sample_rate=start.sample_rate, channels=len(start.tracks), multichannel=True
    )


async def _read_start(websocket: WebSocket) -> Start:
    """Messages up to `start`: `connected` may come first; anything else is out of order."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("text") is None:
            raise ProtocolError(CloseCode.UNSUPPORTED_DATA, "Twilio Media Streams send JSON text messages")
        parsed = parse_twilio_message(message["text"])
        if isinstance(parsed, Start):
            return parsed
        if not isinstance(parsed, Connected):
            name = type(parsed).__name__.lower()
            raise ProtocolError(CloseCode.POLICY_VIOLATION, f"{name} before start: the stream must begin with start")


async def _run_call(
    gateway: Gateway, websocket: WebSocket, start: Start, params: ListenParams, identity: Identity
) -> None:
    started = datetime.now(UTC)
    call = TwilioCall(start, new_session(gateway, params, started))
    fanout = session_fanout(
        gateway, call.session_id, identity, params, callSid=start.call_sid, streamSid=start.stream_sid
    )
    gateway.metrics.twilio_calls.inc()
    log.info("twilio call %s stream %s: session %s", start.call_sid, start.stream_sid, call.session_id)
    await LiveConnection(gateway, websocket, call, identity, started, fanout, replies=False).run()
    for error in call.session.errors:
        log.warning("twilio call %s stream %s: %s", start.call_sid, start.stream_sid, error)
    if call.ignored_events:
        log.warning("twilio call %s: ignored unknown events %s", start.call_sid, sorted(set(call.ignored_events)))
    log.info(
        "twilio call %s stream %s ended: %.1f s of call audio, %.1f s of silence filled, close %d",
        start.call_sid, start.stream_sid, call.audio_seconds, call.filled_seconds, call.session.close_code,
    )  # fmt: skip


async def _refuse(websocket: WebSocket, gateway: Gateway, code: int, reason: str, start: Start | None = None) -> None:
    where = f"call {start.call_sid} stream {start.stream_sid}" if start is not None else "a stream before start"
    log.warning("twilio %s refused (%d): %s", where, code, reason)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code, close_reason(reason))
