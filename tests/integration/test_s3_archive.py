"""The S3 archive against a real SeaweedFS server, with the real server and model: what lands in the store."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from testbed import audio, corpora
from testbed.server import ServerProcess, listen_url, stream
from testbed.services import RedisServer, WorkerProcess
from tests.integration.conftest import S3_API_KEY, s3_gateway
from tests.integration.s3 import SeaweedS3, decode_wav, keys, object_base, read

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Token {S3_API_KEY}"}
WER_JFK = 0.2


async def test_session_audio_and_transcript_land_in_the_store(
    gateway: ServerProcess, store: SeaweedS3, bucket: str
) -> None:
    clip = corpora.jfk()
    received = await stream(
        listen_url(gateway.ws_url, interim_results=True, language="en", keyterm="../../etc/passwd"),
        audio.to_linear16(clip.audio),
        headers={"Authorization": f"Bearer {S3_API_KEY}"},
    )
    assert received.close_code == 1000
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK
    metadata = received.of_type("Metadata")[0]
    session_id = metadata["request_id"]
    assert metadata["archive"]["stored"] is True and metadata["archive"]["spooled"] is False
    base = object_base(metadata["archive"]["location"], bucket)
    assert re.fullmatch(rf"calls/recordings/\d{{4}}/\d{{2}}/\d{{2}}/{session_id}", base)

    client = store.client()
    assert f"calls/index/{session_id}.json" in keys(client, bucket)
    channels, rate, samples = decode_wav(read(client, bucket, base + ".wav"))
    assert (channels, rate) == (1, 16000)
    np.testing.assert_array_equal(samples[:, 0], clip.audio)

    document = json.loads(read(client, bucket, base + ".json"))
    assert document["request_id"] == session_id
    assert document["results"] == received.finals
    assert document["params"]["interim_results"] is True
    assert document["model_info"] in metadata["model_info"].values()
    assert document["duration"] == pytest.approx(len(clip.audio) / 16000, abs=0.01)
    address_hash = document["client"]["address_hash"]
    assert re.fullmatch(r"[0-9a-f]{32}", address_hash) and "127.0.0.1" not in json.dumps(document)


async def test_recordings_endpoint_gives_the_transcript_and_a_presigned_audio_url(
    gateway: ServerProcess, store: SeaweedS3, bucket: str
) -> None:
    clip = corpora.librivox_clips()[0]
    received = await stream(listen_url(gateway.ws_url), audio.to_linear16(clip.audio), headers=AUTH)
    session_id = received.of_type("Metadata")[0]["request_id"]
    url = f"{gateway.http_url}/v1/recordings/{session_id}"
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"Authorization": "Token wrong"})).status_code == 401
        missing = await http.get(f"{gateway.http_url}/v1/recordings/00000000-0000-0000-0000-000000000000", headers=AUTH)
        assert missing.status_code == 404
        assert (await http.get(f"{gateway.http_url}/v1/recordings/..%2F..%2Fetc", headers=AUTH)).status_code == 404

        answer = await http.get(url, headers=AUTH)
        assert answer.status_code == 200
        body = answer.json()
        assert body["request_id"] == session_id and body["results"] == received.finals
        assert body["audio"]["url"].startswith(store.endpoint_url) and "X-Amz-Signature" in body["audio"]["url"]
        wav = await http.get(body["audio"]["url"])  # presigned: no credentials needed
        assert wav.status_code == 200
        np.testing.assert_array_equal(decode_wav(wav.content)[2][:, 0], clip.audio)

        redirect = await http.get(url + "/audio", headers=AUTH)
        assert redirect.status_code == 307 and "X-Amz-Signature" in redirect.headers["location"]


async def test_archive_false_opts_a_session_out(gateway: ServerProcess, store: SeaweedS3, bucket: str) -> None:
    clip = corpora.librivox_clips()[1]
    received = await stream(listen_url(gateway.ws_url, archive=False), audio.to_linear16(clip.audio), headers=AUTH)
    assert received.close_code == 1000 and received.finals
    metadata = received.of_type("Metadata")[0]
    assert metadata["archive"]["stored"] is False and "archive=false" in metadata["archive"]["error"]
    assert not [key for key in keys(store.client(), bucket) if metadata["request_id"] in key]


def speech_loop(seconds: float) -> np.ndarray[Any, np.dtype[np.int16]]:
    """LibriVox clips with pauses, looped to `seconds`."""
    loop, _ = audio.conversation(corpora.librivox_clips(), gap_s=3.0, lead_s=0.5, tail_s=2.0)
    repeats = int(seconds * 16000 // len(loop)) + 1
    return np.tile(loop, repeats)[: int(seconds * 16000)]


class Watcher(threading.Thread):
    """Samples the gateway's RSS and the store's in-progress multipart uploads while a session runs."""

    def __init__(self, pid: int, store: SeaweedS3, bucket: str) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.client = store.client()
        self.bucket = bucket
        self.peak_rss = 0
        self.parts_seen = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            for upload in self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
                try:
                    parts = self.client.list_parts(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                except self.client.exceptions.NoSuchUpload:
                    continue  # completed between the listing and this call
                self.parts_seen = max(self.parts_seen, len(parts.get("Parts", [])))
            time.sleep(0.1)


@pytest.fixture
def distributed_gateway(tmp_path: Path, store: SeaweedS3, bucket: str) -> Iterator[ServerProcess]:
    """A gateway without a model (its memory is the sessions' and the archive's), one worker, one Redis."""
    redis_server = RedisServer(tmp_path / "redis").start()
    worker = WorkerProcess(redis_server.url, tmp_path / "worker.log", worker_id="w-s3").start()
    process: ServerProcess | None = None
    try:
        worker.wait_warm(redis_server.client())
        process = s3_gateway(tmp_path, store, f"s3://{bucket}/long", redis_url=redis_server.url).start()
        yield process
    finally:
        if process is not None:
            process.stop()
        worker.stop()
        redis_server.stop()


async def test_long_session_streams_in_parts_and_gateway_memory_stays_bounded(
    distributed_gateway: ServerProcess, store: SeaweedS3, bucket: str
) -> None:
    """Four minutes of an 8-channel call (speech on channel 0, a faint hiss on the others) at 12x real time:
    59 MiB of audio. It must reach the store in parts while the call runs, and the gateway must not hold it."""
    gateway = distributed_gateway
    channels, seconds, speed = 8, 240.0, 12.0
    warm_up = await stream(listen_url(gateway.ws_url), audio.to_linear16(corpora.jfk().audio), headers=AUTH)
    assert warm_up.of_type("Metadata")[0]["archive"]["stored"] is True
    speech = speech_loop(seconds)
    block = np.random.default_rng(1).integers(-4, 5, size=(len(speech), channels)).astype(np.int16)
    block[:, 0] = speech
    pcm = block.tobytes()
    assert gateway.process is not None
    watcher = Watcher(gateway.process.pid, store, bucket)
    baseline = watcher.process.memory_info().rss
    watcher.start()
    chunk = 1600 * channels * 2  # 100 ms
    try:
        received = await stream(
            listen_url(gateway.ws_url, channels=channels, multichannel=True),
            pcm,
            chunk_bytes=chunk,
            pace_s=0.1 / speed,
            headers=AUTH,
            timeout_s=400,
        )
    finally:
        watcher.stopping.set()
        watcher.join()
    assert received.close_code == 1000
    assert {f["channel_index"][0] for f in received.finals} == {0}
    metadata = received.of_type("Metadata")[0]
    assert metadata["archive"]["stored"] is True
    # Parts 2, 3, ... went up while the call ran (part 1, with the header, goes last).
    assert watcher.parts_seen >= 8, watcher.parts_seen
    growth = watcher.peak_rss - baseline
    assert growth < len(pcm) / 2, f"gateway RSS grew {growth / 2**20:.0f} MiB for {len(pcm) / 2**20:.0f} MiB of audio"

    data = read(store.client(), bucket, object_base(metadata["archive"]["location"], bucket) + ".wav")
    stored_channels, _rate, samples = decode_wav(data)
    assert stored_channels == channels
    np.testing.assert_array_equal(samples, block)
