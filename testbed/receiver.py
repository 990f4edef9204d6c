"""A real HTTP receiver for webhooks: records every POST (arrival time, headers, JSON body).

Runs `http.server.ThreadingHTTPServer` on a free loopback port in a thread;
answers 200, or for the first `fail_first` requests 503 (to see retries).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    received_at: float
    """time.time() when it arrived."""
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    else:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver.deliveries.append(Delivery(time.time(), self.path, headers, body))
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [delivery.json() for delivery in self.deliveries]

    def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> list[Any]:
        """Poll until `predicate(bodies)` holds; the bodies (the predicate's last view on timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            bodies = self.bodies()
            if predicate(bodies) or time.monotonic() > deadline:
                return bodies
            time.sleep(0.05)
