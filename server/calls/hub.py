"""The call hub: who is live now, and the messages they send, to any number of subscribers.

A live session or Twilio call `open`s its ids (a call's `callSid`, a
session's `request_id`) with its tenant, `publish`es each message it sends,
and `close`s at the end: subscribers then get the end of the stream. A
subscriber first `lookup`s the id (unknown or ended: the endpoint answers
404; another tenant's: 404 too), then `subscribe`s.

Publishing never blocks the session: a subscriber that falls more than
`max_backlog` messages behind is dropped (`SubscriberTooSlow`), it does not
hold the session back. `MemoryCallHub` serves one process (embedded mode);
`server.calls.redis_hub.RedisCallHub` fans out across gateways.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_BACKLOG = 512


class SubscriberTooSlow(Exception):
    """The subscriber did not read fast enough; messages were dropped, so it is ended."""


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A live id as a subscriber sees it before subscribing."""

    call_id: str
    tenant: str | None


class Subscription(Protocol):
    async def next(self) -> dict[str, Any] | None:
        """The next message; None once the call has ended. Raises SubscriberTooSlow."""
        ...

    async def close(self) -> None: ...


class CallHub(Protocol):
    def start(self) -> None:
        """Inside the running event loop, before the first call opens."""
        ...

    async def open(self, call_id: str, stream_id: str, tenant: str | None) -> None:
        """`stream_id` (a session id) goes live under `call_id`; a call may carry several streams."""
        ...

    def publish(self, call_id: str, message: dict[str, Any]) -> None:
        """Hand one message to every subscriber of `call_id`; never blocks, never raises."""
        ...

    async def close(self, call_id: str, stream_id: str) -> None:
        """`stream_id` ends; once no stream of `call_id` is left, its subscribers get the end."""
        ...

    async def lookup(self, call_id: str) -> LiveCall | None: ...

    async def subscribe(self, call_id: str) -> Subscription | None:
        """None when `call_id` is not live (anymore)."""
        ...

    async def aclose(self) -> None: ...


_END: dict[str, Any] = {}


@dataclass(eq=False)
class MemorySubscription:
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: bool = False
    ended: bool = False
    hub: MemoryCallHub | None = None
    call_id: str = ""

    async def next(self) -> dict[str, Any] | None:
        if self.overflowed:
            raise SubscriberTooSlow(f"more than {self.queue.maxsize - 1} messages behind")
        if self.ended:
            return None
        message = await self.queue.get()
        if message is _END:
            self.ended = True
            return None
        if self.overflowed:
            raise SubscriberTooSlow(f"more than {self.queue.maxsize - 1} messages behind")
        return message

    async def close(self) -> None:
        if self.hub is not None:
            self.hub.unsubscribe(self.call_id, self)


@dataclass
class _Call:
    tenant: str | None
    streams: set[str] = field(default_factory=set)
    subscribers: set[MemorySubscription] = field(default_factory=set)


class MemoryCallHub:
    """The hub of one process."""

    def __init__(self, max_backlog: int = DEFAULT_BACKLOG) -> None:
        self.max_backlog = max_backlog
        self._calls: dict[str, _Call] = {}
        self.dropped_subscribers: defaultdict[str, int] = defaultdict(int)

    def start(self) -> None:
        pass

    async def open(self, call_id: str, stream_id: str, tenant: str | None) -> None:
        self._calls.setdefault(call_id, _Call(tenant)).streams.add(stream_id)

    def publish(self, call_id: str, message: dict[str, Any]) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        for subscriber in list(call.subscribers):
            self.deliver(subscriber, message)

    def deliver(self, subscriber: MemorySubscription, message: dict[str, Any]) -> None:
        """Queue `message` for one subscriber; one too far behind is marked and let go."""
        if subscriber.queue.full():
            subscriber.overflowed = True
            self.dropped_subscribers[subscriber.call_id] += 1
            self.unsubscribe(subscriber.call_id, subscriber)
            subscriber.queue.get_nowait()  # room for the end, so a waiting next() wakes up
            subscriber.queue.put_nowait(_END)
            return
        subscriber.queue.put_nowait(message)

    async def close(self, call_id: str, stream_id: str) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        call.streams.discard(stream_id)
        if call.streams:
            return
        del self._calls[call_id]
        for subscriber in call.subscribers:
            if subscriber.queue.full():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(_END)

    async def lookup(self, call_id: str) -> LiveCall | None:
        call = self._calls.get(call_id)
        return None if call is None else LiveCall(call_id, call.tenant)

    async def subscribe(self, call_id: str) -> MemorySubscription | None:
        call = self._calls.get(call_id)
        if call is None:
            return None
        subscription = MemorySubscription(asyncio.Queue(self.max_backlog + 1), hub=self, call_id=call_id)
        call.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, call_id: str, subscription: MemorySubscription) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            call.subscribers.discard(subscription)

    async def aclose(self) -> None:
        for call_id, call in list(self._calls.items()):
            for stream_id in list(call.streams):
                await self.close(call_id, stream_id)
