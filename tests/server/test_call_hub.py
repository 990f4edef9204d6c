"""The in-process call hub: live ids, fan-out to many subscribers, the end, slow subscribers."""

from __future__ import annotations

import asyncio

import pytest

from server.calls.hub import LiveCall, MemoryCallHub, SubscriberTooSlow


async def test_messages_reach_every_subscriber_then_the_end() -> None:
    hub = MemoryCallHub()
    assert await hub.lookup("CA1") is None and await hub.subscribe("CA1") is None
    await hub.open("CA1", "session-a", "tenant-x")
    assert await hub.lookup("CA1") == LiveCall("CA1", "tenant-x")
    first, second = await hub.subscribe("CA1"), await hub.subscribe("CA1")
    assert first is not None and second is not None
    hub.publish("CA1", {"n": 1})
    hub.publish("CA2", {"n": "another call"})
    hub.publish("CA1", {"n": 2})
    await hub.close("CA1", "session-a")
    for subscription in (first, second):
        assert [await subscription.next() for _ in range(3)] == [{"n": 1}, {"n": 2}, None]
        assert await subscription.next() is None
    assert await hub.lookup("CA1") is None


async def test_a_call_with_two_streams_ends_with_its_last() -> None:
    hub = MemoryCallHub()
    await hub.open("CA1", "s1", None)
    await hub.open("CA1", "s2", None)
    subscription = await hub.subscribe("CA1")
    assert subscription is not None
    await hub.close("CA1", "s1")
    hub.publish("CA1", {"from": "s2"})
    await hub.close("CA1", "s2")
    assert [await subscription.next(), await subscription.next()] == [{"from": "s2"}, None]


async def test_a_slow_subscriber_is_let_go_and_others_keep_everything() -> None:
    hub = MemoryCallHub(max_backlog=3)
    await hub.open("CA1", "s", None)
    slow, reader = await hub.subscribe("CA1"), await hub.subscribe("CA1")
    assert slow is not None and reader is not None
    got = []
    for n in range(10):
        hub.publish("CA1", {"n": n})
        got.append(await reader.next())
    assert got == [{"n": n} for n in range(10)]
    with pytest.raises(SubscriberTooSlow, match="3 messages"):
        await slow.next()


async def test_a_waiting_subscriber_wakes_at_the_end() -> None:
    hub = MemoryCallHub()
    await hub.open("CA1", "s", None)
    subscription = await hub.subscribe("CA1")
    assert subscription is not None
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    await hub.close("CA1", "s")
    assert await asyncio.wait_for(waiting, 1) is None


async def test_an_unsubscribed_listener_gets_nothing_more() -> None:
    hub = MemoryCallHub()
    await hub.open("CA1", "s", None)
    subscription = await hub.subscribe("CA1")
    assert subscription is not None
    await subscription.close()
    hub.publish("CA1", {"n": 1})
    assert subscription.queue.empty()
