"""`streamscribe stream FILE`: a small live client for /v1/listen.

Decodes any audio file to 16 kHz PCM, streams it (at real-time pace with
--realtime), prints interim lines (overwritten in place on a terminal) and
final lines, then closes the stream and prints the summary. Anything that
ends the stream early (no server, a refused key, a close code other than
1000) is a StreamError whose message says what happened, in words.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from server.uploads.oneshot import open_audio
from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.protocol import CloseCode

CHUNK_S = 0.1


class StreamError(Exception):
    """The stream could not start or ended early; the message is one line for a person."""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    url: str
    realtime: bool = False
    interim: bool = True
    language: str | None = None
    api_key: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


def listen_url(options: StreamOptions) -> str:
    base = options.url.rstrip("/")
    if "://" not in base:  # `localhost:8000`, as people type it
        base = "ws://" + base
    elif base.startswith("http"):
        base = "ws" + base[4:]
    if not base.endswith("/v1/listen"):
        base += "/v1/listen"
    query: list[tuple[str, str]] = [
        ("encoding", "linear16"),
        ("sample_rate", str(SAMPLE_RATE)),
        ("interim_results", "true" if options.interim else "false"),
        ("vad_events", "true"),
        ("utterance_end_ms", "1000"),
    ]
    if options.language:
        query.append(("language", options.language))
    query.extend(options.extra)
    return f"{base}?{urlencode(query)}"


# What each close code means coming from streamscribe (README "Close codes").
_CLOSE_MEANINGS = {
    CloseCode.GOING_AWAY: "the server went away",
    CloseCode.INVALID_DATA: "the server rejected a message",
    CloseCode.POLICY_VIOLATION: "the server refused the stream",
    CloseCode.MESSAGE_TOO_BIG: "an audio frame was too big for the server",
    CloseCode.INTERNAL_ERROR: "the server ended the stream on an error or a timeout",
    CloseCode.SERVICE_RESTART: "the server is restarting or shutting down; stream the file again once it is back",
    CloseCode.TRY_AGAIN_LATER: "the server is overloaded; try again later",
}


def describe_close(code: int, reason: str) -> str:
    """One line for a close other than 1000: what happened, then the server's own reason."""
    if code == 1006:
        meaning = "the connection dropped without a close frame (network trouble, or the server died)"
    elif code in _CLOSE_MEANINGS:
        meaning = _CLOSE_MEANINGS[CloseCode(code)]
    elif 4000 <= code <= 4999:
        meaning = "the server ended the stream (application code)"
    else:
        meaning = "the server closed the stream"
    return f"{meaning} (close code {code}" + (f": {reason})" if reason else ")")


def describe_connect_failure(url: str, error: Exception) -> str:
    """One line for a connection that did not become a WebSocket."""
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        if status == 401:
            return f"{url} refused the API key (HTTP 401); pass the right one with --api-key"
        return f"{url} answered HTTP {status} instead of a WebSocket: is it a streamscribe server?"
    if isinstance(error, InvalidURI):
        return f"{url} is not a WebSocket URL (want ws://HOST:PORT or http://HOST:PORT)"
    # asyncio wraps refusals on several addresses (localhost: ::1 and 127.0.0.1) as "Multiple exceptions".
    if isinstance(error, ConnectionRefusedError) or f"[Errno {errno.ECONNREFUSED}]" in str(error):
        return f"no server at {url} (connection refused): is `streamscribe serve` running there?"
    if isinstance(error, TimeoutError):
        return f"no answer from {url} (timed out opening the WebSocket)"
    if isinstance(error, InvalidHandshake):
        return f"{url} did not complete the WebSocket handshake ({error})"
    return f"cannot reach {url}: {getattr(error, 'strerror', None) or error}"


class Printer:
    """Finals on their own lines; on a terminal the interim line is rewritten in place."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._interim_shown = False

    def interim(self, start: float, text: str) -> None:
        if self.tty:
            self.out.write(f"\r\x1b[2K\x1b[2m[{start:7.2f}] {text}\x1b[0m")
            self._interim_shown = True
        else:
            self.out.write(f"~ [{start:7.2f}] {text}\n")
        self.out.flush()

    def end_interim(self) -> None:
        """Clear an interim line left on a terminal, so that what follows starts on a clean line."""
        if self._interim_shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._interim_shown = False

    def line(self, text: str) -> None:
        self.end_interim()
        self.out.write(text + "\n")
        self.out.flush()


def read_audio(path: Path) -> Int16Array:
    """The whole file as 16 kHz mono; FileProblem or MediaError (with words) for a bad file."""
    blocks = []
    with open_audio(path) as prepared:
        while len(block := prepared.decoder.read()):
            blocks.append(block.reshape(-1))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


async def _send(socket: ClientConnection, audio: Int16Array, realtime: bool) -> None:
    chunk = int(SAMPLE_RATE * CHUNK_S)
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(audio), chunk)):
        await socket.send(audio[offset : offset + chunk].tobytes())
        if realtime:
            await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))
    await socket.send(json.dumps({"type": "CloseStream"}))


async def _receive(socket: ClientConnection, printer: Printer) -> dict[str, Any]:
    """Print results until the server closes; returns the Metadata message (empty if none came)."""
    metadata: dict[str, Any] = {}
    with contextlib.suppress(ConnectionClosed):  # how it closed is read from the socket afterwards
        async for raw in socket:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "Results":
                text = message["channel"]["alternatives"][0]["transcript"]
                if not message["is_final"]:
                    printer.interim(message["start"], text)
                elif text:
                    end = message["start"] + message["duration"]
                    marker = "." if message.get("speech_final") else " "
                    printer.line(f"{marker}[{message['start']:7.2f} - {end:7.2f}] {text}")
            elif kind == "Error":
                printer.line(f"! {message.get('description')}")
            elif kind == "Metadata":
                metadata = message
    return metadata


async def stream_file(path: Path, options: StreamOptions, out: TextIO | None = None) -> dict[str, Any]:
    """Prints to `out` (sys.stdout as it is at the call). Raises FileProblem or MediaError for a bad
    file (before connecting), StreamError for the rest."""
    audio = read_audio(path)
    printer = Printer(out or sys.stdout)
    headers = {"Authorization": f"Token {options.api_key}"} if options.api_key else None
    try:
        socket = await websockets.connect(listen_url(options), additional_headers=headers, max_size=None)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
        raise StreamError(describe_connect_failure(options.url, error)) from error
    async with socket:
        sender = asyncio.create_task(_send(socket, audio, options.realtime))
        try:
            metadata = await _receive(socket, printer)
        finally:
            # A server that closes early leaves the sender failing on a closed socket: that is not news.
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
    code = socket.close_code if socket.close_code is not None else 1006
    if code != CloseCode.NORMAL:
        printer.end_interim()
        raise StreamError(describe_close(code, socket.close_reason or ""))
    printer.line(f"-- {metadata.get('duration', 0):.1f} s of audio, request {metadata.get('request_id', '?')}")
    return metadata
