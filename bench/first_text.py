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
import bisect
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets

from bench import whisperlive_client as wl
from bench.live_latency import speech_end
from testbed import audio, corpora
from testbed.server import REPO_ROOT, ServerProcess, listen_url

CHUNK_S = 0.1
CHUNK_BYTES = int(audio.RATE * CHUNK_S) * 2
GAP_S = 1.5
TAIL_S = 10.0
"""Silence after the last utterance before the stream is closed, as a live microphone goes on sending."""
WORD_SLACK_S = 0.5
"""Reference words starting up to this long after the audio sent so far may already be shown."""
STALE_S = 0.1
DEFAULT_JSON = REPO_ROOT / "artifacts" / "bench" / "first-text.json"


@dataclass(frozen=True)
class Piece:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Update:
    """One message with text: when it came, the pieces it makes final, the open piece it sets."""

    t: float
    finals: tuple[Piece, ...] = ()
    partial: Piece | None = None
    sets_partial: bool = True


@dataclass
class StreamLog:
    send_times: list[float] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    ready_s: float = 0.0


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    utterance: int


def shown_texts(updates: Sequence[Update]) -> list[tuple[float, str]]:
    """(arrival, text a caption client shows) after each update, as whisper-live's own client keeps it: a
    final piece is kept if it starts where the last kept one ends or later (so resent ones are not), an
    update without an open piece leaves the shown one, which is hidden once a final piece ends past its start."""
    finals: list[Piece] = []
    partial: Piece | None = None
    shown: list[tuple[float, str]] = []
    for update in updates:
        for piece in update.finals:
            if not finals or piece.start >= finals[-1].end - STALE_S:
                finals.append(piece)
        if update.sets_partial:
            partial = update.partial
        pieces = list(finals)
        if partial is not None and (not finals or partial.start >= finals[-1].end - STALE_S):
            pieces.append(partial)
        shown.append((update.t, audio.normalize_text(" ".join(p.text for p in pieces))))
    return shown


def frontier(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The length of the reference prefix that `hypothesis` matches at the least edit distance (longest on ties)."""
    previous = list(range(len(hypothesis) + 1))
    best, best_length = previous[-1], 0
    for i, word in enumerate(reference, 1):
        row = [i]
        for j, said in enumerate(hypothesis, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != said)))
        if row[-1] <= best:
            best, best_length = row[-1], i
        previous = row
    return best_length


def chunk_index(stream_s: float) -> int:
    return int(stream_s / CHUNK_S + 1e-9)


def sent_at(send_times: Sequence[float], stream_s: float) -> float:
    """Wall time at which the frame holding stream time `stream_s` was sent."""
    return send_times[min(chunk_index(stream_s), len(send_times) - 1)]


def reach_times(shown: Sequence[tuple[float, str]], words: Sequence[Word], send_times: Sequence[float]) -> list[float]:
    """Per reference word, the arrival of the first message whose frontier passes it (inf: never)."""
    reach = [math.inf] * len(words)
    starts = [w.start for w in words]
    reference = [w.text for w in words]
    reached, previous = 0, ""
    for t, text in shown:
        if text == previous:
            continue
        previous = text
        audio_s = bisect.bisect_right(send_times, t) * CHUNK_S
        window = bisect.bisect_right(starts, audio_s + WORD_SLACK_S)
        passed = frontier(reference[:window], text.split())
        for k in range(reached, passed):
            reach[k] = t
        reached = max(reached, passed)
    return reach


def first_cover(reach: Sequence[float], words: Sequence[Word], send_times: Sequence[float]) -> list[float | None]:
    """Per utterance, seconds from sending its speech end (its last word's end) to showing its last word."""
    last: dict[int, int] = {w.utterance: i for i, w in enumerate(words)}
    return [
        reach[i] - sent_at(send_times, words[i].end) if math.isfinite(reach[i]) else None
        for _, i in sorted(last.items())
    ]


def oldest_unshown_ages(reach: Sequence[float], words: Sequence[Word], send_times: Sequence[float]) -> list[float]:
    """At each frame sent, the age of the oldest word whose audio was sent and that is not shown yet."""
    ages: list[float] = []
    oldest = 0
    for k, t in enumerate(send_times):
        while oldest < len(words) and reach[oldest] <= t:
            oldest += 1
        sent_frame = chunk_index(words[oldest].end) if oldest < len(words) else k + 1
        ages.append(t - send_times[sent_frame] if sent_frame <= k else 0.0)
    return ages


def flow(shown: Sequence[tuple[float, str]], send_times: Sequence[float]) -> dict[str, float | None]:
    """First text after the stream start, text changes per minute, longest wait between changes while sending."""
    changes: list[float] = []
    previous = ""
    for t, text in shown:
        if text and text != previous:
            changes.append(t)
        previous = text
    started, ended = send_times[0], send_times[-1] + CHUNK_S
    during = [t for t in changes if t <= ended]
    waits = np.diff([started, *during, ended]) if during else np.array([ended - started])
    return {
        "first_text_s": changes[0] - started if changes else None,
        "updates_per_min": len(changes) / ((ended - started) / 60),
        "longest_wait_s": float(waits[1:].max()) if len(waits) > 1 else float(waits[0]),
    }


def stream_figures(log: StreamLog, words: Sequence[Word], reference: str) -> dict[str, Any]:
    """The figures of one stream; ages and flow over its speech and one pause after it, not the long tail."""
    shown = shown_texts(log.updates)
    reach = reach_times(shown, words, log.send_times)
    spoken = log.send_times[: chunk_index(words[-1].end + GAP_S)]
    ages = oldest_unshown_ages(reach, words, spoken)
    return {
        "first_cover_s": first_cover(reach, words, log.send_times),
        "oldest_unshown_mean_s": statistics.fmean(ages),
        "oldest_unshown_max_s": max(ages),
        **flow(shown, spoken),
        "wer": audio.wer(reference, shown[-1][1] if shown else ""),
        "shown_at_end": shown[-1][1] if shown else "",
        "ready_s": log.ready_s,
        "messages": len(log.updates),
    }


def ms(value: float | None) -> int | None:
    return None if value is None or math.isnan(value) else round(1000 * value)


def summarize(server: str, concurrent: int, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """One row over every stream of every run with `concurrent` streams at once."""
    covers = [x for s in streams for x in s["first_cover_s"] if x is not None]
    firsts = [s["first_text_s"] for s in streams if s["first_text_s"] is not None]
    per_min = [s["updates_per_min"] for s in streams]
    return {
        "server": server,
        "streams": concurrent,
        "runs": len(streams) // concurrent,
        "utterances": sum(len(s["first_cover_s"]) for s in streams),
        "never_shown": sum(x is None for s in streams for x in s["first_cover_s"]),
        "first_cover_p50_ms": ms(float(np.percentile(covers, 50)) if covers else None),
        "first_cover_p95_ms": ms(float(np.percentile(covers, 95)) if covers else None),
        "oldest_unshown_mean_ms": ms(statistics.fmean(s["oldest_unshown_mean_s"] for s in streams)),
        "oldest_unshown_max_ms": ms(max(s["oldest_unshown_max_s"] for s in streams)),
        "first_text_p50_ms": ms(statistics.median(firsts) if firsts else None),
        "first_text_max_ms": ms(max(firsts) if firsts else None),
        "no_text_streams": len(streams) - len(firsts),
        "updates_per_min_mean": round(statistics.fmean(per_min), 1),
        "updates_per_min_min": round(min(per_min), 1),
        "longest_wait_s": round(max(s["longest_wait_s"] for s in streams), 2),
        "wer_median": round(statistics.median(s["wer"] for s in streams), 3),
        "per_stream": streams,
    }


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
