"""Asynchronous uploads' files in the object store (server/jobs/intake.py ObjectBodyStore over the S3 archive)
against a real S3 server (SeaweedFS): `intake/{request_id}` under the archive's prefix, one PUT or a multipart
upload, read back whole, deleted, and a missing one said to be missing; and a gateway on Redis and S3 that runs
an asynchronous upload from there, the file gone once the callback is handed over."""

from __future__ import annotations

import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from server.archive.s3 import S3Archive
from server.config import Settings
from server.jobs.intake import BodyMissing, ObjectBodyStore
from server.metrics import Metrics
from server.webhook_security import SIGNATURE_HEADER, verify_signature
from testbed import audio, corpora
from testbed.receiver import WebhookReceiver
from testbed.services import RedisServer, WorkerProcess
from tests.integration.conftest import S3_API_KEY, s3_gateway
from tests.integration.s3 import SeaweedS3

pytestmark = pytest.mark.e2e


@pytest.fixture
async def archive(store: SeaweedS3, bucket: str, tmp_path: Path) -> AsyncIterator[S3Archive]:
    settings = Settings(
        archive_url=f"s3://{bucket}/calls",
        s3_endpoint_url=store.endpoint_url,
        s3_path_style=True,
        s3_access_key_id=store.access_key,
        s3_secret_access_key=store.secret_key,  # type: ignore[arg-type]
        spool_dir=tmp_path / "spool",
    )
    archive = S3Archive(settings, Metrics())
    await archive.start()
    yield archive
    await archive.close()


@pytest.mark.parametrize("size", [300_000, 12 * 1024 * 1024 + 17])
async def test_a_file_is_stored_read_back_and_deleted(
    archive: S3Archive, store: SeaweedS3, bucket: str, size: int
) -> None:
    bodies = ObjectBodyStore(archive)
    content = os.urandom(size)
    await bodies.put("req-1", io.BytesIO(content))
    client = store.client()
    head = client.head_object(Bucket=bucket, Key="calls/intake/req-1")
    assert head["ContentLength"] == size
    async with bodies.open("req-1") as file:
        assert file.read() == content
        file.seek(0)
        assert file.read(4) == content[:4], "seekable: the decoder seeks"
    await bodies.delete("req-1")
    with pytest.raises(ClientError):
        client.head_object(Bucket=bucket, Key="calls/intake/req-1")
    with pytest.raises(BodyMissing, match="no longer in the object store"):
        async with bodies.open("req-1"):
            pass
    await bodies.delete("req-1")  # gone already: no error
    multipart = client.list_multipart_uploads(Bucket=bucket, Prefix="calls/intake/")
    assert not multipart.get("Uploads"), "no unfinished multipart upload left behind"


def test_a_gateway_on_redis_and_s3_runs_an_upload_from_the_store(store: SeaweedS3, bucket: str, tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    worker = WorkerProcess(redis_server.url, tmp_path / "worker.log", worker_id="w0").start()
    gateway = s3_gateway(tmp_path / "gw", store, f"s3://{bucket}/calls", redis_url=redis_server.url)
    gateway.env |= {"STREAMSCRIBE_WEBHOOK_SECRET": "s3-secret", "STREAMSCRIBE_WEBHOOK_ALLOW_PRIVATE_CALLBACKS": "true"}
    path = tmp_path / "jfk.wav"
    audio.write_wav(path, corpora.jfk().audio)
    try:
        worker.wait_warm(redis_server.client())
        gateway.start()
        with WebhookReceiver() as hook:
            accepted = httpx.post(
                f"{gateway.http_url}/v1/listen",
                params={"callback": hook.url},
                content=path.read_bytes(),
                headers={"Authorization": f"Token {S3_API_KEY}"},
                timeout=60,
            )
            assert accepted.status_code == 200, accepted.text
            request_id = accepted.json()["request_id"]
            bodies = hook.wait_for(lambda bodies: len(bodies) >= 1, timeout_s=120)
            delivery = hook.deliveries[0]
        assert bodies[0]["metadata"]["request_id"] == request_id
        assert verify_signature("s3-secret", delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
        transcript = bodies[0]["results"]["channels"][0]["alternatives"][0]["transcript"]
        assert audio.wer(corpora.JFK_TEXT, transcript) <= 0.2, transcript
        queue = "streamscribe:async:queue:objects"  # the queue of jobs whose files are in the object store
        assert redis_server.client().exists(queue) and redis_server.client().xlen(queue) == 0, "acknowledged"
        deadline = time.monotonic() + 10
        client = store.client()
        while client.list_objects_v2(Bucket=bucket, Prefix="calls/intake/").get("KeyCount", 0):
            assert time.monotonic() < deadline, "the file stays in the store after its job"
            time.sleep(0.1)
    finally:
        gateway.stop()
        worker.stop()
        redis_server.stop()
