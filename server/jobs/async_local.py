"""Embedded mode's asynchronous uploads: a local intake directory (`async_intake_dir`).

Layout: `{request_id}.json` is the job (server/jobs/async_uploads.py AsyncJob, with its result once done),
written whole under a temporary name and renamed; `{request_id}.body` is the upload until its job is done
(server/jobs/intake.py). On start, queued and running jobs found there are queued again, in the order they
were accepted, and so are finished jobs whose body is still there (the process stopped before handing their
callback over). One process per directory: two processes sharing one would both run its jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import BinaryIO

from server.jobs.async_uploads import (
    AsyncJob,
    AsyncUploadConfig,
    ClaimedJob,
    IntakeUnavailable,
    QueueFull,
)
from server.jobs.intake import LocalBodyStore, checked_id

log = logging.getLogger("streamscribe.async")


class LocalAsyncJobStore:
    """The AsyncJobStore of one embedded gateway (the protocol states the caller's duties)."""

    def __init__(self, config: AsyncUploadConfig) -> None:
        self.config = config
        self.bodies = LocalBodyStore(config.intake_dir)
        self.directory = config.intake_dir
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._unfinished: set[str] = set()
        """Jobs accepted and not acknowledged: what `max_queued` bounds."""
        self._writing = asyncio.Lock()
        self._unavailable: str | None = "not started"

    async def start(self) -> None:
        """Queue what the directory holds (it is made by the first upload, not here: a process that never
        takes one leaves no directory behind). A directory that cannot be read is logged, and every upload
        is then answered 503 saying why; the rest of the server works on."""
        try:
            found = await asyncio.to_thread(self._scan) if await asyncio.to_thread(self.directory.is_dir) else []
        except OSError as error:
            self._unavailable = f"the intake directory {self.directory} cannot be used: {error.strerror or error}"
            log.error("asynchronous uploads are off: %s", self._unavailable)
            return
        self._unavailable = None
        for job in found:
            self._unfinished.add(job.request_id)
            self._queue.put_nowait(job.request_id)
        if found:
            log.warning("resuming %d asynchronous upload(s) found in %s", len(found), self.directory)

    def _scan(self) -> list[AsyncJob]:
        """The jobs to take up again, oldest first; expired ones are deleted on the way."""
        resumed = []
        for path in self.directory.glob("*.json"):
            job = self._read_path(path)
            if job is None:
                continue
            if job.expired(self.config.retention_s):
                self._delete(job.request_id)
            elif not job.status.finished or self.bodies.path(job.request_id).exists():
                resumed.append(job)
        return sorted(resumed, key=lambda job: job.created)

    async def close(self) -> None:
        return None

    def _manifest(self, request_id: str) -> Path:
        return self.directory / f"{checked_id(request_id)}.json"

    def _read_path(self, path: Path) -> AsyncJob | None:
        try:
            return AsyncJob.from_record(json.loads(path.read_text(encoding="utf-8")))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("asynchronous upload record %s is unreadable: %r", path, error)
            return None

    def _write_path(self, job: AsyncJob) -> None:
        path = self._manifest(job.request_id)
        partial = path.with_suffix(".json.part")
        partial.write_text(json.dumps(job.record(), ensure_ascii=False), encoding="utf-8")
        partial.replace(path)

    def _delete(self, request_id: str) -> None:
        self._manifest(request_id).unlink(missing_ok=True)
        self.bodies.path(request_id).unlink(missing_ok=True)

    async def accept(self, job: AsyncJob, body: BinaryIO) -> None:
        if self._unavailable is not None:
            raise IntakeUnavailable(self._unavailable)
        if len(self._unfinished) >= self.config.max_queued:
            raise QueueFull(
                f"{len(self._unfinished)} asynchronous uploads are waiting or running on this server "
                f"(async_max_queued={self.config.max_queued}); try again later"
            )
        self._unfinished.add(job.request_id)
        try:
            if not self.bodies.location:
                await self.bodies.start()  # makes the directory
            await self.bodies.put(job.request_id, body)
            await self.save(ClaimedJob(job), job)
        except (OSError, IntakeUnavailable) as error:
            self._unfinished.discard(job.request_id)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._delete, job.request_id)
            raise IntakeUnavailable(f"the upload cannot be stored in {self.directory}: {error}") from error
        self._queue.put_nowait(job.request_id)

    async def take(self, wait_s: float) -> ClaimedJob | None:
        try:
            request_id = await asyncio.wait_for(self._queue.get(), wait_s)
        except TimeoutError:
            return None
        job = await asyncio.to_thread(self._read_path, self._manifest(request_id))
        if job is None:
            self._unfinished.discard(request_id)
            return None
        return ClaimedJob(job)

    def body(self, claimed: ClaimedJob) -> contextlib.AbstractAsyncContextManager[BinaryIO]:
        return self.bodies.open(claimed.job.request_id)

    async def keep(self, claimed: ClaimedJob) -> None:
        return None  # one process per directory: no one else could take it over

    async def save(self, claimed: ClaimedJob, job: AsyncJob) -> None:
        async with self._writing:
            try:
                await asyncio.to_thread(self._write_path, job)
            except OSError as error:
                raise IntakeUnavailable(f"cannot write {self._manifest(job.request_id)}: {error}") from error

    async def acknowledge(self, claimed: ClaimedJob) -> None:
        request_id = claimed.job.request_id
        try:
            await self.bodies.delete(request_id)
        except OSError as error:
            log.error("asynchronous upload %s: its body could not be deleted: %s", request_id, error)
        self._unfinished.discard(request_id)

    async def release(self, claimed: ClaimedJob) -> None:
        await self.save(claimed, claimed.job.requeued())
        self._queue.put_nowait(claimed.job.request_id)

    async def lookup(self, request_id: str) -> AsyncJob | None:
        try:
            path = self._manifest(request_id)
        except ValueError:
            return None
        job = await asyncio.to_thread(self._read_path, path)
        return None if job is None or job.expired(self.config.retention_s) else job

    async def set_delivered(self, request_id: str, delivered: bool) -> None:
        async with self._writing:
            job = await asyncio.to_thread(self._read_path, self._manifest(request_id))
            if job is not None:
                try:
                    await asyncio.to_thread(self._write_path, dataclasses.replace(job, delivered=delivered))
                except OSError as error:
                    log.error("asynchronous upload %s: delivery not recorded: %s", request_id, error)

    async def sweep(self) -> None:
        if self._unavailable is not None:
            return
        now = time.time()

        def expire() -> None:
            for path in self.directory.glob("*.json"):
                job = self._read_path(path)
                if job is not None and job.expired(self.config.retention_s, now):
                    self._delete(job.request_id)

        try:
            await asyncio.to_thread(expire)
        except OSError as error:
            log.error("asynchronous uploads: sweeping %s failed: %s", self.directory, error)
