"""serve's start: the port is checked before anything loads, and one line says where the page and the API are."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from starlette.applications import Starlette

from server.config import Settings
from server.http.serving import ListenError, check_can_listen, make_server, ready_message


def test_ready_message_names_the_page_and_the_api() -> None:
    assert ready_message("127.0.0.1", 8000) == (
        "streamscribe ready: live captions at http://127.0.0.1:8000/ , API at ws://127.0.0.1:8000/v1/listen"
    )
    assert "http://[::1]:9000/ " in ready_message("::1", 9000)


def test_ready_message_for_all_interfaces_gives_a_url_that_works() -> None:
    line = ready_message("0.0.0.0", 8000)
    assert "http://127.0.0.1:8000/ " in line and "ws://127.0.0.1:8000/v1/listen" in line
    assert "all interfaces" in line and "0.0.0.0:" not in line


def test_a_free_port_passes_and_a_busy_one_is_named() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        other.listen()
        with pytest.raises(ListenError, match=rf"^127\.0\.0\.1:{port} is already in use"):
            check_can_listen("127.0.0.1", port)
    check_can_listen("127.0.0.1", port)  # free again
    check_can_listen("127.0.0.1", 0)


class IdleGateway:
    async def drain(self, timeout_s: float) -> None:
        pass


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.arrived.set()


async def test_the_ready_line_is_logged_once_listening() -> None:
    app = Starlette()
    app.state.gateway = IdleGateway()
    server = make_server(app, Settings(port=0, log_level="warning"))
    logger = logging.getLogger("streamscribe.serving")
    lines = Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        running = asyncio.create_task(server.serve())
        await asyncio.wait_for(lines.arrived.wait(), 30)
        server.should_exit = True
        await asyncio.wait_for(running, 30)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(logging.NOTSET)
    assert server.started and len(lines.lines) == 1
    assert lines.lines[0].startswith("streamscribe ready: live captions at http://127.0.0.1:")
    assert ":0/" not in lines.lines[0]  # the port it got, not the 0 it asked for
