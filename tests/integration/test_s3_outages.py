"""The S3 archive when the store fails: wrong credentials, a missing bucket, the store stopped mid-session.

Each time the client must still get its transcripts and a normal close, the
recording must wait in the gateway's spool, and once the store is back it must
be uploaded whole and the spool left empty.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import websockets

from testbed import audio, corpora
from testbed.server import ServerProcess, listen_url, stream
from tests.integration.conftest import S3_API_KEY, s3_gateway
from tests.integration.s3 import (
    SeaweedS3,
    decode_wav,
    empty_and_delete,
    keys,
    metric,
    new_bucket_name,
    object_base,
    read,
    spool_entries,
    wait_until,
)
from tests.integration.test_s3_archive import speech_loop

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Token {S3_API_KEY}"}
SPOOLED = "streamscribe_archive_spool_recordings"


def assert_stored(
    client: Any, bucket: str, metadata: dict[str, Any], sent: npt.NDArray[np.int16], finals: list[dict[str, Any]]
) -> None:
    base = object_base(metadata["archive"]["location"], bucket)
    channels, rate, samples = decode_wav(read(client, bucket, base + ".wav"))
    assert (channels, rate) == (sent.reshape(len(sent), -1).shape[1], 16000)
    np.testing.assert_array_equal(samples, sent.reshape(len(sent), -1))
    document = json.loads(read(client, bucket, base + ".json"))
    assert document["request_id"] == metadata["request_id"]
    assert document["results"] == finals
    index = json.loads(read(client, bucket, base.split("recordings/")[0] + f"index/{metadata['request_id']}.json"))
    assert index["wav"] == base + ".wav"


def wait_drained(gateway: ServerProcess, spool: Path, timeout_s: float = 60) -> None:
    wait_until(lambda: not spool_entries(spool) and metric(gateway, SPOOLED) == 0, timeout_s, "the spool to drain")


async def test_wrong_credentials_spool_until_a_restart_with_the_right_ones(
    tmp_path: Path, store: SeaweedS3, bucket: str
) -> None:
    clip = corpora.jfk()
    url = f"s3://{bucket}/wrong-key"
    first = s3_gateway(tmp_path, store, url, secret_key="not-the-secret-key").start()
    try:
        received = await stream(listen_url(first.ws_url), audio.to_linear16(clip.audio), headers=AUTH)
        assert received.close_code == 1000
        assert audio.wer(clip.text, received.final_text()) <= 0.2
        metadata = received.of_type("Metadata")[0]
        assert metadata["archive"]["stored"] is False and metadata["archive"]["spooled"] is True
        assert "SignatureDoesNotMatch" in metadata["archive"]["error"]
        assert metric(first, SPOOLED) == 1
        assert metric(first, "streamscribe_archive_spool_bytes") > 2 * len(clip.audio)
    finally:
        first.stop()
    assert "spooling to" in first.log()
    # The spool survives the process: the entry is complete on disk.
    [entry] = spool_entries(tmp_path / "spool")
    assert json.loads((entry / "manifest.json").read_text())["state"] == "ready"
    assert json.loads((entry / "transcript.json").read_text())["results"] == received.finals
    client = store.client()
    assert not [key for key in keys(client, bucket) if key.startswith("wrong-key/")]

    second = s3_gateway(tmp_path, store, url).start()  # same spool, the right secret
    try:
        wait_drained(second, tmp_path / "spool")
        assert metric(second, 'streamscribe_archive_recordings_total{outcome="drained"}') == 1
        assert_stored(client, bucket, metadata, clip.audio, received.finals)
    finally:
        second.stop()
    assert "uploaded spooled recording" in second.log()


async def test_missing_bucket_spools_until_the_bucket_exists(tmp_path: Path, store: SeaweedS3) -> None:
    clip = corpora.librivox_clips()[2]
    name = new_bucket_name()
    client = store.client()
    gateway = s3_gateway(tmp_path, store, f"s3://{name}/calls").start()
    try:
        received = await stream(listen_url(gateway.ws_url), audio.to_linear16(clip.audio), headers=AUTH)
        assert received.close_code == 1000 and received.finals
        metadata = received.of_type("Metadata")[0]
        assert metadata["archive"]["spooled"] is True and "NoSuchBucket" in metadata["archive"]["error"]
        assert len(spool_entries(tmp_path / "spool")) == 1
        # Until it is uploaded, the recordings endpoint says it is pending.
        answer = await asyncio.to_thread(_get_json, gateway, f"/v1/recordings/{metadata['request_id']}")
        assert answer[0] == 202 and answer[1]["audio"]["pending"] is True

        client.create_bucket(Bucket=name)
        wait_drained(gateway, tmp_path / "spool")
        assert_stored(client, name, metadata, clip.audio, received.finals)
    finally:
        gateway.stop()
        empty_and_delete(client, name)


def _get_json(gateway: ServerProcess, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(gateway.http_url + path, headers=AUTH)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def own_store(tmp_path: Path, aws_env_isolated: None) -> Iterator[SeaweedS3]:
    """A store of this test's own, since it is stopped mid-test."""
    server = SeaweedS3(tmp_path / "seaweedfs").start()
    yield server
    server.stop()


def parts_in_flight(client: Any, bucket: str) -> int:
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sum(
        len(client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])) for u in uploads
    )


async def test_store_stopped_mid_session_resumes_its_upload_when_back(tmp_path: Path, own_store: SeaweedS3) -> None:
    """90 s of an 8-channel call (22 MiB): parts reach the store, the store stops, the call goes on and ends;
    the rest waits in the spool and, once the store is back, the same multipart upload is completed."""
    client = own_store.client()
    name = new_bucket_name()
    client.create_bucket(Bucket=name)
    gateway = s3_gateway(tmp_path / "gateway", own_store, f"s3://{name}/calls").start()
    channels, speed = 8, 12.0
    block = np.random.default_rng(2).integers(-4, 5, size=(90 * 16000, channels)).astype(np.int16)
    block[:, 0] = speech_loop(90)
    pcm = block.tobytes()
    chunk = 1600 * channels * 2
    chunks = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)]
    messages: list[dict[str, Any]] = []
    try:
        url = listen_url(gateway.ws_url, channels=channels, multichannel=True)
        async with websockets.connect(url, additional_headers=AUTH, max_size=None) as ws:

            async def receive() -> None:
                async for raw in ws:
                    messages.append(json.loads(raw))

            receiver = asyncio.create_task(receive())
            cut = len(chunks) * 6 // 10
            for piece in chunks[:cut]:
                await ws.send(piece)
                await asyncio.sleep(0.1 / speed)
            deadline = time.monotonic() + 30
            while await asyncio.to_thread(parts_in_flight, client, name) < 1:
                assert time.monotonic() < deadline, "no part reached the store"
                await ws.send(json.dumps({"type": "KeepAlive"}))
                await asyncio.sleep(0.2)
            stopping = asyncio.create_task(asyncio.to_thread(own_store.stop))
            while not stopping.done():  # the client stays alive meanwhile (idle timeout: 10 s)
                await ws.send(json.dumps({"type": "KeepAlive"}))
                await asyncio.wait([stopping], timeout=1)
            for piece in chunks[cut:]:
                await ws.send(piece)
                await asyncio.sleep(0.1 / speed)
            await ws.send(json.dumps({"type": "CloseStream"}))
            await asyncio.wait_for(receiver, 120)
            assert ws.close_code == 1000
        finals = [m for m in messages if m.get("type") == "Results" and m["is_final"]]
        assert finals and {f["channel_index"][0] for f in finals} == {0}
        metadata = next(m for m in messages if m.get("type") == "Metadata")
        assert metadata["archive"]["spooled"] is True, metadata["archive"]
        [entry] = spool_entries(tmp_path / "gateway" / "spool")
        manifest = json.loads((entry / "manifest.json").read_text())
        assert manifest["upload_id"] and manifest["parts"], manifest
        assert metric(gateway, SPOOLED) == 1

        await asyncio.to_thread(own_store.start)
        wait_drained(gateway, tmp_path / "gateway" / "spool")
        assert_stored(client, name, metadata, block, finals)
        assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    finally:
        gateway.stop()


async def test_gateway_killed_mid_session_uploads_what_its_spool_kept_after_a_restart(
    tmp_path: Path, store: SeaweedS3
) -> None:
    """SIGKILL mid-call: part 1 waited on disk and parts 2.. are in the store, so after a restart the
    recording is completed with that audio and a transcript that says what happened."""
    client = store.client()
    name = new_bucket_name()
    client.create_bucket(Bucket=name)
    gateway = s3_gateway(tmp_path, store, f"s3://{name}/calls").start()
    channels = 8
    block = np.random.default_rng(3).integers(-4, 5, size=(60 * 16000, channels)).astype(np.int16)
    block[:, 0] = speech_loop(60)
    pcm = block.tobytes()
    chunk = 1600 * channels * 2
    try:
        url = listen_url(gateway.ws_url, channels=channels, multichannel=True)
        async with websockets.connect(url, additional_headers=AUTH, max_size=None) as ws:
            for i in range(0, len(pcm), chunk):
                await ws.send(pcm[i : i + chunk])
                await asyncio.sleep(0.1 / 12)
            deadline = time.monotonic() + 30
            while await asyncio.to_thread(parts_in_flight, client, name) < 1:
                assert time.monotonic() < deadline, "no part reached the store"
                await ws.send(json.dumps({"type": "KeepAlive"}))
                await asyncio.sleep(0.2)
            assert gateway.process is not None
            gateway.process.kill()
            gateway.process.wait()
        [entry] = spool_entries(tmp_path / "spool")
        journal = json.loads((entry / "manifest.json").read_text())
        assert journal["state"] == "open" and journal["upload_id"] and journal["parts"]
        kept = (entry / "head.pcm").stat().st_size + journal["middle_bytes"]

        restarted = s3_gateway(tmp_path, store, f"s3://{name}/calls").start()
        try:
            wait_drained(restarted, tmp_path / "spool")
        finally:
            restarted.stop()
        base = journal["wav_key"].removesuffix(".wav")
        stored_channels, _rate, samples = decode_wav(read(client, name, base + ".wav"))
        assert stored_channels == channels and samples.nbytes == kept
        np.testing.assert_array_equal(samples, block[: len(samples)])
        document = json.loads(read(client, name, base + ".json"))
        assert "stopped before the session ended" in document["errors"][0]
        assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    finally:
        gateway.stop()
        empty_and_delete(client, name)
