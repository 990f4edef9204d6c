"""Upload benchmark: a long real-speech file through POST /v1/listen versus
faster-whisper called directly on the same file in one process.

    .venv/bin/python -m bench.upload_speed [--minutes 10] [--runs 2] [--long-minutes 30] [--distributed]
                                           [--embedded 1x0 2x1]

The speech file is the five LibriVox clips of pocketsphinx-testdata and the JFK
clip, cycled with 1 s pauses until it is `--minutes` long (16 kHz WAV). It reports:

- direct: seconds for one `WhisperModel.transcribe` over the whole file with
  the decode settings the server's final jobs use (tiny.en int8, beam 5,
  word timestamps, temperature fallback, no conditioning on previous text),
  `cpu_threads` = the server's threads per worker;
- embedded: seconds from the first byte of the POST to the response of
  `streamscribe serve`, default (1 worker, CPUs threads) and 2 workers x 1
  thread, and the ratio to direct (target <= 1.1), with the server's RSS
  growth over its warm baseline;
- distributed (--distributed): a gateway and 2 `streamscribe worker`
  processes (1 thread each) on a throwaway redis-server;
- WER of each against the reference text;
- memory: a `--long-minutes` file (Ogg/Opus, made with ffmpeg) posted to the
  default embedded server while its RSS is sampled every 0.2 s: the growth
  over the warm baseline stays about what a 10-minute file needs, not
  proportional to the length (the decoded audio alone is 57.6 MB for 30 min).

Warm-up (model load, first call) is excluded everywhere.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil

from testbed import audio, corpora
from testbed.server import ServerProcess


def speech_file(minutes: float, gap_s: float = 1.0) -> tuple[np.ndarray, str]:
    clips = [*corpora.librivox_clips(), corpora.jfk()]
    chosen: list[audio.Clip] = []
    total = 0.0
    while total < minutes * 60:
        clip = clips[len(chosen) % len(clips)]
        chosen.append(clip)
        total += clip.duration + gap_s
    pcm, _ = audio.conversation(chosen, gap_s=gap_s, lead_s=0.5, tail_s=1.0)
    return pcm, " ".join(clip.text for clip in chosen)


def direct_seconds(pcm: np.ndarray, threads: int, runs: int) -> tuple[float, str]:
    """The best of `runs` timed calls, and the text."""
    from faster_whisper import WhisperModel

    from server.config import Settings
    from server.transcribe.model_files import resolve_model
    from server.transcribe.whisper import DecodeSettings

    settings = Settings()
    model = resolve_model(settings.model, settings.model_cache_dir)
    decode = DecodeSettings()
    whisper = WhisperModel(
        str(model.path), device="cpu", compute_type=settings.compute_type or "int8", cpu_threads=threads
    )
    samples = pcm.astype(np.float32) / 32768.0

    def run(audio_in: np.ndarray) -> str:
        segments, _ = whisper.transcribe(
            audio_in,
            language="en",
            beam_size=decode.final_beam_size,
            best_of=1,
            temperature=(0.0, 0.2, 0.4),
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=decode.no_speech_threshold,
            log_prob_threshold=decode.log_prob_threshold,
            compression_ratio_threshold=decode.compression_ratio_threshold,
        )
        return " ".join(segment.text.strip() for segment in segments)

    run(samples[: 16000 * 5])  # warm-up
    best, text = float("inf"), ""
    for attempt in range(runs):
        started = time.perf_counter()
        text = run(samples)
        seconds = time.perf_counter() - started
        print(f"direct faster-whisper ({threads} threads) run {attempt + 1}: {seconds:.1f} s", flush=True)
        best = min(best, seconds)
    return best, text


def post(url: str, path: Path) -> tuple[float, str, dict[str, object]]:
    def body() -> Iterator[bytes]:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                yield chunk

    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/listen", content=body(), timeout=3600)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    result = response.json()
    return seconds, result["results"]["channels"][0]["alternatives"][0]["transcript"], result


@dataclass
class RssSampler:
    pid: int
    peak: int = 0
    samples: int = 0
    _stop: threading.Event | None = None

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        self._stop = threading.Event()
        process = psutil.Process(self.pid)

        def loop() -> None:
            assert self._stop is not None
            while not self._stop.wait(0.2):
                self.peak = max(self.peak, process.memory_info().rss)
                self.samples += 1

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def warm(url: str, root: Path) -> None:
    jfk = root / "jfk.wav"
    audio.write_wav(jfk, corpora.jfk().audio)
    post(url, jfk)


def embedded(
    root: Path,
    wav: Path,
    reference: str,
    runs: int,
    direct: float,
    long_file: Path | None,
    workers: int,
    threads: int,
) -> None:
    label = "embedded" if workers == 1 and threads == 0 else f"embedded --workers {workers} --cpu-threads {threads}"
    server = ServerProcess(
        archive_dir=root / f"archive-{workers}x{threads}",
        args=["--workers", str(workers), "--cpu-threads", str(threads)],
    ).start(timeout=120)
    try:
        assert server.process is not None
        pid = server.process.pid
        warm(server.http_url, root)
        baseline = rss(pid)
        for run in range(runs):
            sampler = RssSampler(pid)
            with sampler.sampling():
                seconds, text, _ = post(server.http_url, wav)
            print(
                f"{label} run {run + 1}: {seconds:.1f} s, ratio to direct {seconds / direct:.2f}, "
                f"WER {audio.wer(reference, text):.3f}, server RSS peak +{(sampler.peak - baseline) / 1e6:.0f} MB",
                flush=True,
            )
        if long_file is not None:
            sampler = RssSampler(pid)
            with sampler.sampling():
                seconds, text, result = post(server.http_url, long_file)
            duration = float(result["metadata"]["duration"])  # type: ignore[index]
            print(
                f"{label} long file: {duration / 60:.1f} min of audio ({long_file.stat().st_size / 1e6:.1f} MB "
                f"Ogg/Opus) in {seconds:.1f} s, {len(text.split())} words; server RSS {baseline / 1e6:.0f} MB after "
                f"warm-up, peak +{(sampler.peak - baseline) / 1e6:.0f} MB (the decoded audio alone would be "
                f"{duration * 32000 / 1e6:.0f} MB)",
                flush=True,
            )
    finally:
        server.stop()


def distributed(root: Path, wav: Path, reference: str, runs: int, direct: float) -> None:
    from testbed.services import RedisServer, WorkerProcess

    redis_server = RedisServer(root / "redis").start()
    workers = [
        WorkerProcess(redis_server.url, root / f"worker-{i}.log", worker_id=f"bench-w{i}").start() for i in range(2)
    ]
    gateway = ServerProcess(
        archive_dir=root / "archive-distributed",
        command="gateway",
        args=["--redis-url", redis_server.url],
    )
    try:
        for worker in workers:
            worker.wait_warm(redis_server.client(), timeout_s=120)
        gateway.start(timeout=120)
        warm(gateway.http_url, root)
        for run in range(runs):
            seconds, text, _ = post(gateway.http_url, wav)
            print(
                f"distributed (2 workers x 1 thread) run {run + 1}: {seconds:.1f} s, "
                f"ratio to direct {seconds / direct:.2f}, WER {audio.wer(reference, text):.3f}",
                flush=True,
            )
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()
        redis_server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--long-minutes", type=float, default=30.0, help="0: skip the memory run")
    parser.add_argument("--distributed", action="store_true", help="also gateway + 2 workers on redis-server")
    parser.add_argument(
        "--embedded",
        nargs="+",
        default=["1x0", "2x1"],
        metavar="WORKERSxTHREADS",
        help="embedded server configurations (0 threads: CPUs / workers); the first also gets the long file",
    )
    args = parser.parse_args()

    threads = max(1, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmp:
        root = Path(tmp)
        pcm, reference = speech_file(args.minutes)
        wav = root / "speech.wav"
        audio.write_wav(wav, pcm)
        print(f"{len(pcm) / 16000 / 60:.1f} min of real speech, {len(reference.split())} words, {threads} CPUs")
        long_file = None
        if args.long_minutes > 0:
            long_pcm, _ = speech_file(args.long_minutes)
            long_wav = root / "long.wav"
            audio.write_wav(long_wav, long_pcm)
            del long_pcm
            long_file = root / "long.ogg"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(long_wav), "-c:a", "libopus", "-b:a", "32k", str(long_file)],
                check=True,
            )
            long_wav.unlink()
        direct, text = direct_seconds(pcm, threads, args.runs)
        print(f"direct: best {direct:.1f} s, WER {audio.wer(reference, text):.3f} (ratios below are to the best)")
        for index, config in enumerate(args.embedded):
            workers, _, threads = config.partition("x")
            embedded(
                root, wav, reference, args.runs, direct, long_file if index == 0 else None, int(workers), int(threads)
            )
        if args.distributed:
            distributed(root, wav, reference, args.runs, direct)
    return 0


if __name__ == "__main__":
    sys.exit(main())
