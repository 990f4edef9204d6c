"""Fixtures for the S3 archive tests: a real SeaweedFS server, buckets, gateways that archive to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.server import ServerProcess
from tests.integration.s3 import S3_API_KEY, SeaweedS3, empty_and_delete, new_bucket_name


@pytest.fixture(scope="module")
def aws_env_isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No AWS_* variable, config file or instance metadata of this machine reaches the gateways
    these tests start (they copy this process's environment) or the test's own clients."""
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                patch.delenv(name)
        patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, aws_env_isolated: None) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(store: SeaweedS3) -> Iterator[str]:
    client = store.client()
    name = new_bucket_name()
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete(client, name)


def s3_gateway(
    root: Path, store: SeaweedS3, archive_url: str, *, secret_key: str | None = None, redis_url: str | None = None
) -> ServerProcess:
    """`streamscribe serve --archive s3://...` against `store`, with its own spool under `root`;
    with `redis_url`, `streamscribe gateway` (no model in the process) on that Redis."""
    return ServerProcess(
        archive_dir=root / "archive",
        command="gateway" if redis_url else "serve",
        args=("--archive", archive_url, "--spool-dir", str(root / "spool"))
        + (("--redis-url", redis_url) if redis_url else ()),
        env={
            **store.gateway_env(secret_key=secret_key),
            "STREAMSCRIBE_LOG_LEVEL": "info",
            "STREAMSCRIBE_API_KEYS": S3_API_KEY,
            "STREAMSCRIBE_SPOOL_RETRY_MIN_S": "0.5",
            "STREAMSCRIBE_SPOOL_RETRY_MAX_S": "2",
            "STREAMSCRIBE_S3_TIMEOUT_S": "5",
        },
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, store: SeaweedS3, bucket: str) -> Iterator[ServerProcess]:
    process = s3_gateway(tmp_path_factory.mktemp("gateway"), store, f"s3://{bucket}/calls").start()
    yield process
    process.stop()
