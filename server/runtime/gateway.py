"""What every gateway holds: settings, the queue, the archive, the live sessions.

Results come back through one reader per gateway and are routed to the
inbox of the session they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from server.archive.base import Archive
from server.calls.hub import CallHub, MemoryCallHub
from server.config import AccessPolicy, LiveConfig, UploadConfig
from server.jobs.async_uploads import AsyncJobStore
from server.jobs.load import LoadMonitor
from server.jobs.queue import GatewayQueue
from server.metrics import Metrics
from server.webhooks import WebhookSender
from streaming.jobs import JobResult
from streaming.pacing import WorkerLoad, interim_step
from streaming.protocol import ModelInfo

log = logging.getLogger("streamscribe.gateway")
WEBHOOK_DRAIN_S = 5.0
"""At shutdown, webhooks still pending get this long before they count as failed."""


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    detail: str
    warm_workers: int = 0


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """Put in every session's inbox when the gateway drains (SIGTERM)."""


@dataclass(frozen=True, slots=True)
class ClientBytes:
    """A binary frame the live socket received (audio)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ClientText:
    """A text frame the live socket received (a control message)."""

    text: str


@dataclass(frozen=True, slots=True)
class ClientGone:
    """The live socket closed or failed: nothing more will come from the client."""


SessionEvent = JobResult | ShutdownRequested | ClientBytes | ClientText | ClientGone
"""What a session's inbox carries: from the gateway (results, the drain), and for
a live session from its socket reader. Uploads get only the first two."""
Inbox = asyncio.Queue[SessionEvent]


@dataclass
class Gateway:
    """What every endpoint of a gateway shares. The configs are built once
    from the settings (server/config.py); nothing here reads `Settings`."""

    policy: AccessPolicy
    live: LiveConfig
    uploads: UploadConfig
    queue: GatewayQueue
    archive: Archive
    metrics: Metrics
    model_info: ModelInfo
    readiness: Callable[[], Awaitable[Readiness]]
    gateway_id: str = "embedded"
    webhooks: WebhookSender | None = None
    """POSTs finals to the operator's webhook and clients' callbacks; None: no webhooks at all."""
    calls: CallHub = field(default_factory=MemoryCallHub)
    """Live subscribers of the sessions and calls (server/calls)."""
    async_jobs: AsyncJobStore | None = None
    """Asynchronous uploads (`POST /v1/listen?callback=`), run by server/uploads/async_runner.py; the runtime
    starts and closes the store. None: such uploads are refused."""
    inboxes: dict[str, Inbox] = field(default_factory=dict)
    accepting: bool = True
    owners: dict[str, str] = field(default_factory=dict)
    """Session (or upload) id -> the name of the key that opened it."""
    receiving: Counter[str] = field(default_factory=Counter)
    """Key name -> uploads whose body is still arriving (not registered yet)."""
    recent_uploads: dict[str, deque[float]] = field(default_factory=dict)
    """Key name -> when its uploads of the last minute started."""
    _router: asyncio.Task[None] | None = None
    _all_closed: asyncio.Event = field(default_factory=asyncio.Event)
    load: LoadMonitor = field(init=False)
    """Worker load for the live sessions' interim pacing: listen.py reports
    the jobs it submits and hands `load.current` to its session."""
    _load_poller: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.load = LoadMonitor(self.queue.depth, self._warm_workers)

    def register(self, session_id: str, owner: str = "") -> Inbox:
        """A live session or upload of the key named `owner` starts: its inbox."""
        inbox: Inbox = asyncio.Queue()
        self.inboxes[session_id] = inbox
        self.owners[session_id] = owner
        self.metrics.sessions_active.set(len(self.inboxes))
        return inbox

    def unregister(self, session_id: str) -> None:
        self.inboxes.pop(session_id, None)
        self.owners.pop(session_id, None)
        self.queue.forget(session_id)
        if not self.inboxes:
            self._all_closed.set()
        self.metrics.sessions_active.set(len(self.inboxes))

    @property
    def active_sessions(self) -> int:
        """Live sessions and uploads: transcribing, or (uploads) still receiving their body."""
        return len(self.inboxes) + self.receiving.total()

    def sessions_of(self, owner: str) -> int:
        """Live sessions and uploads (receiving or transcribing) of the key named `owner`."""
        return sum(1 for name in self.owners.values() if name == owner) + self.receiving[owner]

    @contextlib.contextmanager
    def receiving_upload(self, owner: str = "") -> Iterator[None]:
        """An upload counts against the session limits from its first byte, not only once its body is in."""
        self.receiving[owner] += 1
        try:
            yield
        finally:
            self.receiving[owner] -= 1

    def uploads_in_last_minute(self, owner: str, now: float) -> int:
        """Count an upload of `owner` starting now; how many started in the last minute, this one included."""
        started = self.recent_uploads.setdefault(owner, deque())
        started.append(now)
        while started and started[0] <= now - 60.0:
            started.popleft()
        return len(started)

    def start(self) -> None:
        self.calls.start()
        if self.webhooks is not None:
            self.webhooks.start()
        self._router = asyncio.create_task(self._route(), name="result-router")
        self._load_poller = asyncio.create_task(
            self.load.run(lambda: bool(self.inboxes), self._published), name="load-poller"
        )

    async def stop(self) -> None:
        for task in (self._router, self._load_poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._router = self._load_poller = None
        await self.calls.aclose()
        if self.webhooks is not None:
            await self.webhooks.close(WEBHOOK_DRAIN_S)

    async def _warm_workers(self) -> int:
        return (await self.readiness()).warm_workers

    def _published(self, load: WorkerLoad) -> None:
        config = self.live.session
        step = interim_step(load, config.interim_step_s, config.interim_pacing)
        self.metrics.interim_step.set(math.inf if step is None else step)

    async def _route(self) -> None:
        async for result in self.queue.results():
            self.deliver(result)

    async def backlog(self, warm_workers: int) -> str | None:
        """Whether final jobs queue faster than the warm workers take them: why, in words, or None.

        The rule: more final jobs wait unstarted than
        `admission_queued_finals_per_worker` per warm worker. Finals wait only
        when every worker is busy, so a backlog means new audio would fall
        further behind (server/http/policy.py refuses live sessions then)."""
        per_worker = self.policy.queued_finals_per_worker
        depth = await self.queue.depth()
        if depth.finals > per_worker * warm_workers:
            return (
                f"transcription backlog: {depth.finals} final jobs queued for {warm_workers} warm worker(s) "
                f"(admission_queued_finals_per_worker={per_worker})"
            )
        return None

    async def drain(self, timeout_s: float) -> None:
        """Stop accepting; let every open session send its finals and close with 1012."""
        self.accepting = False
        for inbox in list(self.inboxes.values()):
            inbox.put_nowait(ShutdownRequested())
        self._all_closed.clear()
        if self.inboxes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), timeout_s)
        if self.inboxes:
            log.warning("%d session(s) still open after %.0f s of draining", len(self.inboxes), timeout_s)

    def deliver(self, result: JobResult) -> None:
        self.load.answered(result, time.monotonic())
        inbox = self.inboxes.get(result.session_id)
        if inbox is not None:
            inbox.put_nowait(result)
        # A result for a session that has ended is harmless: dropped.
