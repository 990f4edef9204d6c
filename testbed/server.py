"""Helpers for tests and benchmarks that drive a real server: start it as a
subprocess on a free port, stream audio to /v1/listen, collect what comes back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import websockets

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float) -> int | None:
    """SIGTERM, then SIGKILL after `timeout_s`; returns the exit code."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class ServerProcess:
    """`streamscribe serve` in a child process, stopped with SIGTERM."""

    archive_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    args: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    command: str = "serve"
    """serve or gateway"""
    ready_path: str = "/readyz"
    """What must answer 200 before start() returns (/healthz for a gateway without workers yet)."""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    cwd: Path = REPO_ROOT
    """Where `python -m server.cli` runs, so whose `server` package it imports (loadtest --baseline)."""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = {**os.environ, "STREAMSCRIBE_LOG_LEVEL": "warning", **self.env}
        self.archive_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = self.archive_dir.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "server.cli", self.command, "--port", str(self.port)]
        command += ["--archive-dir", str(self.archive_dir), *self.args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.http_url + self.ready_path, timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def stop(self, timeout_s: float = 15.0) -> int | None:
        return stop_process(self.process, timeout_s)


@dataclass
class Received:
    """Everything a stream got back, each message with its arrival time."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    send_times: list[float] = field(default_factory=list)
    """Wall time at which each chunk was sent (index = chunk number)."""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == kind]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.of_type("Results") if m["is_final"]]

    @property
    def interims(self) -> list[dict[str, Any]]:
        return [m for m in self.of_type("Results") if not m["is_final"]]

    def final_text(self, channel: int | None = None) -> str:
        return " ".join(
            m["channel"]["alternatives"][0]["transcript"]
            for m in self.finals
            if m["channel"]["alternatives"][0]["transcript"] and (channel is None or m["channel_index"][0] == channel)
        )

    def final_words(self) -> list[dict[str, Any]]:
        return [w for m in self.finals for w in m["channel"]["alternatives"][0]["words"]]


def listen_url(base: str, **params: Any) -> str:
    query = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in params.items()}
    return f"{base}/v1/listen?{urlencode(query)}"


async def stream(
    url: str,
    audio: bytes,
    *,
    chunk_bytes: int = 3200,
    pace_s: float | None = None,
    controls: dict[int, str] | None = None,
    close_stream: bool = True,
    headers: dict[str, str] | None = None,
    subprotocols: Sequence[str] | None = None,
    timeout_s: float = 120.0,
) -> Received:
    """Send `audio` in chunks (every `pace_s` seconds if given), then CloseStream;
    `controls` maps a chunk index to a text frame sent before that chunk."""
    received = Received()
    async with websockets.connect(
        url,
        additional_headers=headers,
        subprotocols=[websockets.Subprotocol(p) for p in subprotocols] if subprotocols else None,
        max_size=None,
    ) as ws:

        async def send() -> None:
            started = time.monotonic()
            chunks = [audio[i : i + chunk_bytes] for i in range(0, len(audio), chunk_bytes)]
            try:
                for index, data in enumerate(chunks):
                    if controls and index in controls:
                        await ws.send(controls[index])
                    received.send_times.append(time.monotonic())
                    await ws.send(data)
                    if pace_s is not None:
                        await asyncio.sleep(max(0.0, started + (index + 1) * pace_s - time.monotonic()))
                if controls and len(chunks) in controls:
                    await ws.send(controls[len(chunks)])
                if close_stream:
                    await ws.send(json.dumps({"type": "CloseStream"}))
            except websockets.ConnectionClosed:
                pass

        sender = asyncio.create_task(send())

        async def receive() -> None:
            try:
                async for raw in ws:
                    received.messages.append((time.monotonic(), json.loads(raw)))
            except websockets.ConnectionClosedError:
                pass  # a non-1000 close: the code and reason are checked by the caller

        try:
            await asyncio.wait_for(receive(), timeout_s)
        finally:
            sender.cancel()
        received.close_code = ws.close_code
        received.close_reason = ws.close_reason or ""
    return received


async def expect_close(url: str, first: bytes | str | None = None, timeout_s: float = 15.0) -> tuple[int, str]:
    """Open a socket, optionally send one frame, and return (close code, reason)."""
    async with websockets.connect(url, max_size=None) as ws:
        if first is not None:
            await ws.send(first)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout_s)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason
