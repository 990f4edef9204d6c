"""The official Deepgram Python SDK, unchanged, pointed at our server: the proof
that the live protocol is compatible."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from deepgram import AsyncDeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.types import ListenV1Metadata, ListenV1Results, ListenV1SpeechStarted, ListenV1UtteranceEnd

from testbed import audio, corpora
from testbed.server import ServerProcess
from tests.e2e.conftest import TEST_API_KEY

pytestmark = pytest.mark.e2e

CHUNK_BYTES = 3200  # 100 ms of 16 kHz linear16


def environment(server: ServerProcess) -> DeepgramClientEnvironment:
    return DeepgramClientEnvironment(
        base=server.http_url, production=server.ws_url, agent=server.ws_url, agent_rest=server.http_url
    )


async def run_sdk_stream(server: ServerProcess, api_key: str, pcm: bytes) -> list[Any]:
    client = AsyncDeepgramClient(api_key=api_key, environment=environment(server))
    messages: list[Any] = []
    async with client.listen.v1.connect(
        model="nova-3",
        encoding="linear16",
        sample_rate=16000,
        channels=1,
        interim_results="true",
        vad_events="true",
        utterance_end_ms=1000,
        punctuate="true",
        smart_format="true",
    ) as connection:

        async def receive() -> None:
            async for message in connection:
                messages.append(message)

        receiver = asyncio.create_task(receive())
        # Real time, like a microphone: how many interims a faster-than-real-time
        # sender gets depends on how fast the machine decodes.
        for offset in range(0, len(pcm), CHUNK_BYTES):
            await connection.send_media(pcm[offset : offset + CHUNK_BYTES])
            await asyncio.sleep(CHUNK_BYTES / 2 / 16000)
        await connection.send_close_stream()
        await asyncio.wait_for(receiver, 60)
    return messages


async def test_deepgram_sdk_streams_and_receives_interim_and_final(server: ServerProcess) -> None:
    clip = corpora.jfk()
    pcm, _ = audio.conversation([clip], gap_s=0, lead_s=0.5, tail_s=1.5)
    messages = await run_sdk_stream(server, "any-key-when-auth-is-off", audio.to_linear16(pcm))

    results = [m for m in messages if isinstance(m, ListenV1Results)]
    finals = [r for r in results if r.is_final]
    interims = [r for r in results if not r.is_final]
    assert interims, "no interim results parsed by the SDK"
    assert finals
    transcript = " ".join(r.channel.alternatives[0].transcript for r in finals)
    assert audio.wer(clip.text, transcript) <= 0.15, transcript
    words = [w for r in finals for w in r.channel.alternatives[0].words]
    assert all(w.start <= w.end for w in words) and words[0].punctuated_word
    assert finals[-1].metadata.model_info.name == "tiny.en"
    assert any(r.speech_final for r in finals)
    assert any(isinstance(m, ListenV1SpeechStarted) for m in messages)
    assert any(isinstance(m, ListenV1UtteranceEnd) for m in messages)
    assert isinstance(messages[-1], ListenV1Metadata)
    assert messages[-1].duration == pytest.approx(len(pcm) / 16000, abs=0.01)


async def test_deepgram_sdk_authenticates_with_api_key(strict_server: ServerProcess) -> None:
    clip = corpora.jfk()
    messages = await run_sdk_stream(strict_server, TEST_API_KEY, audio.to_linear16(clip.audio))
    finals = [m for m in messages if isinstance(m, ListenV1Results) and m.is_final]
    assert audio.wer(clip.text, " ".join(r.channel.alternatives[0].transcript for r in finals)) <= 0.15


async def test_deepgram_sdk_wrong_key_is_refused(strict_server: ServerProcess) -> None:
    from deepgram.core.api_error import ApiError

    with pytest.raises(ApiError) as refused:
        await run_sdk_stream(strict_server, "wrong-key", b"")
    assert refused.value.status_code == 401
