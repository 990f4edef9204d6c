"""One policy for every endpoint: who may call, whether a new session or
upload is taken now, and the archive rules.

Each endpoint speaks its own protocol (a WebSocket close code, a Deepgram or
OpenAI error body), so the decisions here are plain values that say what and
why; the endpoint only words them in its protocol (`Refusal.close_code`,
`Refusal.http_status`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from server.archive.base import Archive, ArchiveOutcome, DisabledArchive, Recording
from server.config import AccessPolicy
from server.runtime.gateway import Gateway
from streaming.protocol import CloseCode

OPTED_OUT = DisabledArchive("not archived: the client asked for archive=false")
OPT_OUT_REFUSED = "archive=false is not allowed on this server"
_SCHEMES = ("token", "bearer")


# -- who may call ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    allowed: bool
    subprotocol: str | None = None
    """The `token` subprotocol exactly as the client offered it (any case), for
    a WebSocket handshake to echo; None when it offered none."""


def authenticate(headers: Mapping[str, str], api_keys: Sequence[str]) -> Caller:
    """`Authorization: Token KEY` (Deepgram) or `Bearer KEY` (OpenAI), or on a
    WebSocket the subprotocol pair `token, KEY` (browsers cannot set headers).
    Without configured keys everyone may call. `headers`: lower-case names."""
    protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token_protocol = len(protocols) >= 2 and protocols[0].lower() == "token"
    subprotocol = protocols[0] if token_protocol else None
    if not api_keys:
        return Caller(True, subprotocol)
    offered: list[str] = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() in _SCHEMES and value.strip():
        offered.append(value.strip())
    if token_protocol:
        offered.append(protocols[1])
    allowed = any(hmac.compare_digest(key.encode(), offer.encode()) for key in api_keys for offer in offered)
    return Caller(allowed, subprotocol)


def may_monitor(headers: Mapping[str, str], policy: AccessPolicy) -> bool:
    """Whether this caller may read `/metrics` and `/readyz`'s details: anyone
    without keys; with keys, the metrics token or an API key (a Prometheus
    scraper gets the token, so it holds no key that can transcribe)."""
    if not policy.api_keys:
        return True
    keys = (*policy.api_keys, policy.metrics_token) if policy.metrics_token else policy.api_keys
    return authenticate(headers, keys).allowed


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


async def admission(gateway: Gateway, *, real_time: bool) -> Refusal | None:
    """Why a new session (`real_time`: a live stream) or upload cannot be taken now; None: take it.

    Live streams are also refused while finals queue beyond what the warm
    workers keep up with (`Gateway.backlog`): they need answers in real time,
    and a new one would make every open stream later. Uploads wait their turn."""
    if not gateway.accepting:
        return Refusal(RefusalReason.SHUTTING_DOWN, "the server is shutting down; connect to another instance")
    limit = gateway.policy.max_sessions
    if gateway.active_sessions >= limit:
        return Refusal(RefusalReason.AT_CAPACITY, f"server at capacity: {limit} concurrent sessions (max_sessions)")
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
