"""Capacity: how many concurrent real-time streams of real speech stay under a latency bound.

    .venv/bin/python -m bench.capacity --mode embedded --streams 1,2,3,4 [--interim/--no-interim]
    .venv/bin/python -m bench.capacity --mode distributed --streams 1,2,3,4,6

Each stream sends the five LibriVox clips of pocketsphinx-testdata with 1.5 s
pauses at real-time pace in 100 ms frames (starts staggered over 2 s). For
each concurrency it reports end-of-turn latency p50/p95 over every utterance
of every stream, interim lag, WER, the CPU seconds the server processes used
per audio second, and (distributed) the Redis overhead per job from the
gateway's /metrics. It stops after the first level whose p95 exceeds the bound.
The floor: the same clips transcribed by faster-whisper directly, in this
process, CPU seconds per audio second.

Modes: embedded = `streamscribe serve --workers 2 --cpu-threads 1`;
distributed = redis-server + `streamscribe gateway` + 2 x `streamscribe worker`
(1 thread each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.live_latency import CHUNK_S, CHUNK_SAMPLES, analyse, percentile, speech_end
from tests import audio
from tests.integration.services import RedisServer, WorkerProcess
from tests.live import Received, ServerProcess, listen_url, stream


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def histogram_mean(metrics: str, name: str, labels: str = "") -> float | None:
    sums = re.search(rf"^{name}_sum{re.escape(labels)} ([0-9.e+-]+)$", metrics, re.M)
    counts = re.search(rf"^{name}_count{re.escape(labels)} ([0-9.e+-]+)$", metrics, re.M)
    if not sums or not counts or float(counts.group(1)) == 0:
        return None
    return float(sums.group(1)) / float(counts.group(1))


class System:
    """The system under test: started once, measured at several concurrencies."""

    def __init__(self, mode: str, root: Path) -> None:
        self.mode = mode
        self.redis: RedisServer | None = None
        self.workers: list[WorkerProcess] = []
        env = {"STREAMSCRIBE_ARCHIVE": "false", "STREAMSCRIBE_MAX_SESSIONS": "256"}
        if mode == "embedded":
            self.server = ServerProcess(
                archive_dir=root / "archive", env={**env, "STREAMSCRIBE_WORKERS": "2", "STREAMSCRIBE_CPU_THREADS": "1"}
            ).start()
        else:
            self.redis = RedisServer(root / "redis").start()
            client = self.redis.client()
            self.workers = [
                WorkerProcess(self.redis.url, root / f"worker{i}.log", worker_id=f"bench{i}").start() for i in range(2)
            ]
            for worker in self.workers:
                worker.wait_warm(client)
            self.server = ServerProcess(
                archive_dir=root / "archive",
                command="gateway",
                args=("--redis-url", self.redis.url),
                env={**env, "STREAMSCRIBE_ADMISSION_QUEUED_FINALS_PER_WORKER": "1000"},
            ).start()

    def pids(self) -> list[int]:
        processes = [self.server.process, *(w.process for w in self.workers)]
        pids = [p.pid for p in processes if p is not None]
        if self.redis and self.redis.process:
            pids.append(self.redis.process.pid)
        return pids

    def metrics(self) -> str:
        with urllib.request.urlopen(self.server.http_url + "/metrics", timeout=5) as response:
            body: str = response.read().decode()
            return body

    def stop(self) -> None:
        self.server.stop()
        for worker in self.workers:
            worker.stop()
        if self.redis:
            self.redis.stop()


async def run_streams(url: str, pcm: bytes, count: int) -> list[Received]:
    async def one(delay: float) -> Received:
        await asyncio.sleep(delay)
        return await stream(url, pcm, chunk_bytes=CHUNK_SAMPLES * 2, pace_s=CHUNK_S, timeout_s=600)

    rng = random.Random(count)
    return await asyncio.gather(*(one(rng.uniform(0, 2.0)) for _ in range(count)))


def floor_cpu_per_audio_second(clips: list[audio.Clip]) -> float:
    import numpy as np
    from faster_whisper import WhisperModel

    from server.config import Settings
    from server.models import resolve_model

    model = WhisperModel(
        str(resolve_model("tiny.en", Settings().model_cache_dir).path), device="cpu", compute_type="int8", cpu_threads=1
    )
    list(model.transcribe(clips[0].audio.astype(np.float32) / 32768, beam_size=5)[0])  # warm-up
    started = time.process_time()
    for clip in clips:
        segments, _ = model.transcribe(
            clip.audio.astype(np.float32) / 32768, beam_size=5, word_timestamps=True, condition_on_previous_text=False
        )
        list(segments)
    return (time.process_time() - started) / sum(c.duration for c in clips)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("embedded", "distributed"), default="embedded")
    parser.add_argument("--streams", default="1,2,3,4")
    parser.add_argument("--interim", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--bound-ms", type=float, default=1500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    clips = audio.librivox_clips()
    pcm_array, utterances = audio.conversation(clips, gap_s=1.5)
    ends = [u.start + speech_end(c) for u, c in zip(utterances, clips, strict=True)]
    reference = " ".join(c.text for c in clips)
    pcm = audio.to_linear16(pcm_array)
    floor = floor_cpu_per_audio_second(clips)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        system = System(args.mode, Path(tmp))
        try:
            url = listen_url(system.server.ws_url, interim_results=args.interim, vad_events=True)
            asyncio.run(run_streams(url, pcm[: 16000 * 2 * 6], 1))  # warm-up, not counted
            print(f"mode {args.mode}, interim results {'on' if args.interim else 'off'}, floor {floor:.3f} CPU s/s")
            print(
                "| streams | end-of-turn p50 / p95 ms | interim lag p50 ms | WER | CPU s per audio s | within bound |"
            )
            print("|---|---|---|---|---|---|")
            for count in (int(n) for n in args.streams.split(",")):
                cpu_before = cpu_seconds(system.pids())
                received = asyncio.run(run_streams(url, pcm, count))
                cpu_used = cpu_seconds(system.pids()) - cpu_before
                figures = [analyse(r, ends, reference) for r in received]
                eot = [x for f in figures for x in f.end_of_turn]
                lag = [x for f in figures for x in f.interim_lag]
                p95 = 1000 * percentile(eot, 95)
                missing = sum(f.missing_speech_final for f in figures)
                ok = p95 <= args.bound_ms and missing == 0
                row = {
                    "streams": count,
                    "end_of_turn_p50_ms": round(1000 * percentile(eot, 50)),
                    "end_of_turn_p95_ms": round(p95),
                    "interim_lag_p50_ms": round(1000 * percentile(lag, 50)) if lag else None,
                    "wer_median": round(statistics.median(f.wer for f in figures), 4),
                    "missing_speech_final": missing,
                    "cpu_s_per_audio_s": round(cpu_used / (count * len(pcm_array) / 16000), 3),
                    "within_bound": ok,
                }
                rows.append(row)
                print(
                    f"| {count} | {row['end_of_turn_p50_ms']} / {row['end_of_turn_p95_ms']} "
                    f"| {row['interim_lag_p50_ms']} | {row['wer_median']:.3f} | {row['cpu_s_per_audio_s']} "
                    f"| {'yes' if ok else 'no'} |",
                    flush=True,
                )
                if not ok:
                    break
            metrics = system.metrics()
        finally:
            system.stop()
    overhead = {
        "queue_wait_final_mean_ms": histogram_mean(metrics, "streamscribe_job_queue_seconds", '{kind="final"}'),
        "result_transit_mean_ms": histogram_mean(metrics, "streamscribe_result_transit_seconds"),
    }
    overhead = {k: round(v * 1000, 2) if v is not None else None for k, v in overhead.items()}
    sustained = max((r["streams"] for r in rows if r["within_bound"]), default=0)
    print(f"sustained: {sustained} stream(s) with p95 end-of-turn <= {args.bound_ms:.0f} ms; overhead {overhead}")
    if args.json:
        summary = {"mode": args.mode, "interim": args.interim, "floor_cpu_s_per_audio_s": round(floor, 3)}
        args.json.write_text(json.dumps({**summary, "sustained": sustained, "overhead": overhead, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
