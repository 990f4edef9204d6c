"""Real services for integration tests: redis-server and `streamscribe worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from testbed.server import REPO_ROOT, free_port, stop_process


@dataclass
class RedisServer:
    """A throwaway redis-server on a free loopback port, without persistence."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/install-system-deps installs it)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class WorkerProcess:
    redis_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    worker_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    cwd: Path = REPO_ROOT
    """Where `python -m server.cli` runs, so whose `server` package it imports (loadtest --baseline)."""

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "STREAMSCRIBE_LOG_LEVEL": "info",
            "STREAMSCRIBE_CPU_THREADS": "1",
            "STREAMSCRIBE_WORKERS": "1",
            **self.env,
        }
        command = [sys.executable, "-m", "server.cli", "worker", "--redis-url", self.redis_url]
        if self.worker_id:
            command += ["--worker-id", self.worker_id]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_warm(self, client: redis.Redis, timeout_s: float = 60.0) -> WorkerProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited {self.process.returncode}: {self.log()}")
            if client.exists(f"streamscribe:worker:{self.worker_id}"):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.worker_id} not warm after {timeout_s} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        return stop_process(self.process, timeout_s)
