"""First visible text, streamscribe beside WhisperLive, with one client and one set of metrics.

    .venv/bin/python -m bench.first_text --servers streamscribe,whisperlive --streams 1,8

Each server gets the five LibriVox clips of bench/live_latency.py with 1.5 s pauses, then 10 s of
silence (a live microphone goes on sending; WhisperLive drops what it has not sent when the stream
ends), sent at real-time pace in 100 ms frames by the same asyncio client, N streams at once; only
the wire format differs (bench/whisperlive_client.py). Ages and flow cover the stream until 1.5 s
after the last utterance. Every message is reduced to what a caption client shows, as whisper-live's
own client keeps it: the final pieces (streamscribe finals, WhisperLive completed segments) in
stream order, then the open one (the latest interim or open segment) unless a final piece ends past
its start. The shown text, normalized, is aligned with the reference words whose audio has started
(+0.5 s for the word-time approximation): its *frontier* is the length of the reference prefix it
matches at the least edit distance (the longest on ties), so a misheard or skipped word counts as
shown once text past it is. A word is *shown* from the first message whose frontier passes it (an
interim that is revised later counts).

- first text covering an utterance: wall time from sending its last voiced 20 ms frame
  (`bench.live_latency.speech_end`) to the first message that shows its last reference word;
- oldest unshown word: every 100 ms of stream time, the age of the oldest word whose audio was
  sent but is not shown (0 if none), averaged over the stream; word times spread each clip's voiced
  span over its reference words in proportion to their letters (no forced alignment);
- first text: stream start (first frame sent) to the first message that shows any text;
- text updates per minute (changes of the shown text) and the longest wait between two of them
  while audio is sent (the 1.5 s pauses included), per stream: does text keep flowing under load.

streamscribe runs at its defaults (testbed.server.ServerProcess, archive off), interim_results=true.
WhisperLive 0.10.0 runs from artifacts/whisperlive-venv (installed on first use) as its run_server.py
does: faster_whisper backend, our packaged tiny.en CTranslate2 directory as its custom model (int8 on
CPU, its own choice), one shared model, OMP_NUM_THREADS=1, its client's defaults (VAD on).
A short warm-up stream, not counted, precedes each server's measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import websockets

from bench import whisperlive_client as wl
from bench.first_text_metrics import (
    CHUNK_S,
    GAP_S,
    Piece,
    StreamLog,
    Update,
    Word,
    stream_figures,
    summarize,
)
from bench.live_latency import speech_end
from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess, listen_url

CHUNK_BYTES = int(audio.RATE * CHUNK_S) * 2
TAIL_S = 10.0
"""Silence after the last utterance before the stream is closed, as a live microphone goes on sending."""
DEFAULT_JSON = REPO_ROOT / "artifacts" / "bench" / "first-text.json"


def speech_start(clip: audio.Clip) -> float:
    """Seconds from the clip start to its first voiced 20 ms frame (speech_end of the reversed clip)."""
    reversed_clip = audio.Clip(clip.name, np.ascontiguousarray(clip.audio[::-1]), clip.text)
    return clip.duration - speech_end(reversed_clip)


def reference_words(clips: Sequence[audio.Clip], utterances: Sequence[audio.Utterance]) -> list[Word]:
    """Each clip's reference words spread over its voiced span in proportion to their letters."""
    words: list[Word] = []
    for n, (clip, utterance) in enumerate(zip(clips, utterances, strict=True)):
        begin, end = utterance.start + speech_start(clip), utterance.start + speech_end(clip)
        texts = audio.normalize_text(clip.text).split()
        edges = np.concatenate([[0], np.cumsum([len(t) for t in texts])]) / sum(len(t) for t in texts)
        times = begin + (end - begin) * edges
        words += [Word(t, float(a), float(b), n) for t, a, b in zip(texts, times[:-1], times[1:], strict=True)]
    return words


def parse_deepgram(t: float, message: dict[str, Any]) -> Update | None:
    """streamscribe (Deepgram): a final is a final piece, an interim replaces the open piece."""
    if message.get("type") != "Results":
        return None
    text = message["channel"]["alternatives"][0]["transcript"]
    piece = Piece(message["start"], message["start"] + message["duration"], text)
    return Update(t, (piece,), None, False) if message["is_final"] else Update(t, (), piece, True)


def parse_whisperlive(t: float, message: dict[str, Any]) -> Update | None:
    """Completed segments are final pieces, the open segment (if any) replaces the open piece."""
    found = wl.segments(message)
    if found is None:
        return None
    completed, open_one = found
    return Update(t, tuple(Piece(*s) for s in completed), Piece(*open_one) if open_one else None, bool(open_one))


@dataclass(frozen=True)
class Wire:
    """What differs between the servers on the socket; the client loop is the same."""

    url: str
    parse: Callable[[float, dict[str, Any]], Update | None] = parse_deepgram
    hello: str | None = None
    is_ready: Callable[[dict[str, Any]], bool] = lambda _: True
    encode: Callable[[bytes], bytes] = bytes
    closing: str | bytes = json.dumps({"type": "CloseStream"})


async def send_paced(ws: Any, wire: Wire, pcm: bytes, send_times: list[float]) -> None:
    started = time.monotonic()
    with contextlib.suppress(websockets.ConnectionClosed):
        for index, offset in enumerate(range(0, len(pcm), CHUNK_BYTES)):
            send_times.append(time.monotonic())
            await ws.send(wire.encode(pcm[offset : offset + CHUNK_BYTES]))
            await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))
        await ws.send(wire.closing)


async def run_stream(wire: Wire, pcm: bytes, delay_s: float = 0.0) -> StreamLog:
    """Connect, (hello, wait until ready), send `pcm` at real-time pace, collect until the server closes."""
    await asyncio.sleep(delay_s)
    log = StreamLog()
    connected = time.monotonic()
    async with websockets.connect(wire.url, max_size=None) as ws:
        if wire.hello is not None:
            await ws.send(wire.hello)
            while not wire.is_ready(json.loads(await asyncio.wait_for(ws.recv(), 120))):
                pass
        log.ready_s = time.monotonic() - connected
        sender = asyncio.create_task(send_paced(ws, wire, pcm, log.send_times))

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosedError):
                async for raw in ws:
                    update = wire.parse(time.monotonic(), json.loads(raw))
                    if update is not None:
                        log.updates.append(update)

        try:
            await asyncio.wait_for(receive(), len(pcm) / (2 * audio.RATE) + 60)
        finally:
            sender.cancel()
    return log


async def run_streams(make_wire: Callable[[], Wire], pcm: bytes, n: int, stagger_s: float) -> list[StreamLog]:
    return list(await asyncio.gather(*(run_stream(make_wire(), pcm, i * stagger_s) for i in range(n))))


@contextlib.contextmanager
def serving(name: str, tmp: Path, max_streams: int, wl_threads: int) -> Iterator[Callable[[], Wire]]:
    if name == "streamscribe":
        server = ServerProcess(archive_dir=tmp / "archive", env={"STREAMSCRIBE_ARCHIVE": "false"}).start()
        url = listen_url(server.ws_url, interim_results=True)
        try:
            yield lambda: Wire(url)
        finally:
            server.stop()
    elif name == "whisperlive":
        model = wl.packaged_tiny_en()
        wls = wl.WhisperLiveServer(model, tmp / "whisperlive.log", max_clients=max_streams, omp_threads=wl_threads)
        wls.start()
        try:
            yield lambda: Wire(
                wls.ws_url, parse_whisperlive, wl.options(str(model)), wl.is_ready, wl.frame, wl.END_OF_AUDIO
            )
        finally:
            wls.stop()
    else:
        raise ValueError(f"unknown server {name!r}: streamscribe or whisperlive")


def measure(
    name: str, counts: Sequence[int], clips: Sequence[audio.Clip], args: argparse.Namespace
) -> list[dict[str, Any]]:
    stream, utterances = audio.conversation(clips, gap_s=GAP_S, tail_s=TAIL_S)
    pcm = audio.to_linear16(stream)
    words = reference_words(clips, utterances)
    reference = " ".join(c.text for c in clips)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, serving(name, Path(tmp), max(counts), args.whisperlive_threads) as make:
        asyncio.run(run_streams(make, pcm[: 4 * audio.RATE * 2], 1, 0.0))  # warm-up, not counted
        label = (
            name if name != "whisperlive" or args.whisperlive_threads == 1 else f"{name} OMP={args.whisperlive_threads}"
        )
        for n in counts:
            logs = [log for _ in range(args.runs) for log in asyncio.run(run_streams(make, pcm, n, args.stagger_s))]
            rows.append(summarize(label, n, [stream_figures(log, words, reference) for log in logs]))
            rows[-1]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
            print_row(rows[-1])
    return rows


HEADER = (
    "| server | streams x runs | first text covering an utterance p50 / p95 ms | never shown "
    "| oldest unshown word, mean / max age ms | first text after stream start p50 / max ms "
    "| text updates per min per stream, mean (min) | longest wait s | WER |\n|" + "---|" * 9
)


def print_row(row: dict[str, Any]) -> None:
    print(
        f"| {row['server']} | {row['streams']} x {row['runs']} "
        f"| {row['first_cover_p50_ms']} / {row['first_cover_p95_ms']} "
        f"| {row['never_shown']}/{row['utterances']} "
        f"| {row['oldest_unshown_mean_ms']} / {row['oldest_unshown_max_ms']} "
        f"| {row['first_text_p50_ms']} / {row['first_text_max_ms']} "
        f"| {row['updates_per_min_mean']} ({row['updates_per_min_min']}) | {row['longest_wait_s']} "
        f"| {row['wer_median']:.3f} |",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="streamscribe,whisperlive")
    parser.add_argument("--streams", default="1,8", help="comma-separated numbers of concurrent streams")
    parser.add_argument("--stagger-s", type=float, default=0.0, help="stream i starts i x this later (0: together)")
    parser.add_argument("--runs", type=int, default=1, help="passes per number of streams, pooled")
    parser.add_argument("--clips", type=int, default=5, help="use the first N LibriVox clips (quick runs)")
    parser.add_argument("--whisperlive-threads", type=int, default=1, help="its OMP_NUM_THREADS (run_server.py: 1)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    clips = corpora.librivox_clips()[: args.clips]
    print(HEADER, flush=True)
    rows = [row for name in args.servers.split(",") for row in measure(name, counts, clips, args)]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        **{k: v for k, v in vars(args).items() if k != "json"},
        "cpus": os.cpu_count(),
        "whisper_live": wl.VERSION,
    }
    args.json.write_text(json.dumps({"settings": settings, "rows": rows}, indent=1, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
