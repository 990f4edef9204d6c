"""GET /v1/recordings/{id} over the local-directory archive: the transcript, and the WAV streamed."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.routing import Route

from server.archive.base import LocalArchive
from server.config import Settings
from server.http.recordings import get_recording, get_recording_audio

STARTED = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def app_for(root: Path) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/recordings/{session_id}", get_recording),
            Route("/v1/recordings/{session_id}/audio", get_recording_audio, name="recording_audio"),
        ]
    )
    app.state.gateway = SimpleNamespace(policy=Settings(api_keys=["k1"]).access_policy(), archive=LocalArchive(root))
    return app


async def test_transcript_and_streamed_audio(tmp_path: Path) -> None:
    recording = await LocalArchive(tmp_path).open("s-1", STARTED, channels=1)
    samples = (np.arange(32000) % 3000).astype(np.int16).reshape(-1, 1)
    await recording.write(samples)
    assert (await recording.finish({"request_id": "s-1", "results": [{"x": 1}]})).stored
    transport = httpx.ASGITransport(app=app_for(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/v1/recordings/s-1")).status_code == 401
        assert (await client.get("/v1/recordings/s-1", headers={"Authorization": "Token k2"})).status_code == 401
        answer = await client.get("/v1/recordings/s-1", headers={"Authorization": "Bearer k1"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["results"] == [{"x": 1}]
        assert body["audio"]["url"] == "http://gw/v1/recordings/s-1/audio"
        assert (await client.get("/v1/recordings/s-1/audio")).status_code == 401
        audio = await client.get(body["audio"]["url"], headers={"Authorization": "Token k1"})
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(audio.content)) as wav:
            stored = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        np.testing.assert_array_equal(stored, samples[:, 0])
        for missing in ("/v1/recordings/s-2", "/v1/recordings/..", "/v1/recordings/%2E%2E%2Fx"):
            assert (await client.get(missing, headers={"Authorization": "Token k1"})).status_code == 404
