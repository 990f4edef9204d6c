"""Asynchronous uploads (`POST /v1/listen?callback=URL`): the job record, its lifecycle and the store protocol.

A job is accepted once its body is checked and stored (server/jobs/intake.py); a gateway's runner
(server/uploads/async_runner.py) takes it, transcribes it, stores the outcome, hands the callback to the
webhook sender and only then acknowledges it. Two stores implement the protocol: a local directory
(embedded mode, server/jobs/async_local.py) and Redis (distributed mode, server/jobs/redis_async.py).
Either way a job taken by a gateway that dies before acknowledging it is taken again, on the restart
(local) or by another gateway after `claim_idle_s` (Redis); a job started `MAX_ATTEMPTS` times without
finishing fails, so a file that kills its gateway cannot kill every gateway in turn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from server.config import Settings

MAX_ATTEMPTS = 3
"""Starts of one job without an outcome (its gateway died or stopped each time) before it fails."""
INTERRUPTED = "interrupted"
"""The error code of a job that ran out of attempts."""


class AsyncStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (AsyncStatus.DONE, AsyncStatus.FAILED)


@dataclass(frozen=True, slots=True)
class AsyncUploadConfig:
    """The settings `async_<field>` (server/config.py says what each does and holds its default) and
    `claim_idle_s`; `from_settings` builds it."""

    max_running: int
    max_queued: int
    retention_s: float
    intake_dir: Path
    claim_idle_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> AsyncUploadConfig:
        return cls(
            max_running=settings.async_max_running,
            max_queued=settings.async_max_queued,
            retention_s=settings.async_retention_s,
            intake_dir=settings.async_intake_dir or settings.archive_dir / "intake",
            claim_idle_s=settings.claim_idle_s,
        )


class QueueFull(Exception):
    """`max_queued` jobs wait or run already; the message says so for the client (429)."""


class IntakeUnavailable(Exception):
    """The job cannot be stored or read now (the intake directory, object store or Redis); the message says
    why (503)."""


def iso_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AsyncJob:
    """One asynchronous upload. Immutable: each step of its lifecycle returns the next version, which the
    caller stores (`AsyncJobStore.save`)."""

    request_id: str
    callback: str = field(repr=False)
    """The client's callback URL (checked when accepted; the webhook sender checks it again)."""
    query: tuple[tuple[str, str], ...]
    """The query parameters the transcription depends on (server/uploads/deepgram.py `replayable_query`)."""
    owner: str
    """The name of the key that sent it (it runs as that key's upload)."""
    tenant: str | None
    """Whose it is (None: a server without keys); another tenant's id is answered as unknown."""
    sha256: str
    size: int
    created: float
    """Epoch seconds, as `updated`."""
    updated: float
    status: AsyncStatus = AsyncStatus.QUEUED
    attempts: int = 0
    """Times it was started."""
    result: dict[str, Any] | None = field(default=None, repr=False)
    """The Deepgram response, once done."""
    error: dict[str, str] | None = None
    """`{"err_code", "err_msg"}`, once failed."""
    delivered: bool | None = None
    """Whether the callback reached the client: None until known."""

    def started(self, now: float | None = None) -> AsyncJob:
        return self._next(AsyncStatus.RUNNING, now, attempts=self.attempts + 1)

    def requeued(self, now: float | None = None) -> AsyncJob:
        return self._next(AsyncStatus.QUEUED, now)

    def done(self, result: dict[str, Any], now: float | None = None) -> AsyncJob:
        return self._next(AsyncStatus.DONE, now, result=result)

    def failed(self, code: str, message: str, now: float | None = None) -> AsyncJob:
        return self._next(AsyncStatus.FAILED, now, error={"err_code": code.upper(), "err_msg": message})

    def _next(self, status: AsyncStatus, now: float | None, **changes: Any) -> AsyncJob:
        return dataclasses.replace(self, status=status, updated=time.time() if now is None else now, **changes)

    def expired(self, retention_s: float, now: float | None = None) -> bool:
        """A finished job is kept `retention_s` after its last change (unfinished ones until they finish)."""
        return self.status.finished and (time.time() if now is None else now) - self.updated > retention_s

    def callback_body(self) -> dict[str, Any]:
        """What the callback receives: the Deepgram response, or Deepgram's error body."""
        if self.result is not None:
            return self.result
        error = self.error or {"err_code": "INTERNAL_ERROR", "err_msg": "the job ended without a result"}
        return {"request_id": self.request_id, **error}

    def status_answer(self) -> dict[str, Any]:
        """GET /v1/listen/{request_id}."""
        return {
            "request_id": self.request_id,
            "status": self.status.value,
            "created": iso_time(self.created),
            "updated": iso_time(self.updated),
            "callback": {"delivered": self.delivered},
            "result": self.result,
            "error": self.error,
        }

    def record(self) -> dict[str, Any]:
        """As JSON (`from_record` reads it back)."""
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["query"] = [list(item) for item in self.query]
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> AsyncJob:
        """Raises KeyError, TypeError or ValueError for a record that is not one."""
        values = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        values["status"] = AsyncStatus(data["status"])
        values["query"] = tuple((str(key), str(value)) for key, value in data["query"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a runner took: it holds it until `acknowledge` or `release`."""

    job: AsyncJob
    receipt: str | None = None
    """Where the store keeps the claim (the Redis stream entry); None for the local store."""


class AsyncJobStore(Protocol):
    """Where asynchronous uploads wait, run and are kept for `config.retention_s`.

    The caller's duties: `start()` before anything else and `close()` at shutdown, both in the event loop;
    a runner acknowledges or releases every job it takes, and while it runs one calls `keep` at least every
    `config.claim_idle_s / 2` (else another gateway may take it over)."""

    config: AsyncUploadConfig

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def accept(self, job: AsyncJob, body: BinaryIO) -> None:
        """Store `body` (read from its start) and queue `job`. Raises QueueFull, IntakeUnavailable."""
        ...

    async def take(self, wait_s: float) -> ClaimedJob | None:
        """The next job for this gateway (a finished one too: its callback may not have been handed over),
        or None after about `wait_s` (or a store error, logged)."""
        ...

    def body(self, claimed: ClaimedJob) -> contextlib.AbstractAsyncContextManager[BinaryIO]:
        """The job's body, readable and seekable, while the context lasts. Raises BodyMissing
        (server/jobs/intake.py), IntakeUnavailable."""
        ...

    async def keep(self, claimed: ClaimedJob) -> None:
        """Renew the claim (the job is still running here)."""
        ...

    async def save(self, claimed: ClaimedJob, job: AsyncJob) -> None:
        """Store the job's new state (started, done or failed). Raises IntakeUnavailable."""
        ...

    async def acknowledge(self, claimed: ClaimedJob) -> None:
        """The job is finished and its callback handed over: drop its body and its claim."""
        ...

    async def release(self, claimed: ClaimedJob) -> None:
        """Put an unfinished job back in the queue (this gateway stops), for this or another gateway."""
        ...

    async def lookup(self, request_id: str) -> AsyncJob | None:
        """The job, or None (unknown, or finished longer than the retention ago). Raises IntakeUnavailable."""
        ...

    async def set_delivered(self, request_id: str, delivered: bool) -> None:
        """Record how the callback ended (kept while the job is)."""
        ...

    async def sweep(self) -> None:
        """Forget jobs past their retention (where the store does not expire them itself)."""
        ...
