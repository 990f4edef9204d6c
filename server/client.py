"""`streamscribe stream FILE`: a small live client for /v1/listen.

Decodes any audio file to 16 kHz PCM, streams it (at real-time pace with
--realtime), prints interim lines (overwritten in place on a terminal) and
final lines, then closes the stream and prints the summary.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import websockets

from server.media import read_pcm16

CHUNK_S = 0.1


@dataclass(frozen=True, slots=True)
class StreamOptions:
    url: str = "ws://127.0.0.1:8000"
    realtime: bool = False
    interim: bool = True
    language: str | None = None
    api_key: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


def listen_url(options: StreamOptions) -> str:
    base = options.url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    if not base.endswith("/v1/listen"):
        base += "/v1/listen"
    query: list[tuple[str, str]] = [
        ("encoding", "linear16"),
        ("sample_rate", "16000"),
        ("interim_results", "true" if options.interim else "false"),
        ("vad_events", "true"),
        ("utterance_end_ms", "1000"),
    ]
    if options.language:
        query.append(("language", options.language))
    query.extend(options.extra)
    return f"{base}?{urlencode(query)}"


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

    def line(self, text: str) -> None:
        if self._interim_shown:
            self.out.write("\r\x1b[2K")
            self._interim_shown = False
        self.out.write(text + "\n")
        self.out.flush()


async def stream_file(path: Path, options: StreamOptions, out: TextIO = sys.stdout) -> dict[str, Any]:
    audio = read_pcm16(path)
    chunk = int(16_000 * CHUNK_S)
    printer = Printer(out)
    headers = {"Authorization": f"Token {options.api_key}"} if options.api_key else None
    metadata: dict[str, Any] = {}
    async with websockets.connect(listen_url(options), additional_headers=headers, max_size=None) as socket:

        async def send() -> None:
            started = time.monotonic()
            for index, offset in enumerate(range(0, len(audio), chunk)):
                await socket.send(audio[offset : offset + chunk].tobytes())
                if options.realtime:
                    await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))
            await socket.send(json.dumps({"type": "CloseStream"}))

        sender = asyncio.create_task(send())
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
        await sender
        if socket.close_code not in (1000, None):
            printer.line(f"! closed {socket.close_code}: {socket.close_reason}")
    printer.line(f"-- {metadata.get('duration', 0):.1f} s of audio, request {metadata.get('request_id', '?')}")
    return metadata
