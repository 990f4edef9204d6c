"""`POST /v1/auth/grant` (Deepgram's): a short-lived token for one browser
session, so that a web page never holds a long-lived key.

The page's own backend calls it with its key and hands the token to the page,
which connects with `Sec-WebSocket-Protocol: bearer, TOKEN` (or uploads with
`Authorization: Bearer TOKEN`). Body (optional JSON): `ttl_seconds` (1-3600,
default 30) and `scopes` (a subset of the key's). A token cannot mint another.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.credentials import DEFAULT_TOKEN_TTL_S, MAX_TOKEN_TTL_S, TOKEN_PREFIX, Identity, KeyRing, Scope
from server.policy import Denial, authenticate
from server.runtime.gateway import Gateway


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"err_code": code, "err_msg": message}, status_code=status)


def _options(body: bytes) -> tuple[int, frozenset[Scope] | None] | JSONResponse:
    try:
        options: Any = json.loads(body) if body.strip() else {}
        if not isinstance(options, dict):
            raise ValueError("the body must be a JSON object")
        ttl = options.get("ttl_seconds", DEFAULT_TOKEN_TTL_S)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 1 <= ttl <= MAX_TOKEN_TTL_S:
            raise ValueError(f"ttl_seconds must be a number of seconds from 1 to {MAX_TOKEN_TTL_S}")
        scopes = options.get("scopes")
        chosen = None if scopes is None else frozenset(Scope(s) for s in scopes)
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        return _error(400, "INVALID_BODY", f"grant: {error}")
    return int(ttl), chosen


def minter(request: Request, keyring: KeyRing) -> Identity | Denial:
    """Who mints a token with this request: the holder of a key, never of a token
    (a token cannot mint another). Also for OpenAI's client secrets (server/http/realtime_secrets.py)."""
    caller = authenticate(request.headers, keyring)
    presented = request.headers.get("authorization", "").partition(" ")[2].strip()
    if caller.identity is None or presented.startswith(TOKEN_PREFIX):
        return Denial(401, "INVALID_AUTH", "send the API key (Authorization: Token KEY); a token cannot mint another")
    return caller.identity


async def grant(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    keyring = gateway.policy.keyring
    if keyring.open:
        return _error(400, "NO_KEYS", "this server has no API keys, so it needs no tokens")
    identity = minter(request, keyring)
    if isinstance(identity, Denial):
        return _error(identity.status, identity.code, identity.message)
    options = _options(await request.body())
    if isinstance(options, JSONResponse):
        return options
    ttl, scopes = options
    token = keyring.grant(identity, ttl, time.time(), scopes)
    return JSONResponse({"access_token": token, "expires_in": ttl})
