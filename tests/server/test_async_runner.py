"""The asynchronous upload runner on the embedded runtime (a stand-in transcriber, the real pipeline, store,
webhook sender and an HTTP receiver): the callback carries the Deepgram response or the error body, signed;
a job interrupted by a stop is put back and finished by the next runner; one interrupted too often fails."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.jobs.async_uploads import AsyncJob, AsyncStatus
from server.runtime.embedded import Runtime, embedded_runtime
from server.uploads.async_runner import AsyncUploadRunner
from server.webhook_security import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature
from testbed import audio, corpora
from testbed.receiver import Delivery, WebhookReceiver
from tests.server.test_pipeline import FakeTranscriber

SECRET = "runner-secret"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("runner") / "jfk.wav"
    audio.write_wav(path, corpora.jfk().audio)
    return path.read_bytes()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        archive_dir=tmp_path / "archive",
        async_intake_dir=tmp_path / "intake",
        workers=1,
        webhook_secret=SECRET,  # type: ignore[arg-type]
        webhook_allow_private_callbacks=True,
        webhook_backoff_initial_s=0.05,
    )


@contextlib.asynccontextmanager
async def serving(settings: Settings, transcriber: FakeTranscriber) -> AsyncIterator[tuple[Runtime, AsyncUploadRunner]]:
    """The runtime and a runner, stopped in the app's order (the runner first)."""
    runtime = embedded_runtime(settings, transcriber_factory=lambda: transcriber)
    await runtime.startup()
    assert runtime.gateway.async_jobs is not None
    runner = AsyncUploadRunner(runtime.gateway, runtime.gateway.async_jobs)
    runner.start()
    try:
        yield runtime, runner
    finally:
        await runner.stop()
        await runtime.shutdown()


async def accept(runtime: Runtime, request_id: str, body: bytes, callback: str, **changes: Any) -> None:
    store = runtime.gateway.async_jobs
    assert store is not None
    now = time.time()
    job = AsyncJob(request_id, callback, (("utterances", "true"),), "", None, "0" * 64, len(body), now, now)
    await store.accept(dataclasses.replace(job, **changes), io.BytesIO(body))


async def deliveries(receiver: WebhookReceiver, count: int = 1, timeout_s: float = 20.0) -> list[Delivery]:
    deadline = time.monotonic() + timeout_s
    while True:
        if len(receiver.deliveries) >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert len(receiver.deliveries) >= count, f"{len(receiver.deliveries)} callback(s) after {timeout_s} s"
    return list(receiver.deliveries)


async def status_of(runtime: Runtime, request_id: str, wanted: AsyncStatus, delivered: bool | None) -> AsyncJob:
    store = runtime.gateway.async_jobs
    assert store is not None
    deadline = time.monotonic() + 10
    while True:
        job = await store.lookup(request_id)
        if (job is not None and job.status is wanted and job.delivered is delivered) or time.monotonic() > deadline:
            assert job is not None and (job.status, job.delivered) == (wanted, delivered), job
            return job
        await asyncio.sleep(0.05)


async def test_a_job_runs_and_its_signed_callback_carries_the_deepgram_response(
    tmp_path: Path, speech: bytes, receiver: WebhookReceiver
) -> None:
    async with serving(settings_for(tmp_path), FakeTranscriber()) as (runtime, _):
        await accept(runtime, "job-1", speech, receiver.url)
        (delivery,) = await deliveries(receiver)
        body = delivery.json()
        assert body["metadata"]["request_id"] == "job-1"
        transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"]
        assert transcript.startswith("word1.") and body["results"]["utterances"], "the stored query applies"
        assert verify_signature(SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
        assert delivery.headers[EVENT_ID_HEADER.lower()] == "job-1.result"
        job = await status_of(runtime, "job-1", AsyncStatus.DONE, delivered=True)
        assert job.result == body and job.attempts == 1
        assert not (tmp_path / "intake" / "job-1.body").exists()
        assert list((tmp_path / "archive" / "recordings").glob("*/*/*/job-1.json")), "archived like an upload"


async def test_a_failed_transcription_posts_the_error_body(
    tmp_path: Path, speech: bytes, receiver: WebhookReceiver
) -> None:
    async with serving(settings_for(tmp_path), FakeTranscriber(fail=True)) as (runtime, _):
        await accept(runtime, "job-2", speech, receiver.url)
        (delivery,) = await deliveries(receiver)
        body = delivery.json()
        assert body["request_id"] == "job-2" and body["err_code"] == "TRANSCRIPTION_FAILED"
        assert "model exploded" in body["err_msg"]
        job = await status_of(runtime, "job-2", AsyncStatus.FAILED, delivered=True)
        assert job.error == {"err_code": body["err_code"], "err_msg": body["err_msg"]}


async def test_a_job_interrupted_by_a_stop_is_finished_by_the_next_runner(
    tmp_path: Path, speech: bytes, receiver: WebhookReceiver
) -> None:
    settings = settings_for(tmp_path)
    slow = FakeTranscriber(first_delay_s=3.0)
    async with serving(settings, slow) as (runtime, _):
        await accept(runtime, "job-3", speech, receiver.url)
        assert await asyncio.to_thread(slow.started.wait, 10)
    # Stopped mid-job: put back, its body kept.
    assert receiver.deliveries == []
    assert (tmp_path / "intake" / "job-3.body").exists()
    async with serving(settings, FakeTranscriber()) as (runtime, _):
        queued = await runtime.gateway.async_jobs.lookup("job-3")  # type: ignore[union-attr]
        assert queued is not None and queued.attempts == 1
        (delivery,) = await deliveries(receiver)
        assert delivery.json()["metadata"]["request_id"] == "job-3"
        job = await status_of(runtime, "job-3", AsyncStatus.DONE, delivered=True)
        assert job.attempts == 2


async def test_a_job_interrupted_too_often_fails_without_running(
    tmp_path: Path, speech: bytes, receiver: WebhookReceiver
) -> None:
    transcriber = FakeTranscriber()
    async with serving(settings_for(tmp_path), transcriber) as (runtime, _):
        await accept(runtime, "job-4", speech, receiver.url, status=AsyncStatus.RUNNING, attempts=3)
        (delivery,) = await deliveries(receiver)
        assert delivery.json()["err_code"] == "INTERRUPTED"
        assert "interrupted 3 times" in delivery.json()["err_msg"]
        await status_of(runtime, "job-4", AsyncStatus.FAILED, delivered=True)
    assert transcriber.calls == []


async def test_a_refused_callback_is_recorded_as_not_delivered(tmp_path: Path, speech: bytes) -> None:
    settings = settings_for(tmp_path).model_copy(update={"webhook_allow_private_callbacks": False})
    async with serving(settings, FakeTranscriber()) as (runtime, _):
        await accept(runtime, "job-5", speech, "http://127.0.0.1:9/hook")
        await status_of(runtime, "job-5", AsyncStatus.DONE, delivered=False)
