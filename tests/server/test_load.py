"""The gateway's load measurement (server/jobs/load.py): interim turnaround from the
results it routes, finals waiting and warm workers from polls; and that what it
measures paces a session's interims."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from server.config import Settings
from server.http.app import create_app
from server.jobs.load import LoadMonitor, RecentMean
from server.jobs.queue import QueueDepth
from server.runtime.embedded import embedded_runtime
from streaming.jobs import Job, JobKind, JobResult
from streaming.pacing import WorkerLoad
from testbed import corpora
from tests.server.test_pipeline import FakeTranscriber
from tests.unit.session_harness import Harness, track
from tests.unit.test_pacing import stream


def job(kind: JobKind, revision: int, session: str = "s", channel: int = 0) -> Job:
    return Job(session, channel, 1, kind, revision, 0.0, np.zeros(8000, dtype=np.int16))


def result(of: Job, transcribe_s: float = 0.0, queue_s: float = 0.0, published_ago_s: float | None = None) -> JobResult:
    published_at = time.time() - published_ago_s if published_ago_s is not None else 0.0
    return JobResult(
        of.session_id,
        of.channel,
        of.seq,
        of.kind,
        of.revision,
        queue_seconds=queue_s,
        transcribe_seconds=transcribe_s,
        published_at=published_at,
    )


def monitor(finals: int = 0, warm: int = 2) -> LoadMonitor:
    async def depth() -> QueueDepth:
        return QueueDepth(finals, 0, 0)

    async def warm_workers() -> int:
        return warm

    return LoadMonitor(depth, warm_workers)


def test_recent_mean_follows_recent_samples() -> None:
    mean = RecentMean(time_constant_s=2.0)
    mean.add(3.0, 0.0)
    assert mean.value == 3.0
    mean.add(1.0, 0.0)  # at the same moment: counted, with a small weight
    assert 2.7 < mean.value < 3.0
    mean.add(0.5, 60.0)  # after a long gap the old mean has almost no say
    assert mean.value == pytest.approx(0.5, abs=0.01)


def test_turnaround_and_wait_come_from_what_the_result_carries() -> None:
    load = monitor()
    load.answered(result(job(JobKind.INTERIM, 1), transcribe_s=0.5, queue_s=1.5), 12.0)
    assert load.current.interim_turnaround_s == pytest.approx(2.0)
    assert load.current.interim_wait_s == pytest.approx(1.5)
    # Across processes the transit from the worker counts as waiting too.
    load.answered(result(job(JobKind.INTERIM, 2), transcribe_s=0.5, queue_s=1.0, published_ago_s=0.5), 60.0)
    assert load.current.interim_wait_s == pytest.approx(1.5, abs=0.05)
    # Finals are not measured.
    load.answered(result(job(JobKind.FINAL, 3), transcribe_s=9.0, queue_s=9.0), 61.0)
    assert load.current.interim_turnaround_s == pytest.approx(2.0, abs=0.05)


async def test_poll_reads_finals_waiting_and_warm_workers_and_survives_failures() -> None:
    load = monitor(finals=3, warm=2)
    assert await load.poll(warm=True) == WorkerLoad(finals_waiting=3, warm_workers=2)

    async def broken() -> QueueDepth:
        raise ConnectionError("redis went away")

    load._depth = broken
    assert await load.poll(warm=False) == WorkerLoad(finals_waiting=3, warm_workers=2)


def test_measured_turnaround_paces_a_session(tmp_path: Path) -> None:
    """Gateway bookkeeping -> WorkerLoad -> session: interims thin out."""
    runtime = embedded_runtime(Settings(archive_dir=tmp_path), transcriber_factory=FakeTranscriber)
    gateway = runtime.gateway
    for revision in range(1, 6):
        interim = job(JobKind.INTERIM, revision)
        gateway.deliver(result(interim, transcribe_s=0.5, queue_s=1.0))  # routed as the router does
    measured = gateway.load.current
    assert measured.interim_turnaround_s == pytest.approx(1.5, abs=0.05)
    assert measured.interim_wait_s == pytest.approx(1.0, abs=0.05)

    config = Settings(endpointing_ms=500).session_config()
    audio_track = track(("silence", 1.0), ("speech", 8.0), ("silence", 1.0))
    idle = Harness([("interim_results", "true")], config=config)
    busy = Harness([("interim_results", "true")], config=config)
    busy.session.observe_load(measured, 0.0)
    idle_interims, idle_finals = stream(idle, audio_track)
    busy_interims, busy_finals = stream(busy, audio_track)
    assert len(busy_interims) < len(idle_interims) / 3
    assert [j.duration for j in busy_finals] == [j.duration for j in idle_finals]


async def test_poller_publishes_the_load_and_the_step_metric(tmp_path: Path) -> None:
    runtime = embedded_runtime(Settings(archive_dir=tmp_path), transcriber_factory=FakeTranscriber)
    gateway = runtime.gateway
    for revision in range(1, 4):
        await gateway.queue.submit(job(JobKind.FINAL, revision, session=f"s{revision}"))
    gateway.register("live")  # the poller reads the queue only while live sessions are open
    gateway.start()  # router and poller; no worker started: the finals wait, no worker is warm
    try:
        for _ in range(50):
            if gateway.load.current.finals_waiting:
                break
            await asyncio.sleep(0.05)
        assert gateway.load.current == WorkerLoad(finals_waiting=3, warm_workers=0)
        assert b"streamscribe_interim_step_seconds +Inf" in gateway.metrics.render()
    finally:
        await gateway.stop()
        gateway.unregister("live")


def test_live_session_interims_are_measured(tmp_path: Path) -> None:
    """Through the WebSocket shell: interim jobs it submits are timed when their results come back,
    and an idle server exports the base step."""
    runtime = embedded_runtime(
        Settings(archive_dir=tmp_path, workers=1), transcriber_factory=lambda: FakeTranscriber(delay_s=0.05)
    )
    app = create_app(Settings(archive_dir=tmp_path), runtime)
    speech = corpora.jfk().audio[: 16000 * 3]
    frame = 1600
    with TestClient(app) as client, client.websocket_connect("/v1/listen?interim_results=true") as ws:
        for offset in range(0, len(speech), frame):
            ws.send_bytes(speech[offset : offset + frame].astype("<i2").tobytes())
            time.sleep(0.05)
        ws.send_text(json.dumps({"type": "CloseStream"}))
        while json.loads(ws.receive_text())["type"] != "Metadata":
            pass
        measured = runtime.gateway.load.current
        metrics = client.get("/metrics").text
    assert 0.04 < measured.interim_turnaround_s < 1.0
    assert "streamscribe_interim_step_seconds 0.5" in metrics
