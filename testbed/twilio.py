"""A Twilio Media Streams simulator: sends a call to `/v1/twilio` as Twilio would.

Each track's audio goes out as 20 ms mu-law chunks at real-time pace (or
faster with `speed`), the tracks interleaved by call time, each chunk with
its `chunk` number and `timestamp` (ms from the start of the stream), after
`connected` and `start`. A track may start late (`start_ms`), lose chunks
(`gaps`: a timestamp range sent nothing), and the call may carry `dtmf`
digits and `mark`s at chosen times; `stop` ends it. Used by the tests and
benchmarks (bench/twilio_calls.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets

CHUNK_MS = 20
CHUNK_BYTES = 160  # 20 ms of 8 kHz mu-law


@dataclass(frozen=True)
class CallTrack:
    mulaw: bytes
    """8 kHz mu-law, one channel."""
    start_ms: int = 0
    gaps: Sequence[tuple[int, int]] = ()
    """Call-time ranges [from, to) in ms whose chunks are not sent (lost packets)."""


@dataclass
class TwilioCallScript:
    tracks: Mapping[str, CallTrack]
    """`inbound` and/or `outbound`."""
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    dtmf: Sequence[tuple[int, str]] = ()
    """(call time in ms, digit) of inbound keypad presses."""
    marks: Sequence[tuple[int, str]] = ()
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    stream_sid: str = field(default_factory=lambda: "MZ" + uuid.uuid4().hex)
    send_stop: bool = True

    def start_message(self) -> dict[str, object]:
        return {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": list(self.tracks),
                "customParameters": dict(self.custom_parameters),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": self.stream_sid,
        }

    def timeline(self) -> list[tuple[int, dict[str, object]]]:
        """Every message after `start`, with the call time (ms) it is sent at, in order."""
        events: list[tuple[int, int, dict[str, object]]] = []
        for name, track in self.tracks.items():
            for number, offset in enumerate(range(0, len(track.mulaw), CHUNK_BYTES), start=1):
                at = track.start_ms + offset // 8
                if any(low <= at < high for low, high in track.gaps):
                    continue
                payload = base64.b64encode(track.mulaw[offset : offset + CHUNK_BYTES]).decode()
                media = {"track": name, "chunk": str(number), "timestamp": str(at), "payload": payload}
                events.append((at, 0, {"event": "media", "media": media}))
        for at, digit in self.dtmf:
            events.append((at, 1, {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}}))
        for at, name in self.marks:
            events.append((at, 1, {"event": "mark", "mark": {"name": name}}))
        events.sort(key=lambda event: (event[0], event[1]))
        return [(at, {**message, "streamSid": self.stream_sid}) for at, _, message in events]

    @property
    def duration_ms(self) -> int:
        return max(track.start_ms + len(track.mulaw) // 8 for track in self.tracks.values())


@dataclass
class CallOutcome:
    close_code: int | None
    close_reason: str
    sent_messages: int
    seconds: float
    started_wall: float = 0.0
    """time.time() when call time 0 was sent: call time t went out at started_wall + t / speed."""


async def play_call(url: str, script: TwilioCallScript, *, speed: float = 1.0, timeout_s: float = 180.0) -> CallOutcome:
    """Send the call (at `speed` times real time), then `stop`; wait for the server to close."""
    sent = 0
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(script.start_message()))
        started, started_wall = time.monotonic(), time.time()
        sequence = 2
        try:
            for at, message in script.timeline():
                delay = started + at / 1000 / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(json.dumps({**message, "sequenceNumber": str(sequence)}))
                sequence += 1
                sent += 1
            if script.send_stop:
                stop = {"event": "stop", "sequenceNumber": str(sequence), "streamSid": script.stream_sid,
                        "stop": {"accountSid": "AC" + "0" * 32, "callSid": script.call_sid}}  # fmt: skip
                await ws.send(json.dumps(stop))
        except websockets.ConnectionClosed:
            pass
        try:
            await asyncio.wait_for(ws.wait_closed(), timeout_s)
        except TimeoutError:
            await ws.close()
    return CallOutcome(ws.close_code, ws.close_reason or "", sent, time.monotonic() - started, started_wall)


def twilio_url(base_ws: str, **query: str) -> str:
    from urllib.parse import urlencode

    return f"{base_ws}/v1/twilio" + (f"?{urlencode(query)}" if query else "")


@dataclass
class Followed:
    """What a subscriber of `/v1/calls/{id}/events` got: (time.time() of arrival, message), then the close."""

    timed: list[tuple[float, dict[str, Any]]]
    close_code: int | None
    close_reason: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [message for _, message in self.timed]

    def final_text(self, channel: int | None = None) -> str:
        texts = (
            m["channel"]["alternatives"][0]["transcript"]
            for m in self.messages
            if m.get("type") == "Results" and m["is_final"] and (channel is None or m["channel_index"][0] == channel)
        )
        return " ".join(text for text in texts if text)


async def follow_call(base_ws: str, call_id: str, *, wait_s: float = 15.0) -> Followed:
    """Subscribe as soon as the call is live (404 until then) and follow it until the server closes."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            async with websockets.connect(f"{base_ws}/v1/calls/{call_id}/events", open_timeout=30) as ws:
                timed = [(time.time(), json.loads(raw)) async for raw in ws]
                return Followed(timed, ws.close_code, ws.close_reason or "")
        except websockets.InvalidStatus as refused:
            if refused.response.status_code != 404 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
