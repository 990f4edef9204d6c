"""WS /v2/listen: Deepgram Flux, conversational turns over a live session.

The official Deepgram SDK connects unchanged (`client.listen.v2.connect(model=
"flux-general-en", ...)`), with `Authorization: Token KEY` (or `Bearer TOKEN`,
or the subprotocol pair `token, KEY` in browsers), as on /v1/listen. The
stream (streaming.flux.stream) wraps a live session, so it runs on the same
queue, workers, limits and archive (`source: "flux"`) as /v1/listen, through
the same policy (server/policy.py) and admission (`session_refusal`). Flux's
messages go on the socket; subscribers and webhooks get the live session's
own messages, as for /v1/listen.

Query (streaming.flux.params): `model`, `encoding` (linear16, mulaw, alaw),
`sample_rate`, `eot_threshold`, `eager_eot_threshold`, `eot_timeout_ms`,
`keyterm`, `language_hint`, `tag`, `mip_opt_out`, `redact`; and streamscribe's
own `archive`, `redact_audio`, `callback`. A bad value: an `Error` message,
then the close (1008).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from server.http.live import LiveConnection, close_reason, session_fanout, session_refusal, socket_caller
from server.runtime.gateway import Gateway
from streaming.flux import messages
from streaming.flux.params import FluxOptions, parse_flux_query, speculative_ms
from streaming.flux.stream import FluxStream, error_code
from streaming.protocol import ListenParams, ProtocolError
from streaming.session import ListenSession
from streaming.vad import WebRtcVoiceDetector

log = logging.getLogger("streamscribe.flux")


async def flux_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    if (admitted := await socket_caller(websocket, gateway)) is None:
        return
    caller, identity = admitted
    try:
        params, options = parse_flux_query(websocket.query_params.multi_items())
        refusal = await session_refusal(gateway, identity, params)
    except ProtocolError as error:
        refusal = error
    await websocket.accept(subprotocol=caller.subprotocol)
    if refusal is not None:
        gateway.metrics.sessions_refused.labels(str(refusal.code)).inc()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.send_text(json.dumps(messages.error(0, error_code(refusal.code), refusal.reason)))
            await websocket.close(refusal.code, close_reason(refusal.reason))
        return
    started = datetime.now(UTC)
    stream = FluxStream(flux_session(gateway, params, options, started), options)
    try:
        for message in stream.opening():
            await websocket.send_text(json.dumps(message))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # gone already: the connection below finds out and archives what little there is
    fanout = session_fanout(gateway, stream.session_id, identity, params)
    await LiveConnection(gateway, websocket, stream, identity, started, fanout, replies=False).run()
    if stream.ignored_messages:
        log.warning("flux %s: ignored unknown messages %s", stream.session_id, sorted(set(stream.ignored_messages)))
    log.info(
        "flux %s ended: %.1f s of audio, %d turns, close %d",
        stream.session_id, stream.audio_seconds, stream.turn_index, stream.session.close_code,
    )  # fmt: skip


def flux_session(gateway: Gateway, params: ListenParams, options: FluxOptions, started: datetime) -> ListenSession:
    """A live session whose speculative-final silence is the stream's (streaming.flux.params)."""
    live = gateway.live
    config = replace(live.session, speculative_ms=speculative_ms(options.thresholds, live.session.speculative_ms))
    return ListenSession(
        session_id=str(uuid.uuid4()),
        params=params,
        model=gateway.model_info,
        detector_factory=lambda: WebRtcVoiceDetector(live.vad_mode),
        config=config,
        reply_to=gateway.gateway_id,
        created=started.isoformat(),
        now=time.monotonic(),
    )
