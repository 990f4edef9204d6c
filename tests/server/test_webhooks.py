"""Webhook delivery (server/webhooks.py) against a real HTTP receiver: a Starlette app under
uvicorn on a free loopback port in the test's event loop, answering as each test scripts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import webhook_security
from server.config import Settings
from server.metrics import Metrics
from server.webhook_security import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    check_callback_url,
    signature_header,
    verify_signature,
)
from server.webhooks import WebhookConfig, WebhookSender

SECRET = b"whsec-test"
TRANSCRIPT = "my card number is four one one one"
PAYLOAD = {"type": "Results", "request_id": "r1", "channel": {"alternatives": [{"transcript": TRANSCRIPT}]}}
BASE = WebhookConfig(
    url=None,
    secret=SECRET,
    timeout_s=2.0,
    max_attempts=3,
    backoff_initial_s=0.01,
    backoff_max_s=0.05,
    max_pending=100,
    concurrency=4,
    allow_private_callbacks=True,
)
"""Tiny backoffs; the receiver is on loopback, so private callbacks are allowed unless a test says otherwise."""


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False
    """Answer only once the receiver's `release` is set (or never, when the client gives up first)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: Headers
    body: bytes
    at: float


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)
    """One per request in order; then `default`."""
    default: Answer = field(default_factory=Answer)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def endpoint(self, request: Request) -> Response:
        self.received.append(Received(request.url.path, request.headers, await request.body(), time.monotonic()))
        answer = self.answers.popleft() if self.answers else self.default
        if answer.hang:
            await self.release.wait()
        await asyncio.sleep(answer.delay_s)
        return Response(status_code=answer.status, headers=answer.headers)


@contextlib.asynccontextmanager
async def receiving(default: Answer | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(default=default or Answer())
    app = Starlette(routes=[Route("/{path:path}", receiver.endpoint, methods=["POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the receiver did not start"
        await asyncio.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def sending(config: WebhookConfig = BASE, **changes: Any) -> AsyncIterator[tuple[WebhookSender, Metrics]]:
    metrics = Metrics()
    sender = WebhookSender(dataclasses.replace(config, **changes), metrics)
    sender.start()
    try:
        yield sender, metrics
    finally:
        await sender.close(drain_timeout_s=0)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def outcomes(metrics: Metrics) -> dict[str, float]:
    names = ("delivered", "failed", "dropped")
    return {o: sample(metrics, "streamscribe_webhook_deliveries_total", outcome=o) for o in names}


def attempts(metrics: Metrics) -> float:
    return sample(metrics, "streamscribe_webhook_attempts_total")


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def warnings_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "streamscribe.webhooks")


async def test_a_result_is_posted_as_signed_json() -> None:
    async with receiving() as receiver, sending(url=receiver.url()) as (sender, metrics):
        assert sender.submit(None, PAYLOAD, event_id="r1:0")
        await sender.close(drain_timeout_s=5)
    (got,) = receiver.received
    assert got.path == "/hook"
    assert json.loads(got.body) == PAYLOAD
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("streamscribe/")
    assert got.headers[EVENT_ID_HEADER] == "r1:0"
    signature = got.headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, signature, got.body)
    assert not verify_signature(b"another secret", signature, got.body)
    assert not verify_signature(SECRET, signature, got.body.replace(b"four", b"five"))
    assert outcomes(metrics) == {"delivered": 1, "failed": 0, "dropped": 0}
    assert attempts(metrics) == 1
    assert sample(metrics, "streamscribe_webhook_delivery_seconds_count") == 1
    assert sample(metrics, "streamscribe_webhook_pending") == 0
    assert b'streamscribe_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics.render()


async def test_no_secret_no_signature_and_a_random_event_id() -> None:
    async with receiving() as receiver, sending(url=receiver.url(), secret=None) as (sender, _):
        assert sender.submit(None, PAYLOAD)
        assert sender.submit(None, PAYLOAD)
        await sender.close(drain_timeout_s=5)
    first, second = receiver.received
    assert SIGNATURE_HEADER not in first.headers
    assert len({first.headers[EVENT_ID_HEADER], second.headers[EVENT_ID_HEADER]}) == 2


def test_verify_signature_checks_body_secret_and_time() -> None:
    body = b'{"transcript":"hello"}'
    header = signature_header(SECRET, body, now=1_000_000)
    assert header.startswith("t=1000000,v1=")
    assert verify_signature(SECRET, header, body, now=1_000_000)
    assert verify_signature(SECRET.decode(), header, body, now=1_000_000 + 299)
    assert not verify_signature(SECRET, header, body, now=1_000_000 + 301)
    assert not verify_signature(SECRET, header, body, now=1_000_000 - 301)
    assert verify_signature(SECRET, header, body, now=1_000_000 + 3000, tolerance_s=3600)
    assert not verify_signature(SECRET, header, body + b" ", now=1_000_000)
    digest = header.partition("v1=")[2]
    assert verify_signature(SECRET, f"t=1000000,v1={'0' * 64},v1={digest}", body, now=1_000_000)  # rotation
    assert not verify_signature(SECRET, f"t=1000001,v1={digest}", body, now=1_000_000)  # the time is signed
    for broken in ("", "t=1000000", f"v1={digest}", f"t=abc,v1={digest}", "t=1000000,v1=é", "garbage"):
        assert not verify_signature(SECRET, broken, body, now=1_000_000), broken


async def test_a_503_is_retried_with_the_same_event_id_then_delivered() -> None:
    async with receiving() as receiver, sending(url=receiver.url()) as (sender, metrics):
        receiver.answers.extend([Answer(503), Answer(502)])
        assert sender.submit(None, PAYLOAD, event_id="call-7:3")
        await sender.close(drain_timeout_s=5)
    assert [r.headers[EVENT_ID_HEADER] for r in receiver.received] == ["call-7:3"] * 3
    assert len({r.body for r in receiver.received}) == 1
    assert all(verify_signature(SECRET, r.headers[SIGNATURE_HEADER], r.body) for r in receiver.received)
    assert outcomes(metrics) == {"delivered": 1, "failed": 0, "dropped": 0}
    assert attempts(metrics) == 3


async def test_retry_after_is_honoured() -> None:
    async with receiving() as receiver, sending(url=receiver.url(), backoff_max_s=5.0) as (sender, metrics):
        receiver.answers.append(Answer(429, {"Retry-After": "1"}))
        assert sender.submit(None, PAYLOAD)
        await sender.close(drain_timeout_s=5)
    first, second = receiver.received
    assert second.at - first.at >= 0.95  # without Retry-After: 0.005-0.01 s
    assert outcomes(metrics)["delivered"] == 1


async def test_retry_after_is_capped_at_the_longest_backoff() -> None:
    async with receiving() as receiver, sending(url=receiver.url(), backoff_max_s=0.3) as (sender, metrics):
        receiver.answers.append(Answer(503, {"Retry-After": "3600"}))
        assert sender.submit(None, PAYLOAD)
        await sender.close(drain_timeout_s=5)
    first, second = receiver.received
    assert 0.28 <= second.at - first.at < 2.0
    assert outcomes(metrics)["delivered"] == 1


async def test_a_400_is_final_and_logged_without_the_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "streamscribe.webhooks")
    async with receiving(Answer(400)) as receiver, sending(url=receiver.url(), max_attempts=5) as (sender, metrics):
        assert sender.submit(None, PAYLOAD, event_id="evt-400")
        await sender.close(drain_timeout_s=5)
        await asyncio.sleep(0.1)  # no retry arrives late either
    assert len(receiver.received) == 1
    assert outcomes(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert attempts(metrics) == 1
    logged = warnings_text(caplog)
    assert "evt-400" in logged and f"127.0.0.1:{receiver.port}" in logged and "HTTP 400" in logged
    assert TRANSCRIPT not in logged and "/hook" not in logged


async def test_a_receiver_that_never_answers_is_retried_then_failed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "streamscribe.webhooks")
    async with (
        receiving(Answer(hang=True)) as receiver,
        sending(url=receiver.url(), timeout_s=0.2, max_attempts=3) as (sender, metrics),
    ):
        assert sender.submit(None, PAYLOAD, event_id="evt-silent")
        started = time.monotonic()
        await sender.close(drain_timeout_s=5)
        assert time.monotonic() - started < 3.0
    assert [r.headers[EVENT_ID_HEADER] for r in receiver.received] == ["evt-silent"] * 3
    assert outcomes(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert attempts(metrics) == 3
    assert "no answer within 0.2 s (after 3 attempts)" in warnings_text(caplog)


async def test_a_refused_connection_is_retried_then_failed() -> None:
    async with receiving() as receiver:
        closed_port_url = receiver.url()
    async with sending(url=closed_port_url, max_attempts=4) as (sender, metrics):
        assert sender.submit(None, PAYLOAD)
        await sender.close(drain_timeout_s=5)
    assert outcomes(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert attempts(metrics) == 4


async def test_submit_drops_beyond_max_pending_without_blocking(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "streamscribe.webhooks")
    async with (
        receiving(Answer(hang=True)) as receiver,
        sending(url=receiver.url(), max_pending=2) as (sender, metrics),
    ):
        assert sender.submit(None, PAYLOAD, event_id="a")
        assert sender.submit(None, PAYLOAD, event_id="b")
        started = time.monotonic()
        assert not sender.submit(None, PAYLOAD, event_id="c")
        assert time.monotonic() - started < 0.05
        assert sample(metrics, "streamscribe_webhook_pending") == 2
        await until(lambda: len(receiver.received) == 2)
        receiver.release.set()
        await sender.close(drain_timeout_s=5)
    assert sorted(r.headers[EVENT_ID_HEADER] for r in receiver.received) == ["a", "b"]
    assert outcomes(metrics) == {"delivered": 2, "failed": 0, "dropped": 1}
    assert "dropped (event c)" in warnings_text(caplog)


async def test_close_delivers_what_is_pending() -> None:
    async with (
        receiving(Answer(delay_s=0.05)) as receiver,
        sending(url=receiver.url(), concurrency=2) as (sender, metrics),
    ):
        for n in range(6):
            assert sender.submit(None, {"n": n})
        await sender.close(drain_timeout_s=5)
        assert sorted(json.loads(r.body)["n"] for r in receiver.received) == list(range(6))
        assert outcomes(metrics)["delivered"] == 6
        assert not sender.submit(None, PAYLOAD)  # closed
    assert outcomes(metrics) == {"delivered": 6, "failed": 0, "dropped": 1}


async def test_close_gives_up_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "streamscribe.webhooks")
    async with (
        receiving(Answer(hang=True)) as receiver,
        sending(url=receiver.url(), timeout_s=30) as (sender, metrics),
    ):
        assert sender.submit(None, PAYLOAD, event_id="late-1")
        assert sender.submit(None, PAYLOAD, event_id="late-2")
        await until(lambda: len(receiver.received) == 2)
        started = time.monotonic()
        await sender.close(drain_timeout_s=0.2)
        assert 0.15 < time.monotonic() - started < 2.0
        assert outcomes(metrics) == {"delivered": 0, "failed": 2, "dropped": 0}
        assert sample(metrics, "streamscribe_webhook_pending") == 0
    assert "late-2" in warnings_text(caplog) and "given up" in warnings_text(caplog)


async def test_a_slow_receiver_does_not_hold_up_another() -> None:
    async with (
        receiving(Answer(hang=True)) as slow,
        receiving() as fast,
        sending(concurrency=2) as (sender, metrics),
    ):
        for _ in range(3):
            assert sender.submit(slow.url(), PAYLOAD)
        await until(lambda: len(slow.received) == 1)
        assert sender.submit(fast.url(), PAYLOAD)
        await until(lambda: outcomes(metrics)["delivered"] == 1, timeout_s=2.0)
        assert len(slow.received) == 1  # one receiver gets half of `concurrency`
        slow.release.set()
        await sender.close(drain_timeout_s=5)
    assert outcomes(metrics)["delivered"] == 4


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/streamscribe?tenant=7",
        "http://93.184.215.14:8080/hook",
        "https://[2606:4700:4700::1111]/hook",
        "HTTPS://Hooks.Example.COM/",
        "https://bücher.example/hook",
    ],
)
def test_public_callbacks_are_accepted(url: str) -> None:
    assert check_callback_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("hooks.example.com/hook", "http:// or https://"),
        ("https://user:secret@hooks.example.com/", "credentials"),
        ("https://user@hooks.example.com/", "credentials"),
        ("https://hooks.example.com/" + "a" * 2030, "longer than 2048"),
        ("http:///hook", "no host"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\r\nX-Evil: 1", "spaces or control"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_malformed_callbacks_are_refused_even_when_private_ones_are_allowed(url: str, message: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(ValueError, match=message):
            check_callback_url(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://[::1]:8000/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8000/hook",
        "http://LocalHost./hook",
        "http://api.localhost/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
    ],
)
def test_private_callbacks_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="must be a public address"):
        check_callback_url(url, allow_private=False)
    assert check_callback_url(url, allow_private=True) == url


async def test_submit_refuses_a_private_callback_before_any_request() -> None:
    async with receiving() as receiver, sending(allow_private_callbacks=False) as (sender, metrics):
        assert not sender.submit(receiver.url(), PAYLOAD)
        assert not sender.submit("ftp://hooks.example.com/", PAYLOAD)
        await sender.close(drain_timeout_s=5)
    assert receiver.received == []
    assert outcomes(metrics) == {"delivered": 0, "failed": 2, "dropped": 0}


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The event loop's resolver, with `hooks.example.test` answering what the test puts in the dict:
    a public-looking name that points into the machine. Every name asked is recorded under "asked"."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    table: dict[str, list[str]] = {"asked": []}

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        table["asked"].append(host)
        if host not in table:
            return await real(host, port, *args, **kwargs)
        return [info for address in table[host] for info in await real(address, port, *args, **kwargs)]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return table


async def test_a_callback_name_resolving_to_a_private_address_is_refused(
    dns: dict[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "streamscribe.webhooks")
    dns["hooks.example.test"] = ["127.0.0.1"]
    async with receiving() as receiver, sending(allow_private_callbacks=False) as (sender, metrics):
        url = receiver.url(host="hooks.example.test")
        assert sender.submit(url, PAYLOAD, event_id="evt-ssrf")  # the text is fine: caught when delivering
        await sender.close(drain_timeout_s=5)
    assert receiver.received == []
    assert outcomes(metrics) == {"delivered": 0, "failed": 1, "dropped": 0}
    assert attempts(metrics) == 0
    assert dns["asked"] == ["hooks.example.test"]  # final: not retried
    assert "hooks.example.test resolves to 127.0.0.1, not a public address" in warnings_text(caplog)


async def test_a_public_callback_is_posted_to_the_address_checked(
    dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loopback stands in for a public address here: the receiver is on this machine.
    monkeypatch.setattr(webhook_security, "_is_public", lambda ip: ip.is_loopback)
    dns["hooks.example.test"] = ["127.0.0.2", "127.0.0.1"]  # the first refuses connections: the second is used
    async with receiving() as receiver, sending(allow_private_callbacks=False) as (sender, metrics):
        assert sender.submit(receiver.url(host="hooks.example.test"), PAYLOAD)
        await sender.close(drain_timeout_s=5)
    (got,) = receiver.received
    assert got.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert got.headers["connection"] == "close"  # the pool knows the connection by address, not by name
    assert dns["asked"].count("hooks.example.test") == 1  # httpx did not resolve the name again
    assert outcomes(metrics)["delivered"] == 1


async def test_the_operators_url_is_trusted_and_may_carry_credentials() -> None:
    async with receiving() as receiver:
        url = f"http://hooks:pw@localhost:{receiver.port}/operator"
        async with sending(url=url, allow_private_callbacks=False) as (sender, metrics):
            assert sender.submit(None, PAYLOAD)
            assert sender.submit(url, PAYLOAD)  # the same URL given explicitly: still the operator's
            await sender.close(drain_timeout_s=5)
    assert [r.path for r in receiver.received] == ["/operator"] * 2
    assert receiver.received[0].headers["authorization"] == "Basic " + base64.b64encode(b"hooks:pw").decode()
    assert outcomes(metrics)["delivered"] == 2


async def test_submit_never_raises() -> None:
    async with receiving() as receiver:
        metrics = Metrics()
        sender = WebhookSender(dataclasses.replace(BASE, url=receiver.url()), metrics)
        assert not sender.submit(None, PAYLOAD)  # not started
        sender.start()
        assert not sender.submit(None, {"not json": {1, 2}})
        assert not sender.submit(None, {"confidence": float("nan")})
        assert not sender.submit(None, PAYLOAD, event_id="with space")
        assert not sender.submit(None, PAYLOAD, event_id="x" * 201)
        await sender.close(drain_timeout_s=5)
        assert not WebhookSender(BASE, Metrics()).submit(None, PAYLOAD)  # no URL anywhere: nothing counted
    assert receiver.received == []
    assert outcomes(metrics) == {"delivered": 0, "failed": 4, "dropped": 1}


def test_the_config_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSCRIBE_WEBHOOK_URL", "https://hooks.example.com/in")
    monkeypatch.setenv("STREAMSCRIBE_WEBHOOK_SECRET", "s3cret-value")
    monkeypatch.setenv("STREAMSCRIBE_WEBHOOK_MAX_ATTEMPTS", "3")
    config = WebhookConfig.from_settings(Settings())
    assert config.url == "https://hooks.example.com/in"
    assert config.secret == b"s3cret-value" and "s3cret" not in repr(config)
    assert config.max_attempts == 3
    assert (config.timeout_s, config.backoff_initial_s, config.backoff_max_s) == (10.0, 0.5, 30.0)
    assert (config.max_pending, config.concurrency, config.allow_private_callbacks) == (10_000, 16, False)
    monkeypatch.delenv("STREAMSCRIBE_WEBHOOK_SECRET")
    assert WebhookConfig.from_settings(Settings()).secret is None
    for bad in ("ftp://hooks.example.com/", "hooks.example.com"):
        monkeypatch.setenv("STREAMSCRIBE_WEBHOOK_URL", bad)
        with pytest.raises(pydantic.ValidationError, match="webhook URL"):
            Settings()
