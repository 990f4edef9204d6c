"""Requests too big to be honest, answered before any endpoint runs.

The request line and headers go through two parsers: uvicorn's h11 and, for a
WebSocket upgrade, the `websockets` library's handshake parser, whose limit is
8 KiB a line. h11 refuses a head that stays incomplete past 16 KiB, but takes
a complete one of any size that arrives in one read; such a request passed
h11 and then made the handshake parser fail without an answer, holding the
connection open. So the handshake parser's limit is raised past anything h11
lets through (`raise_handshake_line_limit`), and a query string past
MAX_QUERY_BYTES, far beyond any real one, gets a 414 from
`QueryLimitMiddleware`, for plain HTTP and WebSocket handshakes alike.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_QUERY_BYTES = 4096
HANDSHAKE_LINE_BYTES = 1 << 20
"""More than one read of the socket can bring (asyncio reads at most 256 KiB at a time)."""


def raise_handshake_line_limit() -> None:
    """Let h11, which answers, be the parser that refuses an oversized request head."""
    import websockets.http11

    websockets.http11.MAX_LINE_LENGTH = max(websockets.http11.MAX_LINE_LENGTH, HANDSHAKE_LINE_BYTES)


class QueryLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or len(scope.get("query_string", b"")) <= MAX_QUERY_BYTES:
            await self.app(scope, receive, send)
            return
        size = len(scope["query_string"])
        body = json.dumps(
            {"err_code": "URI_TOO_LONG", "err_msg": f"the query string has {size} bytes; at most {MAX_QUERY_BYTES}"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        prefix = "websocket.http." if scope["type"] == "websocket" else "http."
        await send({"type": prefix + "response.start", "status": 414, "headers": headers})
        await send({"type": prefix + "response.body", "body": body})
