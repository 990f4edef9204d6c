"""A real-time stream client for the long benchmarks (bench/soak.py,
bench/fast_sender.py): the load-test fixture sent at real-time pace, each
turn's end-of-turn latency measured as loadtest/stream.js measures it."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets

from loadtest import fixtures
from testbed import audio
from testbed.server import listen_url

CHUNK_S = 0.1
CHUNK_BYTES = int(16000 * 2 * CHUNK_S)
FIXTURE_PATH = Path(".cache/soak/speech")
"""Not loadtest's own path: a load test may be reading that one while this writes."""


@dataclass(frozen=True)
class Fixture:
    chunks: list[bytes]
    ends: list[float]
    """Stream time at which each utterance's speech ends."""
    reference: str
    duration: float


def load_fixture(path: Path = FIXTURE_PATH) -> Fixture:
    made = fixtures.make(path)
    manifest = json.loads(made.with_suffix(".json").read_text())
    pcm = made.with_suffix(".raw").read_bytes()
    chunks = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
    ends = [float(u["speech_end"]) for u in manifest["utterances"]]
    return Fixture(chunks, ends, manifest["reference"], float(manifest["duration"]))


@dataclass
class Window:
    """What the streams reported since the last sample."""

    end_of_turn_ms: list[float] = field(default_factory=list)
    streams_done: int = 0
    stream_errors: int = 0
    missed_turns: int = 0
    wers: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.stream_errors += 1
        if len(self.errors) < 5:
            self.errors.append(what[:200])


@dataclass
class Collector:
    window: Window = field(default_factory=Window)

    def take(self) -> Window:
        taken, self.window = self.window, Window()
        return taken


def stream_url(base: str, interims: bool) -> str:
    """The query loadtest/stream.js sends."""
    params = {"encoding": "linear16", "sample_rate": 16000, "interim_results": interims, "vad_events": True}
    return listen_url(base, **params, utterance_end_ms=1000)


def turns_answered(pending: list[float], start: float, end: float) -> tuple[list[float], int]:
    """loadtest/stream.js's rule for a speech_final covering [start, end]: the pending turns whose
    speech ends inside it are removed from `pending`; those that end before its start count as missed."""
    answered: list[float] = []
    missed = 0
    while pending and pending[0] <= end + 0.05:
        turn_end = pending.pop(0)
        if turn_end >= start - 0.1:
            answered.append(turn_end)
        else:
            missed += 1
    return answered, missed


def sent_at(send_times: list[float], stream_s: float) -> float:
    index = min(int(stream_s / CHUNK_S), len(send_times) - 1)
    return send_times[max(0, index)]


async def send_paced(ws: websockets.ClientConnection, chunks: list[bytes], send_times: list[float]) -> None:
    started = time.monotonic()
    try:
        for index, chunk in enumerate(chunks):
            send_times.append(time.monotonic())
            await ws.send(chunk)
            await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))
        await ws.send(json.dumps({"type": "CloseStream"}))
    except websockets.ConnectionClosed:
        pass


async def play(url: str, chunks: list[bytes], fixture: Fixture, collector: Collector) -> None:
    """One stream of `chunks` at real-time pace; what it measured goes to the collector's current window."""
    send_times: list[float] = []
    pending = [end for end in fixture.ends if end < len(chunks) * CHUNK_S]
    texts: list[str] = []
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        sender = asyncio.create_task(send_paced(ws, chunks, send_times))
        try:
            async for raw in ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("type") != "Results" or not message.get("is_final"):
                    continue
                texts.append(message["channel"]["alternatives"][0]["transcript"])
                if message.get("speech_final") and send_times:
                    start = float(message["start"])
                    answered, missed = turns_answered(pending, start, start + float(message["duration"]))
                    collector.window.end_of_turn_ms += [1000 * (now - sent_at(send_times, t)) for t in answered]
                    collector.window.missed_turns += missed
        except websockets.ConnectionClosedError:
            pass
        finally:
            sender.cancel()
    window = collector.window
    window.missed_turns += len(pending)
    window.streams_done += 1
    if ws.close_code != 1000:
        window.error(f"closed {ws.close_code}: {ws.close_reason}")
    if len(chunks) == len(fixture.chunks):
        window.wers.append(audio.wer(fixture.reference, " ".join(t for t in texts if t)))


async def keep_streaming(url: str, fixture: Fixture, collector: Collector, delay_s: float) -> None:
    """Play the fixture again and again until cancelled."""
    await asyncio.sleep(delay_s)
    while True:
        try:
            async with asyncio.timeout(fixture.duration + 120):
                await play(url, fixture.chunks, fixture, collector)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
            collector.window.error(repr(error))
            await asyncio.sleep(1.0)


# ------------------------------------------------------------------ sampling


def percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q))) if values else None


def window_figures(window: Window) -> dict[str, Any]:
    eot, wers = window.end_of_turn_ms, window.wers
    figures = {"turns": len(eot), "end_of_turn_p50_ms": percentile(eot, 50), "end_of_turn_p95_ms": percentile(eot, 95)}
    figures |= {k: getattr(window, k) for k in ("streams_done", "stream_errors", "missed_turns", "errors")}
    return figures | {"wer_median": round(statistics.median(wers), 4) if wers else None}


# ------------------------------------------------------------------ summary
