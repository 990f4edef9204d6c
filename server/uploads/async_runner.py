"""Runs a gateway's asynchronous uploads (`POST /v1/listen?callback=URL`, server/http/async_uploads.py).

Each job is transcribed exactly as the synchronous upload would be (server/uploads/deepgram.py), as an upload
of the key that sent it: while it runs it counts in the server's and that key's session limits. Its outcome
(the Deepgram response, or Deepgram's error body) is stored, then handed to the webhook sender for the
client's callback (signed, event id `{request_id}.result` on every attempt and after a restart), and only
then is the job acknowledged, so a gateway that dies at any point before leaves the job to be taken again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from server.jobs.async_uploads import (
    INTERRUPTED,
    MAX_ATTEMPTS,
    AsyncJob,
    AsyncJobStore,
    ClaimedJob,
    IntakeUnavailable,
)
from server.jobs.intake import BodyMissing
from server.runtime.gateway import Gateway
from server.uploads.deepgram import parse_deepgram_query, transcribe_deepgram
from server.uploads.pipeline import UploadError

log = logging.getLogger("streamscribe.async")
TAKE_WAIT_S = 1.0
"""How long one wait for a job lasts (a stopping runner notices within it)."""
NOT_READY_WAIT_S = 1.0
"""The pause before looking again while the gateway cannot start a job (no warm worker, at capacity)."""
SWEEP_INTERVAL_S = 600.0
SHUTTING_DOWN = "shutting_down"
"""The code of server.uploads.pipeline's UploadError when the gateway drains: the job is put back."""


class _Interrupted(Exception):
    """The job could not run to its end here (the gateway drains, the body store is away): put it back."""


def event_id(request_id: str) -> str:
    """The X-Streamscribe-Event-Id of a job's callback: the same on every attempt, from any gateway."""
    return f"{request_id}.result"


class AsyncUploadRunner:
    """Takes the gateway's asynchronous uploads from `store` and runs at most `store.config.max_running` at
    once, starting one only while the gateway accepts work, has a warm worker and is below `max_sessions`.

    The caller's duties: `start()` in the event loop once the gateway and the store have started, and
    `await stop()` before the gateway stops (its webhook sender must still take the callbacks). Jobs running
    at `stop()`, or when the gateway drains, are put back in the queue."""

    def __init__(self, gateway: Gateway, store: AsyncJobStore) -> None:
        self.gateway = gateway
        self.store = store
        self._tasks: list[asyncio.Task[None]] = []
        self._updates: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        slots = range(self.store.config.max_running)
        self._tasks = [asyncio.create_task(self._slot(), name=f"async-upload-{n}") for n in slots]
        self._tasks.append(asyncio.create_task(self._sweep(), name="async-upload-sweep"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _slot(self) -> None:
        while True:
            if not await self._may_start():
                await asyncio.sleep(NOT_READY_WAIT_S)
                continue
            claimed = await self.store.take(TAKE_WAIT_S)
            if claimed is None:
                continue
            try:
                await self._handle(claimed)
            except Exception:  # a store that failed: the job is taken again later (Redis) or on restart (local)
                log.exception("asynchronous upload %s: left unfinished", claimed.job.request_id)

    async def _may_start(self) -> bool:
        gateway = self.gateway
        if not gateway.accepting or gateway.active_sessions >= gateway.policy.max_sessions:
            return False
        state = await gateway.readiness()
        return state.ready and state.warm_workers > 0

    async def _handle(self, claimed: ClaimedJob) -> None:
        job = claimed.job
        if job.status.finished:  # stored before its gateway stopped: its callback may not have gone out
            await self._hand_over(claimed, job)
            return
        if not self.gateway.accepting:
            await self.store.release(claimed)
            return
        if job.attempts >= MAX_ATTEMPTS:
            message = f"the job was interrupted {job.attempts} times (its gateway stopped each time); not tried again"
            outcome: AsyncJob | None = job.failed(INTERRUPTED, message)
        else:
            outcome = await self._run(claimed)
        if outcome is not None:
            await self.store.save(claimed, outcome)
            await self._hand_over(claimed, outcome)

    async def _run(self, claimed: ClaimedJob) -> AsyncJob | None:
        """The job's outcome; None when it was put back."""
        running = ClaimedJob(claimed.job.started(), claimed.receipt)
        await self.store.save(running, running.job)
        log.info("asynchronous upload %s started (attempt %d)", running.job.request_id, running.job.attempts)
        keeper = asyncio.create_task(self._keep(running))
        try:
            return await self._transcribe(running)
        except (_Interrupted, asyncio.CancelledError) as error:
            reason = str(error) or "the gateway stops"
            log.warning("asynchronous upload %s put back: %s", running.job.request_id, reason)
            await asyncio.shield(self.store.release(running))
            if isinstance(error, asyncio.CancelledError):
                raise
            return None
        finally:
            keeper.cancel()

    async def _keep(self, claimed: ClaimedJob) -> None:
        interval = max(0.2, self.store.config.claim_idle_s / 3)
        while True:
            await asyncio.sleep(interval)
            await self.store.keep(claimed)

    async def _transcribe(self, claimed: ClaimedJob) -> AsyncJob:
        job = claimed.job
        try:
            async with self.store.body(claimed) as file:
                result = await transcribe_deepgram(
                    self.gateway,
                    file,
                    parse_deepgram_query(job.query),
                    request_id=job.request_id,
                    sha256=job.sha256,
                    owner=job.owner,
                    tenant=job.tenant,
                )
        except UploadError as error:
            if error.code == SHUTTING_DOWN:
                raise _Interrupted(error.message) from None
            log.warning("asynchronous upload %s failed: %s", job.request_id, error.message)
            return job.failed(error.code, error.message)
        except IntakeUnavailable as error:
            raise _Interrupted(str(error)) from None
        except BodyMissing as error:
            return job.failed("file_missing", str(error))
        except Exception:
            log.exception("asynchronous upload %s failed", job.request_id)
            self.gateway.metrics.errors.labels("upload").inc()
            return job.failed("internal_error", "internal server error")
        log.info("asynchronous upload %s done", job.request_id)
        return job.done(result)

    async def _hand_over(self, claimed: ClaimedJob, job: AsyncJob) -> None:
        """Give the callback to the webhook sender (its outcome is recorded when known), then acknowledge."""
        request_id = job.request_id

        def delivered(ok: bool) -> None:
            self._update(self.store.set_delivered(request_id, ok))

        webhooks = self.gateway.webhooks
        body, event = job.callback_body(), event_id(request_id)
        if webhooks is None or not webhooks.submit(job.callback, body, event_id=event, on_done=delivered):
            await self.store.set_delivered(request_id, False)
        await self.store.acknowledge(claimed)

    def _update(self, update: Coroutine[Any, Any, None]) -> None:
        """Run a record update in the background, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(update)
        self._updates.add(task)
        task.add_done_callback(self._updates.discard)

    async def _sweep(self) -> None:
        interval = min(SWEEP_INTERVAL_S, self.store.config.retention_s / 4)
        while True:
            await asyncio.sleep(interval)
            await self.store.sweep()
