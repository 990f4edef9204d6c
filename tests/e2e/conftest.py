from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from testbed.server import ServerProcess
from tests.e2e.uploads import make_files, openai_client

TEST_API_KEY = "test-key-0123456789"
WEBHOOK_SECRET = "webhook-secret-for-tests"
"""The main server signs webhooks with it; its callbacks may point at loopback receivers (the tests')."""
STRICT_MAX_UPLOAD_BYTES = 256 * 1024
STRICT_MAX_UPLOAD_SECONDS = 60


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server in embedded mode with the real tiny.en model."""
    root = tmp_path_factory.mktemp("server")
    env = {"STREAMSCRIBE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STREAMSCRIBE_WEBHOOK_ALLOW_PRIVATE_CALLBACKS": "true"}
    process = ServerProcess(archive_dir=root / "archive", env=env).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second server with authentication, a short idle timeout, room for two
    sessions, a 256 KiB and 60 s upload limit, a 2 s upload read timeout, and an archive directory that cannot be
    written (it is a file)."""
    root = tmp_path_factory.mktemp("strict")
    blocked = root / "archive-is-a-file"
    blocked.write_text("not a directory")
    process = ServerProcess(
        archive_dir=blocked,
        env={
            "STREAMSCRIBE_API_KEYS": TEST_API_KEY,
            "STREAMSCRIBE_IDLE_TIMEOUT_S": "1.5",
            "STREAMSCRIBE_MAX_SESSIONS": "2",
            "STREAMSCRIBE_MAX_UPLOAD_BYTES": str(STRICT_MAX_UPLOAD_BYTES),
            "STREAMSCRIBE_MAX_UPLOAD_SECONDS": str(STRICT_MAX_UPLOAD_SECONDS),
            "STREAMSCRIBE_UPLOAD_READ_TIMEOUT_S": "2",
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def archive_dir(server: ServerProcess) -> Path:
    return server.archive_dir


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real speech (JFK, then a LibriVox clip) in every container, plus JFK alone and bad inputs."""
    return make_files(tmp_path_factory.mktemp("uploads"))


@pytest.fixture(scope="session")
def oai(server: ServerProcess) -> Iterator[OpenAI]:
    with openai_client(server) as client:
        yield client
