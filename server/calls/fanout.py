"""Where a live session's messages go besides its own socket: the call hub
(live subscribers) and webhooks (finals and the closing Metadata)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from server.calls.hub import CallHub
from server.webhooks import WebhookSender

log = logging.getLogger("streamscribe.calls")


class Fanout:
    """One session's outlets. The shell calls `open` before the first message,
    `publish` for every message it sends (saying whether it is a final),
    `finish` with the Metadata, and `close` in every case at the end.

    `call_ids`: the ids subscribers may use (a session's request_id; a
    Twilio call's callSid too); `webhook_urls`: where finals are POSTed;
    `webhook_fields`: added to each webhook body (request_id, callSid...)."""

    def __init__(
        self,
        hub: CallHub,
        session_id: str,
        tenant: str | None,
        *,
        call_ids: Sequence[str],
        webhooks: WebhookSender | None,
        webhook_urls: Sequence[str],
        webhook_fields: Mapping[str, Any],
    ) -> None:
        self._hub = hub
        self._session_id = session_id
        self._tenant = tenant
        self._call_ids = tuple(dict.fromkeys(call_ids))
        self._webhooks = webhooks if webhook_urls else None
        self._urls = tuple(dict.fromkeys(webhook_urls))
        self._fields = dict(webhook_fields)
        self._sequence = 0
        self._opened = False

    async def open(self) -> None:
        for call_id in self._call_ids:
            await self._hub.open(call_id, self._session_id, self._tenant)
        self._opened = True

    def publish(self, message: dict[str, Any], *, final: bool) -> None:
        for call_id in self._call_ids:
            self._hub.publish(call_id, message)
        if final:
            self._post(message)

    def finish(self, metadata: dict[str, Any]) -> None:
        """The session's last message: to subscribers, and to webhooks so receivers know the transcript is complete."""
        self.publish(metadata, final=True)

    async def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        for call_id in self._call_ids:
            await self._hub.close(call_id, self._session_id)

    def _post(self, message: dict[str, Any]) -> None:
        if self._webhooks is None:
            return
        self._sequence += 1
        body = {**message, **self._fields, "sequence": self._sequence}
        for index, url in enumerate(self._urls):
            event_id = f"{self._session_id}.{self._sequence}.{index}"
            if not self._webhooks.submit(url, body, event_id=event_id):
                log.warning("session %s: webhook %d not queued (too many pending deliveries)", self._session_id, index)
