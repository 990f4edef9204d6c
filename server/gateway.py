"""What every gateway holds: settings, the queue, the archive, the live sessions.

Results come back through one reader per gateway and are routed to the
inbox of the session they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from server.archive import Archive
from server.config import Settings
from server.metrics import Metrics
from server.queue import GatewayQueue
from streaming.protocol import ModelInfo
from streaming.transcript import JobResult

log = logging.getLogger("streamscribe.gateway")


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    detail: str


@dataclass
class Gateway:
    settings: Settings
    queue: GatewayQueue
    archive: Archive
    metrics: Metrics
    model_info: ModelInfo
    readiness: Callable[[], Readiness]
    gateway_id: str = "embedded"
    inboxes: dict[str, asyncio.Queue[object]] = field(default_factory=dict)
    accepting: bool = True
    _router: asyncio.Task[None] | None = None

    def register(self, session_id: str) -> asyncio.Queue[object]:
        inbox: asyncio.Queue[object] = asyncio.Queue()
        self.inboxes[session_id] = inbox
        self.metrics.sessions_active.set(len(self.inboxes))
        return inbox

    def unregister(self, session_id: str) -> None:
        self.inboxes.pop(session_id, None)
        self.metrics.sessions_active.set(len(self.inboxes))

    @property
    def active_sessions(self) -> int:
        return len(self.inboxes)

    def start(self) -> None:
        self._router = asyncio.create_task(self._route(), name="result-router")

    async def stop(self) -> None:
        if self._router is not None:
            self._router.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._router
            self._router = None

    async def _route(self) -> None:
        async for result in self.queue.results():
            self.deliver(result)

    def deliver(self, result: JobResult) -> None:
        inbox = self.inboxes.get(result.session_id)
        if inbox is not None:
            inbox.put_nowait(result)
        # A result for a session that has ended is harmless: dropped.
