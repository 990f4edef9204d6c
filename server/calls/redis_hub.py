"""The call hub across gateways: Redis pub/sub for the messages, a hash with a TTL for who is live.

A subscriber may be connected to another gateway than the one holding the
call. Each message is PUBLISHed on the call's channel as an envelope
(`{"message": ...}`, or `{"end": true}` once the call's last stream closed).
Who is live is a hash per call id (stream id -> tenant) whose TTL the holding
gateway refreshes while the call lasts, so a gateway that dies leaves no call
live for longer than `ttl_s`; its subscribers notice through `lookup` on
their next idle second.

Publishing goes through a bounded in-process queue and one publisher task:
the session never waits for Redis, and when Redis is down or slow, messages
beyond `max_pending` are dropped and counted (live subscribers lose them; the
webhook, archive and the caller's own socket do not depend on this path).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.client import PubSub

from server.calls.hub import DEFAULT_BACKLOG, LiveCall, SubscriberTooSlow
from server.jobs.redis_keys import call_events, live_call
from server.jobs.redis_streams import DOWN_ERRORS

log = logging.getLogger("streamscribe.calls")
_NO_TENANT = ""


class RedisSubscription:
    def __init__(self, hub: RedisCallHub, call_id: str, pubsub: PubSub) -> None:
        self._hub = hub
        self._call_id = call_id
        self._pubsub = pubsub
        self._ended = False

    async def next(self) -> dict[str, Any] | None:
        while not self._ended:
            try:
                raw = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except DOWN_ERRORS as error:
                raise SubscriberTooSlow(f"lost the event channel: {error}") from None
            if raw is None:
                if await self._hub.lookup(self._call_id) is None:
                    self._ended = True  # the call ended (or its gateway died) while nothing came
                continue
            envelope = json.loads(raw["data"])
            if envelope.get("end"):
                self._ended = True
            elif isinstance(envelope.get("message"), dict):
                return dict(envelope["message"])
        return None

    async def close(self) -> None:
        with contextlib.suppress(*DOWN_ERRORS):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8


class RedisCallHub:
    """`CallHub` over Redis. `start()` before use, `aclose()` at shutdown."""

    def __init__(
        self, redis: aioredis.Redis, *, ttl_s: float = 30.0, max_pending: int = 10_000, backlog: int = DEFAULT_BACKLOG
    ) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl_s * 1000)
        self._pending: asyncio.Queue[tuple[str, str]] = asyncio.Queue(max_pending)
        self._refreshed: dict[str, float] = {}
        self._publisher: asyncio.Task[None] | None = None
        self.backlog = backlog
        self.dropped_messages = 0

    def start(self) -> None:
        self._publisher = asyncio.create_task(self._publish_pending(), name="call-publisher")

    async def open(self, call_id: str, stream_id: str, tenant: str | None) -> None:
        key = live_call(call_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, stream_id, tenant or _NO_TENANT)
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
            self._refreshed[call_id] = time.monotonic()
        except DOWN_ERRORS as error:
            log.warning("call %s: cannot announce it to subscribers (redis: %s)", call_id, error)

    def publish(self, call_id: str, message: dict[str, Any]) -> None:
        self._enqueue(call_id, json.dumps({"message": message}))
        now = time.monotonic()
        if now - self._refreshed.get(call_id, now) >= self._ttl_ms / 3000:
            self._refreshed[call_id] = now
            self._enqueue(call_id, "")  # "": refresh the TTL

    async def close(self, call_id: str, stream_id: str) -> None:
        self._refreshed.pop(call_id, None)
        key = live_call(call_id)
        try:
            await self._flush(timeout_s=2.0)
            await self._redis.hdel(key, stream_id)
            if not await self._redis.hlen(key):
                await self._redis.publish(call_events(call_id), json.dumps({"end": True}))
        except DOWN_ERRORS as error:
            log.warning("call %s: cannot tell subscribers it ended (redis: %s)", call_id, error)

    async def lookup(self, call_id: str) -> LiveCall | None:
        streams = await self._redis.hgetall(live_call(call_id))
        if not streams:
            return None
        tenant = next(iter(streams.values()))
        tenant = tenant.decode() if isinstance(tenant, bytes) else tenant
        return LiveCall(call_id, tenant or None)

    async def subscribe(self, call_id: str) -> RedisSubscription | None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(call_events(call_id))
        subscription = RedisSubscription(self, call_id, pubsub)
        # Subscribed first, then checked: a call that ended in between is not waited for.
        if await self.lookup(call_id) is None:
            await subscription.close()
            return None
        return subscription

    async def aclose(self) -> None:
        await self._flush(timeout_s=2.0)
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher

    # -- internals ------------------------------------------------------------
    def _enqueue(self, call_id: str, data: str) -> None:
        try:
            self._pending.put_nowait((call_id, data))
        except asyncio.QueueFull:
            self.dropped_messages += 1

    async def _flush(self, timeout_s: float) -> None:
        """Wait (bounded) until what was published so far has gone out, so the end follows every message."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pending.join(), timeout_s)

    async def _publish_pending(self) -> None:
        while True:
            call_id, data = await self._pending.get()
            try:
                if data:
                    await self._redis.publish(call_events(call_id), data)
                else:
                    await self._redis.pexpire(live_call(call_id), self._ttl_ms)
            except DOWN_ERRORS as error:
                self.dropped_messages += 1
                log.debug("call %s: message not published (redis: %s)", call_id, error)
            finally:
                self._pending.task_done()
