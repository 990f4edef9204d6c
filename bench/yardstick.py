"""The yardstick: one direct faster-whisper call per utterance, measured now on this machine.

    .venv/bin/python -m bench.yardstick [--threads 1] [--passes 3]

Machines differ, so latencies are also reported as multiples of this call:
one `faster_whisper.WhisperModel.transcribe` per LibriVox utterance (30 s
window, beam 5, word timestamps, no conditioning on previous text), with the
model, device and compute type the server's settings pick and the thread count
of one server worker (the load tests and benchmarks start workers with one
thread). The first pass warms up and is not counted. Besides the median call
time it gives the floor: CPU seconds of those calls per second of audio.
`bench.live_latency` and `loadtest.run` both measure it through `measure()`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from testbed import audio, corpora

WORKER_THREADS = 1
"""Threads of one Whisper worker in the systems the benchmarks start (STREAMSCRIBE_CPU_THREADS)."""


@dataclass(frozen=True)
class Yardstick:
    call_s: float
    """Median wall time of one transcribe call per utterance."""
    cpu_s_per_audio_s: float
    """The floor: CPU seconds of those calls (this process) per second of audio."""
    calls: int
    model: str
    device: str
    compute_type: str
    cpu_threads: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def measure(clips: Sequence[audio.Clip] | None = None, cpu_threads: int = WORKER_THREADS, passes: int = 3) -> Yardstick:
    """Every clip `passes` times through one WhisperModel; the first pass is a warm-up."""
    from faster_whisper import WhisperModel

    from server.config import Settings
    from server.transcribe.model_files import resolve_model
    from server.transcribe.whisper import plan_device

    settings = Settings()
    plan = plan_device(settings.device, settings.compute_type, settings.max_batch)
    model = WhisperModel(
        str(resolve_model(settings.model, settings.model_cache_dir).path),
        device=plan.device,
        compute_type=plan.compute_type,
        cpu_threads=cpu_threads,
    )
    clips = list(clips or corpora.librivox_clips())
    times: list[float] = []
    cpu = 0.0
    for number in range(max(2, passes)):
        for clip in clips:
            started, cpu_started = time.perf_counter(), time.process_time()
            segments, _ = model.transcribe(
                clip.audio.astype(np.float32) / 32768,
                beam_size=5,
                word_timestamps=True,
                condition_on_previous_text=False,
            )
            list(segments)
            if number > 0:
                times.append(time.perf_counter() - started)
                cpu += time.process_time() - cpu_started
    audio_s = sum(c.duration for c in clips) * (max(2, passes) - 1)
    return Yardstick(
        call_s=statistics.median(times),
        cpu_s_per_audio_s=cpu / audio_s,
        calls=len(times),
        model=settings.model,
        device=plan.device,
        compute_type=plan.compute_type,
        cpu_threads=cpu_threads,
    )


def yardstick_s() -> float:
    """The median time of one direct transcribe call per utterance, in seconds."""
    return measure().call_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=WORKER_THREADS)
    parser.add_argument("--passes", type=int, default=3, help="the first is a warm-up (at least 2)")
    args = parser.parse_args()
    print(json.dumps(measure(cpu_threads=args.threads, passes=args.passes).as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
