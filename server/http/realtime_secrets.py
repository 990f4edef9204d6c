"""Short-lived credentials for OpenAI Realtime transcription sessions, in OpenAI's shapes:
`POST /v1/realtime/client_secrets` (GA) and `POST /v1/realtime/transcription_sessions`
(beta). A web page's backend calls one with its key and hands the secret to the
page, which connects to `/v1/realtime?intent=transcription` with it (the SDK's
`api_key`, or the `openai-insecure-api-key.SECRET` subprotocol): the page never
holds the long-lived key.

The secret is a token of the existing mechanism (`POST /v1/auth/grant`,
server/credentials.py) with only the `listen` scope, valid for
`expires_after.seconds` (GA; beta: `client_secret.expires_at.seconds`), 10-7200
as OpenAI allows, at most MAX_TOKEN_TTL_S (longer asks are shortened; the
answer's `expires_at` says when it ends). The session configuration sent along
is checked and echoed as OpenAI does, but not bound to the secret: the page
sends its `session.update` after connecting.
"""

from __future__ import annotations

import json
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.credentials import MAX_TOKEN_TTL_S, Identity, Scope
from server.http.grant import minter
from server.policy import Denial
from server.runtime.gateway import Gateway
from streaming.realtime.config import BETA_SESSION_KEYS, RealtimeConfig, apply_beta, apply_ga
from streaming.realtime.errors import RealtimeError
from streaming.realtime.fields import Fields

DEFAULT_TTL_S = 600
"""OpenAI's default for client secrets."""


def _error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    body = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return JSONResponse({"error": body}, status_code=status)


async def _caller(request: Request) -> tuple[Gateway, Identity, object] | JSONResponse:
    """The gateway, who mints, and the JSON body; or the error response."""
    gateway: Gateway = request.app.state.gateway
    keyring = gateway.policy.keyring
    if keyring.open:
        return _error(400, "no_api_keys", "this server has no API keys, so it needs no client secrets")
    identity = minter(request, keyring)
    if isinstance(identity, Denial):
        message = "send the API key (Authorization: Bearer KEY); a client secret cannot mint another"
        return _error(401, "invalid_api_key", message)
    if not identity.may(Scope.LISTEN):
        return _error(403, "insufficient_permissions", f"this key ({identity.name}) does not have the 'listen' scope")
    raw = await request.body()
    try:
        body: object = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        return _error(400, "invalid_json", "the body must be a JSON object")
    return gateway, identity, body


def _ttl(fields: Fields | None) -> int:
    seconds = None if fields is None else fields.integer("seconds", 10, 7200)
    if fields is not None:
        fields.choice("anchor", ("created_at",))
    return min(DEFAULT_TTL_S if seconds is None else seconds, MAX_TOKEN_TTL_S)


def _mint(gateway: Gateway, identity: Identity, ttl: int) -> tuple[str, int, str]:
    """The secret, when it expires (Unix seconds) and a session id to show."""
    now = time.time()
    token = gateway.policy.keyring.grant(identity, ttl, now, frozenset({Scope.LISTEN}))
    return token, int(now + ttl), f"sess_{uuid.uuid4().hex[:20]}"


async def client_secrets(request: Request) -> Response:
    """GA: `{"expires_after": {"anchor", "seconds"}, "session": {"type": "transcription", ...}}`
    -> `{"value", "expires_at", "session"}`."""
    found = await _caller(request)
    if isinstance(found, JSONResponse):
        return found
    gateway, identity, body = found
    try:
        fields = Fields(body, "body", ("expires_after", "session"))
        ttl = _ttl(fields.object("expires_after", ("anchor", "seconds")))
        session = fields.get("session")
        config = apply_ga(RealtimeConfig(), {"type": "transcription"} if session is None else session)
    except RealtimeError as error:
        return _error(400, error.code, error.message, error.param)
    token, expires_at, session_id = _mint(gateway, identity, ttl)
    shown = config.ga_session(session_id, expires_at, gateway.model_info.name)
    return JSONResponse({"value": token, "expires_at": expires_at, "session": shown})


async def transcription_sessions(request: Request) -> Response:
    """Beta: the session's fields (and `client_secret.expires_at`) -> the session with `client_secret`."""
    found = await _caller(request)
    if isinstance(found, JSONResponse):
        return found
    gateway, identity, body = found
    try:
        config = apply_beta(RealtimeConfig(), body)
        secret = Fields(body, "session", BETA_SESSION_KEYS).object("client_secret", ("expires_at",))
        ttl = _ttl(None if secret is None else secret.object("expires_at", ("anchor", "seconds")))
    except RealtimeError as error:
        return _error(400, error.code, error.message, error.param)
    token, expires_at, session_id = _mint(gateway, identity, ttl)
    shown = config.beta_session(session_id, expires_at, gateway.model_info.name)
    return JSONResponse({**shown, "client_secret": {"value": token, "expires_at": expires_at}})
