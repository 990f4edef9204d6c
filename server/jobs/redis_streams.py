"""Job queue over Redis Streams (distributed mode): the only module that imports redis.

- Jobs go to `streamscribe:jobs:final` / `:interim`, read by consumer group
  `workers`; a worker XACKs (and XDELs, which keeps the streams as short as
  the work outstanding) only after the result is published.
- Jobs left pending by a dead worker are taken over with XAUTOCLAIM.
- Results go to one stream per gateway; results are idempotent (the session
  ignores a final it already has), so a redelivered job is harmless.
- An interim job whose stream has a newer revision is skipped unstarted.
- Redis going away: every loop reconnects with backoff; the gateway keeps the
  final jobs it has not seen answered and sends them again once Redis is back
  (a restarted Redis without persistence has forgotten them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.jobs import redis_keys as keys
from server.jobs.queue import QueueDepth, TakenJob
from server.jobs.redis_codec import Fields, decode_job, decode_result, encode_job, encode_result
from streaming.jobs import Job, JobKind, JobResult

log = logging.getLogger("streamscribe.redis")

RESULTS_MAXLEN = 10_000
RESULTS_TTL_S = 3600
REVISION_TTL_S = 3600
BLOCK_MS = 1000
DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=BLOCK_MS / 1000 + 5, health_check_interval=10
    )


class Backoff:
    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self.first, self.cap, self.delay = first, cap, first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.cap, self.delay * 2)

    def reset(self) -> None:
        self.delay = self.first


# -- wire format ---------------------------------------------------------------


class RedisGatewayQueue:
    def __init__(self, redis: aioredis.Redis, gateway_id: str) -> None:
        self.redis = redis
        self.gateway_id = gateway_id
        self._results_key = keys.results_stream(gateway_id)
        self._unanswered: dict[tuple[str, int, int, JobKind], Job] = {}
        self._resend_needed = False
        self._marking: set[asyncio.Task[None]] = set()

    async def submit(self, job: Job) -> None:
        if job.kind is JobKind.FINAL:
            self._unanswered[job.result_key] = job
        try:
            await self._send(job)
        except DOWN_ERRORS as error:
            # Finals are kept and sent again once Redis is back; an interim is simply skipped.
            log.warning("redis unavailable, %s job held back: %s", job.kind.value, error)
            self._resend_needed = True

    async def _send(self, job: Job) -> None:
        stream = keys.JOBS_FINAL if job.kind is JobKind.FINAL else keys.JOBS_INTERIM
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.latest_revision(job.session_id, job.channel), job.revision, ex=REVISION_TTL_S)
            pipe.xadd(stream, encode_job(job))  # type: ignore[arg-type]
            await pipe.execute()

    async def _resend(self) -> None:
        jobs = list(self._unanswered.values())
        for job in jobs:
            await self._send(job)
        if jobs:
            log.warning("redis is back: sent %d unanswered final job(s) again", len(jobs))
        self._resend_needed = False

    def forget(self, session_id: str) -> None:
        """Stop tracking the session's jobs, and mark it ended so that workers skip those still queued."""
        for key in [key for key in self._unanswered if key[0] == session_id]:
            del self._unanswered[key]
        task = asyncio.create_task(self._mark_ended(session_id), name=f"ended-{session_id}")
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _mark_ended(self, session_id: str) -> None:
        try:
            await self.redis.set(keys.session_ended(session_id), 1, ex=REVISION_TTL_S)
        except DOWN_ERRORS as error:  # the jobs are then decoded for nothing, as before
            log.warning("redis unavailable, session %s not marked ended: %s", session_id, error)

    def withdraw(self, job: Job) -> None:
        """Not sent again after an outage. A worker may still decode it (it
        stays in the stream); the session ignores the result."""
        self._answered(job.result_key, job.revision)

    def _answered(self, key: tuple[str, int, int, JobKind], revision: int) -> None:
        # The revision must match: a segment's abandoned speculative final and
        # its real final share the key, and the first must not clear the second.
        kept = self._unanswered.get(key)
        if kept is not None and kept.revision == revision:
            del self._unanswered[key]

    async def results(self) -> AsyncIterator[JobResult]:
        last_id = "0-0"
        backoff = Backoff()
        while True:
            try:
                if self._resend_needed:
                    await self._resend()
                response: Any = await self.redis.xread({self._results_key: last_id}, count=100, block=BLOCK_MS)
                backoff.reset()
            except DOWN_ERRORS as error:
                log.warning("redis unavailable (results of %s): %s", self.gateway_id, error)
                self._resend_needed = True
                await backoff.wait()
                continue
            if not response:
                continue
            ids = []
            for entry_id, fields in response[0][1]:
                last_id = entry_id.decode()
                ids.append(entry_id)
                result, _published_at = decode_result(fields)
                if result.kind is JobKind.FINAL:
                    self._answered((result.session_id, result.channel, result.seq, result.kind), result.revision)
                yield result
            with contextlib.suppress(*DOWN_ERRORS):
                await self.redis.xdel(self._results_key, *ids)

    async def depth(self) -> QueueDepth:
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in keys.JOB_STREAMS:
                pipe.xlen(stream)
            for stream in keys.JOB_STREAMS:
                pipe.xpending(stream, keys.WORKER_GROUP)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        lengths = [r if isinstance(r, int) else 0 for r in replies[:2]]
        pending = [r.get("pending", 0) if isinstance(r, dict) else 0 for r in replies[2:]]
        return QueueDepth(
            finals=max(0, lengths[0] - pending[0]),
            interims=max(0, lengths[1] - pending[1]),
            running=sum(pending),
        )

    async def warm_workers(self) -> int:
        count = 0
        async for _key in self.redis.scan_iter(match=keys.WORKERS_PATTERN, count=100):
            count += 1
        return count


# -- worker side -------------------------------------------------------------------


class RedisWorkerQueue:
    def __init__(self, redis: aioredis.Redis, worker_id: str, claim_idle_s: float = 15.0) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.claim_idle_s = claim_idle_s
        self._groups_ready = False
        self._last_claim = 0.0
        self._backoff = Backoff()

    async def ensure_groups(self) -> None:
        for stream in keys.JOB_STREAMS:
            try:
                await self.redis.xgroup_create(stream, keys.WORKER_GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
        self._groups_ready = True

    async def take(self, max_jobs: int) -> list[TakenJob]:
        """Up to `max_jobs` finals, or else an interim (rarely a final and an interim
        together); returns [] after about a second with none,
        or after one backoff step while Redis is away (so a stopping worker can stop)."""
        while True:
            try:
                if not self._groups_ready:
                    await self.ensure_groups()
                taken = await self._reclaim(max_jobs)
                if not taken:
                    taken = await self._read({keys.JOBS_FINAL: ">"}, max_jobs, block=None)
                if not taken:
                    # One at a time here: interims are never batched (a final waits for at most one).
                    taken = await self._read({keys.JOBS_FINAL: ">", keys.JOBS_INTERIM: ">"}, 1, BLOCK_MS)
                jobs = await self._skip_unwanted(taken)
                self._backoff.reset()
                return jobs
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._groups_ready = False  # Redis restarted empty: make the groups again
            except DOWN_ERRORS as error:
                log.warning("redis unavailable (worker %s): %s", self.worker_id, error)
                await self._backoff.wait()
                return []

    async def _read(self, streams: dict[str, str], count: int, block: int | None) -> list[TakenJob]:
        response: Any = await self.redis.xreadgroup(
            keys.WORKER_GROUP,
            self.worker_id,
            streams,  # type: ignore[arg-type]
            count=count,
            block=block,
        )
        taken: list[TakenJob] = []
        for stream, entries in response or []:
            for entry_id, fields in entries:
                taken.append(self._taken(stream.decode(), entry_id.decode(), fields))
        # Every entry read is now pending on this consumer, so all of them are returned
        # (up to `count` per stream): one dropped here would wait for XAUTOCLAIM.
        taken.sort(key=lambda t: t.job.kind is not JobKind.FINAL)
        return taken

    def _taken(self, stream: str, entry_id: str, fields: Fields) -> TakenJob:
        job, enqueued_at = decode_job(fields)
        return TakenJob(job, max(0.0, time.time() - enqueued_at), (stream, entry_id))

    async def _reclaim(self, max_jobs: int) -> list[TakenJob]:
        """Take over jobs another worker took and never acknowledged (it died)."""
        now = time.monotonic()
        if now - self._last_claim < min(self.claim_idle_s / 2, 5.0):
            return []
        self._last_claim = now
        taken: list[TakenJob] = []
        for stream in keys.JOB_STREAMS:
            reply: Any = await self.redis.xautoclaim(
                stream, keys.WORKER_GROUP, self.worker_id, int(self.claim_idle_s * 1000), count=max_jobs
            )
            claimed = reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:
                await self.redis.xack(stream, keys.WORKER_GROUP, *deleted)
            for entry_id, fields in claimed:
                if fields:
                    taken.append(self._taken(stream, entry_id.decode(), fields))
            if taken:
                log.warning("worker %s reclaimed %d stale job(s) from %s", self.worker_id, len(taken), stream)
                return taken
        return taken

    async def _skip_unwanted(self, taken: list[TakenJob]) -> list[TakenJob]:
        """Acknowledge without decoding the jobs of sessions that have ended and the
        interims a newer job of their stream has superseded."""
        if not taken:
            return taken
        ended = await self.redis.mget([keys.session_ended(t.job.session_id) for t in taken])
        interims = [t for t, gone in zip(taken, ended, strict=True) if not gone and t.job.kind is JobKind.INTERIM]
        latest = await self.redis.mget([keys.latest_revision(t.job.session_id, t.job.channel) for t in interims])
        unwanted = {id(t) for t, gone in zip(taken, ended, strict=True) if gone}
        unwanted |= {
            id(t) for t, newest in zip(interims, latest, strict=True) if newest and int(newest) > t.job.revision
        }
        for t in taken:
            if id(t) in unwanted:
                await self._acknowledge(t)
        return [t for t in taken if id(t) not in unwanted]

    async def _acknowledge(self, taken: TakenJob) -> None:
        assert taken.receipt is not None
        stream, entry_id = taken.receipt
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, keys.WORKER_GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def complete(self, taken: TakenJob, result: JobResult) -> None:
        """Publish the result, then acknowledge the job; retried while Redis is away."""
        results_key = keys.results_stream(taken.job.reply_to)
        backoff = Backoff()
        for _attempt in range(30):
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xadd(results_key, encode_result(result), maxlen=RESULTS_MAXLEN, approximate=True)  # type: ignore[arg-type]
                    pipe.expire(results_key, RESULTS_TTL_S)
                    await pipe.execute()
                break
            except DOWN_ERRORS as error:
                log.warning("redis unavailable, result of %s held: %s", taken.job.session_id, error)
                await backoff.wait()
        try:
            await self._acknowledge(taken)
        except (*DOWN_ERRORS, ResponseError) as error:
            # After a restart the entry is gone anyway; the gateway dedupes results.
            log.info("could not acknowledge %s: %s", taken.receipt, error)

    async def heartbeat(self, info: dict[str, Any], ttl_s: float = 10.0) -> None:
        """Refresh this worker's presence key until cancelled."""
        key = keys.worker_heartbeat(self.worker_id)
        payload = json.dumps({**info, "host": socket.gethostname()})
        while True:
            try:
                await self.redis.set(key, payload, ex=max(1, int(ttl_s)))
            except DOWN_ERRORS as error:
                log.warning("heartbeat failed: %s", error)
            await asyncio.sleep(ttl_s / 3)

    async def leave(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.delete(keys.worker_heartbeat(self.worker_id))
