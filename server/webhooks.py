"""Webhooks: JSON POSTed to the operator's `STREAMSCRIBE_WEBHOOK_URL` or a client's `callback=` URL.

`submit` only queues (bounded; the audio path calls it); each delivery runs on its own, retried with backoff,
signed with HMAC-SHA256 (`verify_signature` for receivers). A client's URL must name a public address, on its
text (`check_callback_url`) and in what its host resolves to, and the POST goes to the address checked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import httpx

from server.config import Settings
from server.metrics import Metrics
from server.webhook_security import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    RefusedTarget,
    check_callback_url,
    public_addresses,
    signature_header,
)

log = logging.getLogger("streamscribe.webhooks")

_EVENT_ID = re.compile(r"[!-~]{1,200}")
"""Printable ASCII without spaces: a header value as it is, an idempotency key for the receiver."""
_ANSWER_READ_LIMIT = 64 * 1024
"""Bytes of a receiver's answer read (so its connection can be reused), no more."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """What the sender needs: each field is the setting `webhook_<field>` (server/config.py says what it does
    and holds its default); `from_settings` builds it."""

    url: str | None
    secret: bytes | None = field(repr=False)
    timeout_s: float
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    max_pending: int
    concurrency: int
    allow_private_callbacks: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        secret = settings.webhook_secret
        return cls(
            url=settings.webhook_url,
            secret=secret.get_secret_value().encode() if secret else None,
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            backoff_initial_s=settings.webhook_backoff_initial_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            max_pending=settings.webhook_max_pending,
            concurrency=settings.webhook_concurrency,
            allow_private_callbacks=settings.webhook_allow_private_callbacks,
        )


@dataclass(frozen=True, slots=True)
class _Delivery:
    url: httpx.URL
    body: bytes = field(repr=False)
    event_id: str
    check_addresses: bool
    """POST only to the public addresses the host resolves to (a client's URL)."""
    submitted: float
    """time.monotonic()"""
    host: str
    on_done: Callable[[bool], None] | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    """How one attempt ended: delivered (reason None), failed for good (final), or worth a retry."""

    reason: str | None
    final: bool = True
    retry_after_s: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date: the usual backoff
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _version() -> str:
    try:
        return metadata.version("streamscribe")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class _HostSlots:
    slots: asyncio.Semaphore
    users: int = 0


class WebhookSender:
    """Delivers webhooks in the background; one per gateway.

    The caller's duties: `start()` inside the running event loop before submitting, `submit` from that loop's
    thread only, and `await close(...)` once at shutdown (after the last submit). `metrics` receives the
    streamscribe_webhook_* counters. Proxies, certificates and credentials from the environment (.netrc) are not
    used: a callback URL is chosen by a client."""

    def __init__(self, config: WebhookConfig, metrics: Metrics) -> None:
        self.config = config
        self._metrics = metrics
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._per_host_limit = max(1, config.concurrency // 2)
        self._hosts: dict[str, _HostSlots] = {}
        self._user_agent = f"streamscribe/{_version()}"
        self._drops_unlogged = 0
        self._drop_logged_at = -math.inf

    def start(self) -> None:
        limits = httpx.Limits(
            max_connections=self.config.concurrency, max_keepalive_connections=self.config.concurrency
        )
        timeout = httpx.Timeout(self.config.timeout_s)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False)

    async def close(self, drain_timeout_s: float) -> None:
        """Refuse new deliveries, let the pending ones finish for up to `drain_timeout_s`, then give up on the
        rest (each counted as failed and logged) and close the connections."""
        self._closing = True
        if self._tasks:
            _, unfinished = await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(
        self,
        url: str | None,
        payload: Mapping[str, Any],
        *,
        event_id: str | None = None,
        on_done: Callable[[bool], None] | None = None,
    ) -> bool:
        """Queue `payload` as JSON (encoded now) for `url` (None: the operator's `config.url`; any other URL is a
        client's, checked); never blocks, never raises. `event_id` goes out as X-Streamscribe-Event-Id on every
        attempt (default: random); give a stable one where the same event could be submitted twice.
        `on_done(delivered)` is called in the loop once a queued delivery ends (False: it failed for good), not
        when the sender closes before that.

        False: nothing will be sent: no URL at all (not counted), too many pending or the sender not running
        (dropped), a refused URL, event id or payload (failed); each counted one is logged."""
        target = self.config.url if url is None else url
        if target is None:
            return False
        try:
            return self._queue(target, payload, event_id, on_done)
        except Exception as error:  # the audio path must not fail for a webhook
            self._failed(_host_of(target), event_id or "-", f"not queued: {error!r}")
            return False

    def _queue(
        self, url: str, payload: Mapping[str, Any], event_id: str | None, on_done: Callable[[bool], None] | None
    ) -> bool:
        host = _host_of(url)
        if self._client is None or self._closing:
            return self._drop(host, event_id, "the sender is not running")
        if len(self._tasks) >= self.config.max_pending:
            return self._drop(host, event_id, f"{len(self._tasks)} deliveries already pending")
        event_id = uuid.uuid4().hex if event_id is None else event_id
        if not _EVENT_ID.fullmatch(event_id):
            return self._failed(host, event_id[:200], "event id must be 1-200 printable ASCII characters")
        trusted = url == self.config.url
        if not trusted:
            try:
                check_callback_url(url, allow_private=self.config.allow_private_callbacks)
            except ValueError as error:
                return self._failed(host, event_id, f"refused callback URL: {error}")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        check = not trusted and not self.config.allow_private_callbacks
        delivery = _Delivery(httpx.URL(url), body, event_id, check, time.monotonic(), host, on_done)
        task = asyncio.get_running_loop().create_task(self._run(delivery), name=f"webhook-{event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        self._metrics.webhook_pending.set(len(self._tasks))
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._metrics.webhook_pending.set(len(self._tasks))

    def _drop(self, host: str, event_id: str | None, reason: str) -> bool:
        """Count a dropped delivery; log it at most once a second (drops come in floods), with how many were."""
        self._metrics.webhook_deliveries.labels("dropped").inc()
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drop_logged_at >= 1.0:
            text = "webhook to %s dropped (event %s): %s; %d dropped since the last such warning"
            log.warning(text, host, event_id or "-", reason, self._drops_unlogged)
            self._drop_logged_at, self._drops_unlogged = now, 0
        return False

    def _failed(self, host: str, event_id: str, reason: str) -> bool:
        self._metrics.webhook_deliveries.labels("failed").inc()
        log.warning("webhook to %s failed (event %s): %s", host, event_id, reason)
        return False

    async def _run(self, delivery: _Delivery) -> None:
        try:
            reason = await self._deliver(delivery)
        except asyncio.CancelledError:
            self._failed(delivery.host, delivery.event_id, "given up: the sender closed")
            raise
        except Exception as error:  # a bug here must still count, and not kill the loop's other work
            log.exception("webhook to %s (event %s) raised", delivery.host, delivery.event_id)
            reason = f"unexpected error: {error!r}"
        if reason is None:
            self._metrics.webhook_deliveries.labels("delivered").inc()
            self._metrics.webhook_delivery_seconds.observe(time.monotonic() - delivery.submitted)
        else:
            self._failed(delivery.host, delivery.event_id, reason)
        if delivery.on_done is not None:
            try:
                delivery.on_done(reason is None)
            except Exception:
                log.exception("webhook %s: on_done raised", delivery.event_id)

    async def _deliver(self, delivery: _Delivery) -> str | None:
        """Attempts until one is final or none are left: None when delivered, else why not."""
        config = self.config
        for attempt in range(1, config.max_attempts + 1):
            async with self._slot(delivery.host):
                answer = await self._attempt(delivery)
            if answer.final:
                return answer.reason
            if attempt < config.max_attempts:
                await asyncio.sleep(self._backoff(attempt, answer.retry_after_s))
        return f"{answer.reason} (after {config.max_attempts} attempts)"

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """The wait after failed attempt number `attempt` (from 1)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.config.backoff_max_s)
        ceiling = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2.0 ** min(attempt - 1, 60))
        return random.uniform(ceiling / 2, ceiling)

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """One of the host's slots, then one of all: waiting for a busy host holds no slot another could use."""
        slots = self._hosts.setdefault(host, _HostSlots(asyncio.Semaphore(self._per_host_limit)))
        slots.users += 1
        try:
            async with slots.slots, self._slots:
                yield
        finally:
            slots.users -= 1
            if not slots.users:
                del self._hosts[host]

    async def _attempt(self, delivery: _Delivery) -> _Answer:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                response = await self._post(delivery)
        except RefusedTarget as error:
            return _Answer(str(error))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return _Answer(f"{type(error).__name__}: {error}")
        except TimeoutError:
            return _Answer(f"no answer within {self.config.timeout_s:g} s", final=False)
        except socket.gaierror as error:
            return _Answer(f"cannot resolve the host: {error}", final=False)
        except (httpx.TransportError, OSError) as error:
            return _Answer(f"{type(error).__name__}: {error}".rstrip(": "), final=False)
        await self._discard_body(response)
        status = response.status_code
        if 200 <= status < 300:
            return _Answer(None)
        if status == 429 or status >= 500:
            return _Answer(f"HTTP {status}", final=False, retry_after_s=_retry_after(response))
        return _Answer(f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))

    async def _discard_body(self, response: httpx.Response) -> None:
        """Read a small answer's body so the connection can serve again (a large, slow or broken one closes it)."""
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(self.config.timeout_s):
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > _ANSWER_READ_LIMIT:
                        break
        await response.aclose()

    async def _post(self, delivery: _Delivery) -> httpx.Response:
        """One POST, its answer's status and headers read: to the URL as it is, or (a client's URL) to each public
        address its host resolves to in turn until one connects, with the URL's Host header and TLS server name;
        on a connection of its own (`Connection: close`), since the pool knows it by address, which other
        host names (a hosting platform's) may share."""
        url = delivery.url
        if not delivery.check_addresses:
            return await self._send(url, delivery, {}, {})
        host = url.raw_host.decode("ascii")
        addresses = await public_addresses(host, _port(url))
        headers = {"Host": url.netloc.decode("ascii"), "Connection": "close"}
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        for address in addresses[:-1]:
            with contextlib.suppress(httpx.ConnectError):
                return await self._send(url.copy_with(host=address), delivery, headers, extensions)
        return await self._send(url.copy_with(host=addresses[-1]), delivery, headers, extensions)

    async def _send(
        self, url: httpx.URL, delivery: _Delivery, headers: dict[str, str], extensions: dict[str, Any]
    ) -> httpx.Response:
        assert self._client is not None, "start() first"
        headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            EVENT_ID_HEADER: delivery.event_id,
        }
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = signature_header(self.config.secret, delivery.body)
        self._metrics.webhook_attempts.inc()
        request = self._client.build_request("POST", url, content=delivery.body, headers=headers, extensions=extensions)
        return await self._client.send(request, stream=True)


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _host_of(url: str) -> str:
    """Host and port, for logs and per-receiver limits: never the path or query (they may hold tokens)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid URL)"
    return f"{parsed.host}:{_port(parsed)}"
