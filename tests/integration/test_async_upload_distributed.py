"""Asynchronous uploads survive their gateway in distributed mode (a real redis-server, a real worker and
model, gateways sharing one intake directory): a job whose gateway is killed (SIGKILL) while it runs is taken
over by another gateway once its claim goes stale; a job whose gateway stops (SIGTERM) is put back and taken
at once. Either way the signed callback arrives, once, with the whole transcript."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.webhook_security import SIGNATURE_HEADER, verify_signature
from testbed import audio, corpora
from testbed.receiver import Delivery, WebhookReceiver
from testbed.server import ServerProcess
from testbed.services import RedisServer, WorkerProcess

pytestmark = pytest.mark.e2e

SECRET = "distributed-webhook-secret"
CLAIM_IDLE_S = 3
WER_BOUND = 0.2


@dataclass
class Cluster:
    root: Path
    redis_server: RedisServer
    speech: bytes
    text: str

    def gateway(self, name: str) -> ServerProcess:
        """A gateway of its own (id, archive) on the shared Redis and intake directory."""
        return ServerProcess(
            archive_dir=self.root / name / "archive",
            command="gateway",
            args=("--redis-url", self.redis_server.url),
            env={
                "STREAMSCRIBE_LOG_LEVEL": "info",
                "STREAMSCRIBE_GATEWAY_ID": name,
                "STREAMSCRIBE_CLAIM_IDLE_S": str(CLAIM_IDLE_S),
                "STREAMSCRIBE_ASYNC_INTAKE_DIR": str(self.root / "intake"),
                "STREAMSCRIBE_WEBHOOK_SECRET": SECRET,
                "STREAMSCRIBE_WEBHOOK_ALLOW_PRIVATE_CALLBACKS": "true",
            },
        )

    def record(self, request_id: str) -> dict[str, object] | None:
        raw = self.redis_server.client().hget(f"streamscribe:async:job:{request_id}", "job")
        return json.loads(raw) if isinstance(raw, bytes) else None

    def wait_running(self, request_id: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (record := self.record(request_id)) is None or record["status"] != "running":
            assert time.monotonic() < deadline, f"not running after {timeout_s} s: {record}"
            time.sleep(0.05)
        time.sleep(1.0)  # well into the transcription: some of its segments are with the worker

    def check_callback(self, hook: WebhookReceiver, request_id: str) -> Delivery:
        hook.wait_for(lambda bodies: len(bodies) >= 1, timeout_s=180)
        time.sleep(1.0)  # a second callback would be a bug
        assert len(hook.deliveries) == 1, [d.json().get("err_msg") for d in hook.deliveries]
        (delivery,) = hook.deliveries
        assert verify_signature(SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
        body = delivery.json()
        assert body["metadata"]["request_id"] == request_id, body
        transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"]
        assert audio.wer(self.text, transcript) <= WER_BOUND, transcript
        return delivery


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("async-distributed")
    redis_server = RedisServer(root / "redis").start()
    worker = WorkerProcess(redis_server.url, root / "worker.log", worker_id="w0").start()
    clips = [corpora.jfk(), *corpora.librivox_clips()[:3]]
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    path = root / "speech.wav"
    audio.write_wav(path, pcm)
    try:
        worker.wait_warm(redis_server.client())
        yield Cluster(root, redis_server, path.read_bytes(), " ".join(clip.text for clip in clips))
    finally:
        worker.stop()
        redis_server.stop()


def accept(gateway: ServerProcess, cluster: Cluster, hook: WebhookReceiver) -> str:
    response = httpx.post(
        f"{gateway.http_url}/v1/listen", params={"callback": hook.url}, content=cluster.speech, timeout=60
    )
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def test_a_job_whose_gateway_is_killed_is_finished_by_another(cluster: Cluster) -> None:
    doomed = cluster.gateway("gw-doomed").start()
    successor: ServerProcess | None = None
    try:
        with WebhookReceiver() as hook:
            request_id = accept(doomed, cluster, hook)
            cluster.wait_running(request_id)
            assert doomed.process is not None
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait()
            assert hook.deliveries == []
            killed_at = time.monotonic()
            successor = cluster.gateway("gw-successor").start()
            cluster.check_callback(hook, request_id)
            assert time.monotonic() - killed_at >= CLAIM_IDLE_S, "taken over only once its claim went stale"
            assert f"took over asynchronous upload {request_id}" in successor.log()
        answer = httpx.get(f"{successor.http_url}/v1/listen/{request_id}", timeout=30).json()
        assert answer["status"] == "done" and answer["result"]["metadata"]["request_id"] == request_id
        record = cluster.record(request_id)
        assert record is not None and record["attempts"] == 2
        client = cluster.redis_server.client()
        assert all(client.xlen(key) == 0 for key in client.scan_iter("streamscribe:async:queue:*"))
        assert not (cluster.root / "intake" / f"{request_id}.body").exists()
    finally:
        doomed.stop()
        if successor is not None:
            successor.stop()


def test_a_job_whose_gateway_stops_is_put_back_and_taken_at_once(cluster: Cluster) -> None:
    stopping = cluster.gateway("gw-stopping").start()
    successor: ServerProcess | None = None
    try:
        with WebhookReceiver() as hook:
            request_id = accept(stopping, cluster, hook)
            cluster.wait_running(request_id)
            stopping.stop()
            record = cluster.record(request_id)
            assert record is not None and record["status"] == "queued" and hook.deliveries == []
            successor = cluster.gateway("gw-after-stop").start()
            cluster.check_callback(hook, request_id)
        record = cluster.record(request_id)
        assert record is not None and record["attempts"] == 2 and record["status"] == "done"
        assert "took over" not in successor.log(), "put back, not left for a takeover"
    finally:
        stopping.stop()
        if successor is not None:
            successor.stop()
