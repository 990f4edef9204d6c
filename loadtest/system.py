"""The system under test for load tests: embedded or distributed, started on free
loopback ports, with the server-side figures a load test reports."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import psutil

from tests import audio
from tests.integration.services import RedisServer, WorkerProcess
from tests.live import ServerProcess


def peak_rss_mib(pids: list[int]) -> float:
    """Sum over processes of each one's peak resident set (VmHWM)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


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
