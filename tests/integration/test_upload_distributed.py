"""An uploaded file in distributed mode: its segments are final jobs in Redis,
taken by every worker, and the answer comes back whole and in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed import audio, corpora
from testbed.server import ServerProcess
from testbed.services import RedisServer, WorkerProcess

pytestmark = pytest.mark.e2e

JOBS_FINAL = "streamscribe:jobs:final"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[RedisServer, ServerProcess]]:
    redis_server = RedisServer(tmp_path / "redis").start()
    workers = [
        WorkerProcess(redis_server.url, tmp_path / f"worker{i}.log", worker_id=f"w{i}").start() for i in range(2)
    ]
    gateway = ServerProcess(archive_dir=tmp_path / "archive", command="gateway", args=("--redis-url", redis_server.url))
    try:
        for worker in workers:
            worker.wait_warm(redis_server.client())
        gateway.start()
        yield redis_server, gateway
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()
        redis_server.stop()


def test_upload_segments_are_spread_across_workers(cluster: tuple[RedisServer, ServerProcess], tmp_path: Path) -> None:
    redis_server, gateway = cluster
    clips = [corpora.jfk(), *corpora.librivox_clips(), corpora.jfk(), *corpora.librivox_clips()]
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    path = tmp_path / "speech.wav"
    audio.write_wav(path, pcm)
    assert len(pcm) / 16000 > 60  # three segments or more

    consumers: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        client = redis_server.client()
        while not done.wait(0.02):
            for entry in client.xpending_range(JOBS_FINAL, "workers", min="-", max="+", count=20):
                consumers.add(entry["consumer"].decode())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = httpx.post(
            f"{gateway.http_url}/v1/listen", params={"utterances": "true"}, content=path.read_bytes(), timeout=120
        )
    finally:
        done.set()
        watcher.join()
    assert response.status_code == 200, response.text
    assert consumers == {"w0", "w1"}, f"jobs taken by {consumers}"
    body = response.json()
    transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"]
    assert audio.wer(" ".join(clip.text for clip in clips), transcript) <= 0.2, transcript
    starts = [u["start"] for u in body["results"]["utterances"]]
    assert starts == sorted(starts) and len(starts) >= len(clips) // 2
