"""One policy for every endpoint: who may call, whether a new session or
upload is taken now, and the archive rules.

Each endpoint speaks its own protocol (a WebSocket close code, a Deepgram or
OpenAI error body), so the decisions here are plain values that say what and
why; the endpoint only words them in its protocol (`Refusal.close_code`,
`Refusal.http_status`).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from starlette.responses import JSONResponse

from server.archive.base import Archive, ArchiveOutcome, DisabledArchive, Recording
from server.config import AccessPolicy
from server.credentials import OPEN, Identity, KeyRing, Scope
from server.runtime.gateway import Gateway
from streaming.protocol import CloseCode

OPTED_OUT = DisabledArchive("not archived: the client asked for archive=false")
OPT_OUT_REFUSED = "archive=false is not allowed on this server"
_SCHEMES = ("token", "bearer")


# -- who may call ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    identity: Identity | None
    """Who the key or token speaks for; None: no valid credential."""
    subprotocol: str | None = None
    """The credential subprotocol exactly as the client offered it (`token` for a key,
    `bearer` for a token, any case), for a WebSocket handshake to echo."""

    @property
    def allowed(self) -> bool:
        return self.identity is not None

    def admit(self, scope: Scope) -> Identity | Denial:
        """Who may use an endpoint that needs `scope`, or why not."""
        if self.identity is None:
            return Denial(401, "invalid_auth", "Invalid credentials: send Authorization: Token KEY (or Bearer TOKEN)")
        if not self.identity.may(scope):
            message = f"this key ({self.identity.name}) does not have the {scope.value!r} scope"
            return Denial(403, "insufficient_permissions", message)
        return self.identity


@dataclass(frozen=True, slots=True)
class Denial:
    """A caller refused: the HTTP status, a short code and words; each endpoint's error body carries them."""

    status: int
    code: str
    message: str

    def response(self) -> JSONResponse:
        """Deepgram's error body (the live socket's denial, recordings)."""
        return JSONResponse({"err_code": self.code.upper(), "err_msg": self.message}, status_code=self.status)


def authenticate(
    headers: Mapping[str, str], keyring: KeyRing, now: float | None = None, *, token: str | None = None
) -> Caller:
    """`Authorization: Token KEY` (Deepgram) or `Bearer KEY|TOKEN` (OpenAI, tokens of
    `POST /v1/auth/grant`), or on a WebSocket the subprotocol pair `token, KEY` or
    `bearer, TOKEN` (browsers cannot set headers). `token`: a key or token the
    endpoint found elsewhere, for clients that can send neither (Twilio: a query
    parameter or a custom parameter). Without keys everyone may call, with every
    scope. `headers`: lower-case names."""
    protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    credential_protocol = len(protocols) >= 2 and protocols[0].lower() in _SCHEMES
    subprotocol = protocols[0] if credential_protocol else None
    if keyring.open:
        return Caller(OPEN, subprotocol)
    offered: list[str] = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() in _SCHEMES and value.strip():
        offered.append(value.strip())
    if credential_protocol:
        offered.append(protocols[1])
    if token:
        offered.append(token.strip())
    moment = time.time() if now is None else now
    identity = next((found for offer in offered if (found := keyring.identify(offer, moment)) is not None), None)
    return Caller(identity, subprotocol)


def may_monitor(headers: Mapping[str, str], policy: AccessPolicy) -> bool:
    """Whether this caller may read `/metrics` and `/readyz`'s details: anyone
    without keys; with keys, the metrics token or a key with the admin scope
    (a Prometheus scraper gets the token, so it holds no key that can transcribe)."""
    if policy.keyring.open:
        return True
    scheme, _, value = headers.get("authorization", "").partition(" ")
    token = policy.metrics_token
    if token and scheme.lower() in _SCHEMES and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    identity = authenticate(headers, policy.keyring).identity
    return identity is not None and identity.may(Scope.ADMIN)


# -- admission --------------------------------------------------------------------------


class RefusalReason(Enum):
    SHUTTING_DOWN = "shutting_down"
    AT_CAPACITY = "at_capacity"
    NOT_READY = "not_ready"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    message: str

    @property
    def close_code(self) -> CloseCode:
        """For a live socket: 1012 sends the client to another instance, 1013 asks it to retry later."""
        return CloseCode.SERVICE_RESTART if self.reason is RefusalReason.SHUTTING_DOWN else CloseCode.TRY_AGAIN_LATER

    @property
    def http_status(self) -> int:
        return 429 if self.reason in (RefusalReason.AT_CAPACITY, RefusalReason.BACKLOG) else 503


async def admission(gateway: Gateway, identity: Identity, *, real_time: bool) -> Refusal | None:
    """Why a new session (`real_time`: a live stream) or upload of `identity` cannot be taken now; None: take it.

    Live streams are also refused while finals queue beyond what the warm
    workers keep up with (`Gateway.backlog`): they need answers in real time,
    and a new one would make every open stream later. Uploads wait their turn.
    A key's own limits (`max_sessions`, `uploads_per_minute`) keep one tenant
    from taking every slot."""
    now = time.monotonic()
    if not gateway.accepting:
        return Refusal(RefusalReason.SHUTTING_DOWN, "the server is shutting down; connect to another instance")
    limit = gateway.policy.max_sessions
    if gateway.active_sessions >= limit:
        return Refusal(RefusalReason.AT_CAPACITY, f"server at capacity: {limit} concurrent sessions (max_sessions)")
    if (own := identity.max_sessions) is not None and gateway.sessions_of(identity.name) >= own:
        return Refusal(RefusalReason.AT_CAPACITY, f"key {identity.name} at its limit of {own} concurrent sessions")
    per_minute = identity.uploads_per_minute
    if not real_time and per_minute is not None and gateway.uploads_in_last_minute(identity.name, now) > per_minute:
        return Refusal(RefusalReason.AT_CAPACITY, f"key {identity.name} at its limit of {per_minute} uploads a minute")
    state = await gateway.readiness()
    if not state.ready or state.warm_workers == 0:
        return Refusal(RefusalReason.NOT_READY, f"no warm transcription worker is available ({state.detail})")
    if real_time and (backlog := await gateway.backlog(state.warm_workers)) is not None:
        return Refusal(RefusalReason.BACKLOG, backlog)
    return None


# -- the archive ------------------------------------------------------------------------


def opt_out_refused(gateway: Gateway, archive: bool) -> bool:
    """The client asked not to be archived where the operator does not allow it."""
    return not archive and not gateway.policy.allow_archive_opt_out


def archive_for(gateway: Gateway, archive: bool) -> Archive:
    """The archive a session or upload records into (`archive`: the client's `archive=` parameter)."""
    return gateway.archive if archive else OPTED_OUT


async def finish_archive(
    gateway: Gateway, recording: Recording, document: dict[str, Any], archive: bool
) -> ArchiveOutcome:
    """Close the recording with its document. An archive that was wanted and
    failed counts in `streamscribe_errors_total{kind="archive"}`; one that
    was switched off or opted out of is no error."""
    outcome = await recording.finish(document)
    if not outcome.stored and outcome.error and gateway.policy.archive and archive:
        gateway.metrics.errors.labels("archive").inc()
    return outcome
