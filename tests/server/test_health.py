"""Container health: the worker's ready file and the gateway's HTTP check."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server.runtime.health import gateway_problem, keep_ready_file, worker_problem


async def test_the_ready_file_lives_while_the_worker_runs(tmp_path: Path) -> None:
    path = tmp_path / "run" / "worker.ready"
    keeper = asyncio.create_task(keep_ready_file(path, touch_every_s=0.01))
    await asyncio.sleep(0)  # the task writes the file before its first await
    assert worker_problem(path) is None
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)
    assert not path.exists()
    assert "does not exist" in (worker_problem(path) or "")


def test_a_stale_or_unset_ready_file_is_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "worker.ready"
    path.write_text("1\n")
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    assert "stale" in (worker_problem(path) or "")
    assert "STREAMSCRIBE_READY_FILE" in (worker_problem(None) or "")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        healthy = self.path == "/healthz"
        self.send_response(200 if healthy else 503)
        self.end_headers()
        self.wfile.write(b"ok" if healthy else b"no warm worker")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_gateway_check_reads_healthz_or_readyz(health_server: int) -> None:
    assert gateway_problem("0.0.0.0", health_server) is None
    assert gateway_problem("0.0.0.0", health_server, ready=True) == (
        f"http://127.0.0.1:{health_server}/readyz answered 503: no warm worker"
    )


def test_gateway_check_names_a_port_nobody_answers() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "did not answer" in (gateway_problem("127.0.0.1", port) or "")
