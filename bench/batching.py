"""Does decoding several jobs as one CTranslate2 batch beat decoding them one by one?

    .venv/bin/python -m bench.batching [--jobs 16] [--repeat 3]

A burst of real-speech jobs (the LibriVox clips, repeated) is queued at once,
as when many streams end a turn together. Worker threads take jobs from the
queue, one at a time or up to `batch` at a time, and run the real transcriber
(`FasterWhisperTranscriber.transcribe` / `transcribe_batch`: encoder, decoder,
word alignment, hallucination filter, temperature fallback). Prints audio
seconds per wall second and the per-job completion time (queue wait included)
for each layout of the machine's cores, for finals (beam 5) and interims
(greedy).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from server.config import Settings
from server.transcribe.model_files import resolve_model
from server.transcribe.whisper import FasterWhisperTranscriber
from streaming.codecs import Int16Array
from streaming.jobs import JobKind, TranscribeOptions
from testbed import corpora


@dataclass(frozen=True)
class Layout:
    workers: int
    threads_per_worker: int
    batch: int

    @property
    def label(self) -> str:
        return f"{self.workers} worker(s) x {self.threads_per_worker} thread(s), batch {self.batch}"


def run_burst(
    transcriber: FasterWhisperTranscriber, layout: Layout, jobs: list[Int16Array], kind: JobKind
) -> dict[str, float]:
    pending = deque(enumerate(jobs))
    lock = threading.Lock()
    done_at = [0.0] * len(jobs)
    options = TranscribeOptions()
    started = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                taken = [pending.popleft() for _ in range(min(layout.batch, len(pending)))]
            if not taken:
                return
            transcriber.transcribe_batch([clip for _, clip in taken], options, kind)
            finished = time.perf_counter() - started
            for index, _ in taken:
                done_at[index] = finished

    threads = [threading.Thread(target=worker) for _ in range(layout.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    seconds = sum(len(clip) for clip in jobs) / 16_000
    return {
        "wall_s": wall,
        "audio_s_per_s": seconds / wall,
        "job_done_p50_s": float(np.percentile(done_at, 50)),
        "job_done_p95_s": float(np.percentile(done_at, 95)),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--json", help="write the figures here as well")
    args = parser.parse_args()

    cores = os.cpu_count() or 2
    model = resolve_model(args.model, Settings().model_cache_dir)
    clips = corpora.librivox_clips()
    jobs = [clips[i % len(clips)].audio for i in range(args.jobs)]
    layouts = [
        Layout(cores, 1, 1),
        Layout(cores, 1, 2),
        Layout(cores, 1, 4),
        Layout(1, cores, 1),
        Layout(1, cores, 4),
        Layout(1, cores, 8),
    ]
    print(f"{args.jobs} jobs, {sum(len(j) for j in jobs) / 16_000:.0f} s of speech, {cores} cores, {args.model} int8")
    print("| kind | layout | audio s / s | job done p50 | job done p95 |")
    print("|---|---|---|---|---|")
    figures = []
    transcribers: dict[tuple[int, int], FasterWhisperTranscriber] = {}
    for kind in (JobKind.FINAL, JobKind.INTERIM):
        for layout in layouts:
            shape = (layout.workers, layout.threads_per_worker)
            if shape not in transcribers:
                transcribers[shape] = FasterWhisperTranscriber(model, cpu_threads=shape[1], workers=shape[0])
                transcribers[shape].warm_up()
            runs = [run_burst(transcribers[shape], layout, jobs, kind) for _ in range(args.repeat)]
            median = {key: float(np.median([run[key] for run in runs])) for key in runs[0]}
            figures.append({"kind": kind.value, "layout": layout.label, **median})
            print(
                f"| {kind.value} | {layout.label} | {median['audio_s_per_s']:.1f} | "
                f"{median['job_done_p50_s']:.2f} s | {median['job_done_p95_s']:.2f} s |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"jobs": args.jobs, "cores": cores, "model": args.model, "figures": figures}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
