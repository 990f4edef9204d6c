"""The same speech through every live protocol, same server, same run: end-of-turn latency and WER.

    .venv/bin/python -m bench.protocols [--runs 3] [--out artifacts/bench/protocols]

Starts the server in embedded mode as the load tests do (two one-thread workers, no archive),
measures the yardstick (bench/yardstick.py) and then streams the load-test fixture (five LibriVox
utterances with 1.5 s pauses, 32.7 s; loadtest/fixtures.py) at real-time pace in 100 ms frames,
`--runs` times through each protocol, one stream at a time:

- `/v1/listen` (Deepgram): a turn ends with the `speech_final` covering the utterance's end;
- `/v2/listen` (Deepgram Flux, `eager_eot_threshold=0.5`): `EndOfTurn` (and the `EagerEndOfTurn`
  before it) whose audio window covers it;
- `/v1/realtime?intent=transcription` (OpenAI Realtime, GA `session.update`, server VAD with
  400 ms of silence, 24 kHz PCM): `conversation.item.input_audio_transcription.completed` of the
  item whose speech_started..speech_stopped range covers it.

End of turn is measured from sending the frame that ends an utterance's speech to that message's
arrival (p50/p95, ms and yardstick calls); WER of the final transcripts against the fixture's text.
Results: OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets

from bench import realtime, yardstick
from bench.live_latency import percentile
from testbed import audio
from testbed.server import ServerProcess, listen_url

PROTOCOLS = ("listen", "flux", "realtime")


@dataclass
class Turn:
    """A message that ends a turn: when it came, the stream range it covers, its text."""

    arrived: float
    start_s: float
    end_s: float
    text: str
    eager: bool = False


@dataclass
class Figures:
    end_of_turn_ms: list[float] = field(default_factory=list)
    eager_ms: list[float] = field(default_factory=list)
    missed: int = 0
    wers: list[float] = field(default_factory=list)


def latencies(turns: list[Turn], ends: list[float], send_times: list[float]) -> tuple[list[float], int]:
    """Per utterance end: the first turn covering it, minus when its frame was sent."""
    found, missed = [], 0
    for end in ends:
        covering = [t.arrived for t in turns if t.start_s - 0.1 <= end <= t.end_s + 0.15]
        if covering:
            found.append(1000 * (min(covering) - realtime.sent_at(send_times, end)))
        else:
            missed += 1
    return found, missed


async def send_frames(ws: Any, frames: list[str | bytes], send_times: list[float], end: str | None) -> None:
    started = time.monotonic()
    for index, frame in enumerate(frames):
        send_times.append(time.monotonic())
        await ws.send(frame)
        await asyncio.sleep(max(0.0, started + (index + 1) * realtime.CHUNK_S - time.monotonic()))
    if end is not None:
        await ws.send(end)


async def run_listen(base: str, fixture: realtime.Fixture) -> tuple[list[Turn], list[float]]:
    url = listen_url(base, encoding="linear16", sample_rate=16000)
    turns: list[Turn] = []
    send_times: list[float] = []
    async with websockets.connect(url, max_size=None) as ws:
        sender = asyncio.create_task(send_frames(ws, list(fixture.chunks), send_times, '{"type": "CloseStream"}'))
        async for raw in ws:
            m = json.loads(raw)
            if m.get("type") == "Results" and m["is_final"]:
                text = m["channel"]["alternatives"][0]["transcript"]
                end = m["start"] + m["duration"]
                turns.append(Turn(time.monotonic(), m["start"], end if m["speech_final"] else -1.0, text))
        await sender
    return turns, send_times


async def run_flux(base: str, fixture: realtime.Fixture) -> tuple[list[Turn], list[float]]:
    url = f"{base}/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5"
    turns: list[Turn] = []
    send_times: list[float] = []
    async with websockets.connect(url, max_size=None) as ws:
        sender = asyncio.create_task(send_frames(ws, list(fixture.chunks), send_times, '{"type": "CloseStream"}'))
        async for raw in ws:
            m = json.loads(raw)
            if m.get("type") == "TurnInfo" and m["event"] in ("EndOfTurn", "EagerEndOfTurn"):
                eager = m["event"] == "EagerEndOfTurn"
                start, end = m["audio_window_start"], m["audio_window_end"]
                turns.append(Turn(time.monotonic(), start, end, m["transcript"], eager))
        await sender
    return turns, send_times


async def run_realtime(base: str, fixture: realtime.Fixture) -> tuple[list[Turn], list[float]]:
    pcm16k = np.frombuffer(b"".join(fixture.chunks), dtype="<i2")
    pcm24k = audio.to_linear16(audio.resample(pcm16k, 16000, 24000))
    step = int(24000 * 2 * realtime.CHUNK_S)
    frames: list[str | bytes] = [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm24k[i : i + step]).decode()})
        for i in range(0, len(pcm24k), step)
    ]
    session = {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": {"model": "whisper-1", "language": "en"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}}  # fmt: skip
    windows: dict[str, list[float]] = {}
    turns: list[Turn] = []
    send_times: list[float] = []
    expected = len(fixture.ends)
    async with websockets.connect(
        f"{base}/v1/realtime?intent=transcription", max_size=None, additional_headers={"Authorization": "Bearer x"}
    ) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        commit = json.dumps({"type": "input_audio_buffer.commit"})  # the last turn, if its pause was short
        sender = asyncio.create_task(send_frames(ws, frames, send_times, commit))
        try:
            async with asyncio.timeout(fixture.duration + 8):
                async for raw in ws:
                    m = json.loads(raw)
                    kind = m.get("type")
                    if kind == "input_audio_buffer.speech_started":
                        windows[m["item_id"]] = [m["audio_start_ms"] / 1000, -1.0]
                    elif kind == "input_audio_buffer.speech_stopped":
                        windows.setdefault(m["item_id"], [0.0, 0.0])[1] = m["audio_end_ms"] / 1000
                    elif kind == "conversation.item.input_audio_transcription.completed":
                        start, end = windows.get(m["item_id"], [0.0, -1.0])
                        turns.append(Turn(time.monotonic(), start, end, m["transcript"]))
                        if sender.done() and len(turns) >= expected:
                            break
        except (TimeoutError, websockets.ConnectionClosed):
            pass
        await sender
    return turns, send_times


RUNNERS: dict[str, Callable[[str, realtime.Fixture], Any]] = {
    "listen": run_listen,
    "flux": run_flux,
    "realtime": run_realtime,
}


async def measure(runs: int, root: Path) -> dict[str, Any]:
    fixture = realtime.load_fixture()
    stick = yardstick.measure()
    env = {"STREAMSCRIBE_ARCHIVE": "false", "STREAMSCRIBE_WORKERS": "2",
           "STREAMSCRIBE_CPU_THREADS": str(yardstick.WORKER_THREADS)}  # fmt: skip
    server = ServerProcess(archive_dir=root / "archive", env=env).start()
    figures = {name: Figures() for name in PROTOCOLS}
    try:
        await run_listen(server.ws_url, fixture)  # warm-up, not counted
        for _ in range(runs):
            for name in PROTOCOLS:
                turns, send_times = await RUNNERS[name](server.ws_url, fixture)
                final = [t for t in turns if not t.eager]
                found, missed = latencies([t for t in final if t.end_s >= 0], fixture.ends, send_times)
                figures[name].end_of_turn_ms += found
                figures[name].missed += missed
                figures[name].eager_ms += latencies([t for t in turns if t.eager], fixture.ends, send_times)[0]
                figures[name].wers.append(audio.wer(fixture.reference, " ".join(t.text for t in final if t.text)))
    finally:
        server.stop()
    call_ms = stick.call_s * 1000
    return {
        "yardstick": stick.as_dict(),
        "runs": runs,
        "protocols": {name: summary(f, call_ms) for name, f in figures.items()},
    }


def summary(figures: Figures, call_ms: float) -> dict[str, Any]:
    eot = figures.end_of_turn_ms
    return {
        "turns": len(eot),
        "missed": figures.missed,
        "end_of_turn_p50_ms": round(percentile(eot, 50)),
        "end_of_turn_p95_ms": round(percentile(eot, 95)),
        "end_of_turn_p50_calls": round(percentile(eot, 50) / call_ms, 2),
        "end_of_turn_p95_calls": round(percentile(eot, 95) / call_ms, 2),
        "eager_p50_ms": round(percentile(figures.eager_ms, 50)) if figures.eager_ms else None,
        "wer_median": round(statistics.median(figures.wers), 4),
    }


def markdown(results: dict[str, Any]) -> str:
    stick = results["yardstick"]
    lines = [
        f"Yardstick: {stick['call_s'] * 1000:.0f} ms per call ({stick['model']}, {stick['device']}); "
        f"{results['runs']} runs of the fixture per protocol.",
        "",
        "| protocol | turns | missed | end of turn p50 / p95 ms | in yardstick calls | eager p50 ms | WER |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in results["protocols"].items():
        eager = "-" if row["eager_p50_ms"] is None else str(row["eager_p50_ms"])
        lines.append(
            f"| {name} | {row['turns']} | {row['missed']} | {row['end_of_turn_p50_ms']} / {row['end_of_turn_p95_ms']} "
            f"| {row['end_of_turn_p50_calls']} / {row['end_of_turn_p95_calls']} | {eager} | {row['wer_median']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/protocols"))
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root:
        results = asyncio.run(measure(options.runs, Path(root)))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    options.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
