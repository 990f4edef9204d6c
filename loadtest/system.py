"""The system under test for load tests: embedded or distributed, started on free
loopback ports from one source tree (loadtest.revision), with the server-side
figures a load test reports. Every Whisper worker has `WORKER_THREADS` threads,
the thread count of the yardstick (bench/yardstick.py)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]

from bench.yardstick import WORKER_THREADS
from loadtest import revision
from testbed.server import ServerProcess
from testbed.services import RedisServer, WorkerProcess


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


def sample(metrics: str, name: str, labels: str = "") -> float | None:
    """A counter's or gauge's value in Prometheus text; None when absent (an older revision)."""
    found = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+-]+)$", metrics, re.M)
    return float(found.group(1)) if found else None


def histogram_mean(metrics: str, name: str, labels: str = "") -> float | None:
    total, count = sample(metrics, f"{name}_sum", labels), sample(metrics, f"{name}_count", labels)
    if total is None or not count:
        return None
    return total / count


class System:
    """The system under test: started once, measured at several concurrencies."""

    def __init__(self, mode: str, root: Path, tree: revision.Tree | None = None) -> None:
        self.mode = mode
        self.tree = tree or revision.current()
        self.redis: RedisServer | None = None
        self.workers: list[WorkerProcess] = []
        here = revision.environment(self.tree)
        threads = {"STREAMSCRIBE_CPU_THREADS": str(WORKER_THREADS)}
        env = {**here, "STREAMSCRIBE_ARCHIVE": "false", "STREAMSCRIBE_MAX_SESSIONS": "256"}
        if mode == "embedded":
            self.env = {**env, "STREAMSCRIBE_WORKERS": "2", **threads}
            self.server = ServerProcess(archive_dir=root / "archive", env=self.env, cwd=self.tree.root).start()
            return
        self.redis = RedisServer(root / "redis").start()
        client = self.redis.client()
        self.workers = [
            WorkerProcess(
                self.redis.url,
                root / f"worker{i}.log",
                env={**here, **threads},
                worker_id=f"bench{i}",
                cwd=self.tree.root,
            ).start()
            for i in range(2)
        ]
        for worker in self.workers:
            worker.wait_warm(client)
        self.env = {**env, "STREAMSCRIBE_ADMISSION_QUEUED_FINALS_PER_WORKER": "1000"}
        self.server = ServerProcess(
            archive_dir=root / "archive",
            command="gateway",
            args=("--redis-url", self.redis.url),
            env=self.env,
            cwd=self.tree.root,
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
