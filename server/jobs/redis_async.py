"""Distributed mode's asynchronous uploads in Redis. An adapter of its own (with server/jobs/redis_streams.py
and server/calls/redis_hub.py, a module allowed to import redis): its commands, a consumer group of gateways,
claims renewed with XCLAIM and job records in hashes with a TTL, are none of the job queue's.

- A job is a hash `streamscribe:async:job:{id}` (`job`: its JSON record; `delivered`) that expires
  `async_retention_s` after its last change; a queued job whose record expired is dropped when taken.
- Its id goes to the stream `streamscribe:async:queue:{location}`, one stream per body location
  (server/jobs/intake.py), read by the consumer group `gateways`: a job is taken only by a gateway
  that can read its body. The stream's length (entries are deleted when acknowledged) is the number
  of jobs waiting or running, which `async_max_queued` bounds.
- A gateway acknowledges (XACK, XDEL) only after the outcome is stored and the callback handed to its
  webhook sender. While it runs a job it renews its claim (XCLAIM JUSTID); an entry left idle for
  `claim_idle_s` (its gateway died) is taken over by another gateway with XAUTOCLAIM.
- A gateway that stops puts its jobs back (a new entry, the old one acknowledged, in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from typing import Any, BinaryIO

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from server.jobs import redis_keys as keys
from server.jobs.async_uploads import (
    AsyncJob,
    AsyncStatus,
    AsyncUploadConfig,
    ClaimedJob,
    IntakeUnavailable,
    QueueFull,
)
from server.jobs.intake import BodyStore
from server.jobs.redis_streams import DOWN_ERRORS

log = logging.getLogger("streamscribe.async")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


class RedisAsyncJobStore:
    """The AsyncJobStore of a gateway in distributed mode (the protocol states the caller's duties);
    `consumer` names this gateway in the consumer group (its gateway id)."""

    def __init__(self, redis: aioredis.Redis, bodies: BodyStore, consumer: str, config: AsyncUploadConfig) -> None:
        self.redis = redis
        self.bodies = bodies
        self.consumer = consumer
        self.config = config
        self.stream = ""
        self._ttl_s = max(1, int(config.retention_s))
        self._group_ready = False
        self._last_reclaim = 0.0
        self._unavailable: str | None = "not started"

    async def start(self) -> None:
        """Open the body store; one that cannot be used is logged, and every upload is then answered 503
        saying why (the rest of the gateway works on)."""
        try:
            await self.bodies.start()
        except OSError as error:
            self._unavailable = f"the intake directory cannot be used: {error.strerror or error}"
            log.error("asynchronous uploads are off: %s", self._unavailable)
            return
        self._unavailable = None
        self.stream = keys.async_queue(self.bodies.location)

    async def close(self) -> None:
        return None  # the runtime closes the Redis connection

    def _encode(self, job: AsyncJob) -> str:
        return json.dumps(job.record(), ensure_ascii=False, separators=(",", ":"))

    async def accept(self, job: AsyncJob, body: BinaryIO) -> None:
        if self._unavailable is not None:
            raise IntakeUnavailable(self._unavailable)
        try:
            waiting = await self.redis.xlen(self.stream)
        except DOWN_ERRORS as error:
            raise IntakeUnavailable(f"redis is unreachable: {_describe(error)}") from error
        if waiting >= self.config.max_queued:
            raise QueueFull(
                f"{waiting} asynchronous uploads are waiting or running "
                f"(async_max_queued={self.config.max_queued}); try again later"
            )
        try:
            await self.bodies.put(job.request_id, body)
        except Exception as error:  # the object store's errors, or OSError for a directory
            raise IntakeUnavailable(f"the upload cannot be stored: {_describe(error)}") from error
        key = keys.async_job(job.request_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"job": self._encode(job)})
                pipe.expire(key, self._ttl_s)
                pipe.xadd(self.stream, {"id": job.request_id})
                await pipe.execute()
        except DOWN_ERRORS as error:
            with contextlib.suppress(Exception):
                await self.bodies.delete(job.request_id)
            raise IntakeUnavailable(f"redis is unreachable: {_describe(error)}") from error

    async def take(self, wait_s: float) -> ClaimedJob | None:
        if self._unavailable is not None:
            await asyncio.sleep(wait_s)
            return None
        try:
            if not self._group_ready:
                await self._create_group()
            entry = await self._reclaim() or await self._read(wait_s)
            if entry is None:
                return None
            entry_id, request_id = entry
            job = await self._load(request_id)
            if job is None:  # its record expired while it waited
                log.warning("asynchronous upload %s expired before it ran: dropped", request_id)
                await self._drop(entry_id, request_id)
                return None
            return ClaimedJob(job, entry_id)
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._group_ready = False  # Redis restarted empty
        except DOWN_ERRORS as error:
            log.warning("redis unavailable (asynchronous uploads): %s", error)
            await asyncio.sleep(min(wait_s, 1.0))
        return None

    async def _create_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, keys.ASYNC_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def _reclaim(self) -> tuple[str, str] | None:
        """An entry another gateway took and stopped renewing (it died), at most every few seconds."""
        now = time.monotonic()
        if now - self._last_reclaim < min(self.config.claim_idle_s / 2, 5.0):
            return None
        self._last_reclaim = now
        idle_ms = int(self.config.claim_idle_s * 1000)
        reply: Any = await self.redis.xautoclaim(self.stream, keys.ASYNC_GROUP, self.consumer, idle_ms, count=1)
        deleted = list(reply[2]) if len(reply) > 2 else []
        for entry_id, fields in reply[1]:
            if not fields:  # Redis 6.2 reports a deleted entry this way
                deleted.append(entry_id)
                continue
            request_id = fields[b"id"].decode()
            log.warning("took over asynchronous upload %s: its gateway stopped renewing it", request_id)
            return entry_id.decode(), request_id
        if deleted:
            await self.redis.xack(self.stream, keys.ASYNC_GROUP, *deleted)
        return None

    async def _read(self, wait_s: float) -> tuple[str, str] | None:
        block = max(1, int(wait_s * 1000))
        streams: Any = {self.stream: ">"}
        reply: Any = await self.redis.xreadgroup(keys.ASYNC_GROUP, self.consumer, streams, count=1, block=block)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                return entry_id.decode(), fields[b"id"].decode()
        return None

    async def _load(self, request_id: str) -> AsyncJob | None:
        fields: Any = await self.redis.hgetall(keys.async_job(request_id))
        if b"job" not in fields:
            return None
        try:
            job = AsyncJob.from_record(json.loads(fields[b"job"]))
        except (ValueError, KeyError, TypeError) as error:
            log.error("asynchronous upload %s: unreadable record: %r", request_id, error)
            return None
        delivered = fields.get(b"delivered")
        return job if delivered is None else dataclasses.replace(job, delivered=delivered == b"1")

    def body(self, claimed: ClaimedJob) -> contextlib.AbstractAsyncContextManager[BinaryIO]:
        return self.bodies.open(claimed.job.request_id)

    async def keep(self, claimed: ClaimedJob) -> None:
        assert claimed.receipt is not None
        try:
            await self.redis.xclaim(self.stream, keys.ASYNC_GROUP, self.consumer, 0, [claimed.receipt], justid=True)
        except DOWN_ERRORS as error:
            log.warning("asynchronous upload %s: claim not renewed: %s", claimed.job.request_id, error)

    async def save(self, claimed: ClaimedJob, job: AsyncJob) -> None:
        key = keys.async_job(job.request_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"job": self._encode(job)})
                pipe.expire(key, self._ttl_s)
                if job.status is AsyncStatus.RUNNING:
                    # Each run transcribes under the request id: the "ended" mark an interrupted run left
                    # (server/jobs/redis_streams.py) would make the workers skip this run's jobs.
                    pipe.delete(keys.session_ended(job.request_id))
                await pipe.execute()
        except DOWN_ERRORS as error:
            raise IntakeUnavailable(f"redis is unreachable: {_describe(error)}") from error

    async def acknowledge(self, claimed: ClaimedJob) -> None:
        assert claimed.receipt is not None
        await self._drop(claimed.receipt, claimed.job.request_id)

    async def _drop(self, entry_id: str, request_id: str) -> None:
        """Delete the body, then acknowledge and delete the entry."""
        try:
            await self.bodies.delete(request_id)
        except Exception as error:  # the object store's errors, or OSError: the body stays behind
            log.error("asynchronous upload %s: its body could not be deleted: %s", request_id, error)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, keys.ASYNC_GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)
                await pipe.execute()
        except DOWN_ERRORS as error:  # taken again later: its finished record says what is left to do
            log.warning("asynchronous upload %s not acknowledged: %s", request_id, error)

    async def release(self, claimed: ClaimedJob) -> None:
        assert claimed.receipt is not None
        job = claimed.job.requeued()
        key = keys.async_job(job.request_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"job": self._encode(job)})
                pipe.expire(key, self._ttl_s)
                pipe.xadd(self.stream, {"id": job.request_id})
                pipe.xack(self.stream, keys.ASYNC_GROUP, claimed.receipt)
                pipe.xdel(self.stream, claimed.receipt)
                await pipe.execute()
        except DOWN_ERRORS as error:  # another gateway takes it over after claim_idle_s
            log.warning("asynchronous upload %s not put back: %s", job.request_id, error)

    async def lookup(self, request_id: str) -> AsyncJob | None:
        try:
            return await self._load(request_id)
        except DOWN_ERRORS as error:
            raise IntakeUnavailable(f"redis is unreachable: {_describe(error)}") from error

    async def set_delivered(self, request_id: str, delivered: bool) -> None:
        key = keys.async_job(request_id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "delivered", "1" if delivered else "0")
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except DOWN_ERRORS as error:
            log.warning("asynchronous upload %s: delivery not recorded: %s", request_id, error)

    async def sweep(self) -> None:
        return None  # records expire in Redis
