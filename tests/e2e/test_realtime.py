"""OpenAI Realtime transcription sessions through the official `openai` SDK, unchanged,
pointed at our server: real speech at real-time pace, 24 kHz PCM and G.711, server VAD
and manual commits, both session-update forms; then bad input, auth and client secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI
from openai.types.beta import realtime as beta_types
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)

from streaming.codecs import ALAW_TABLE
from testbed import audio, corpora
from testbed.server import ServerProcess
from tests.e2e.conftest import TEST_API_KEY
from tests.e2e.test_live import WER_JFK, WER_LIBRIVOX
from tests.unit.session_harness import g711_encode

pytestmark = pytest.mark.e2e

CHUNK_S = 0.1
COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"


class Session:
    """An SDK connection, its events as the SDK parsed them, and real-time sending."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[Any] = []
        self.arrived = asyncio.Event()

    async def receive(self) -> None:
        async for event in self.connection:
            self.events.append(event)
            self.arrived.set()

    def of_type(self, kind: str) -> list[Any]:
        return [event for event in self.events if event.type == kind]

    async def wait_for(self, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))

    async def send_audio(self, wire: bytes, bytes_per_second: int) -> None:
        """The audio at real-time pace, like a microphone, in 100 ms appends."""
        chunk = int(bytes_per_second * CHUNK_S)
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(wire), chunk)):
            piece = base64.b64encode(wire[offset : offset + chunk]).decode()
            await self.connection.input_audio_buffer.append(audio=piece)
            await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.monotonic()))


@asynccontextmanager
async def realtime(server: ServerProcess, *, beta: bool = False, api_key: str = "any") -> AsyncIterator[Session]:
    # The beta client always speaks wss:// unless told the WebSocket base (the GA client derives it).
    client = AsyncOpenAI(
        base_url=server.http_url + "/v1", websocket_base_url=server.ws_url + "/v1", api_key=api_key, max_retries=0
    )
    query = {"intent": "transcription"}
    if beta:
        manager: Any = client.beta.realtime.connect(model="gpt-4o-transcribe", extra_query=query)
    else:
        manager = client.realtime.connect(extra_query=query)
    async with client, manager as connection:
        session = Session(connection)
        receiver = asyncio.create_task(session.receive())
        try:
            await session.wait_for(lambda: bool(session.events), 10)
            yield session
        finally:
            await connection.close()
            await asyncio.wait_for(receiver, 10)


def pcm24k(samples: np.ndarray) -> bytes:
    return audio.to_linear16(audio.resample(samples, 16000, 24000))


def alaw8k(samples: np.ndarray) -> bytes:
    return g711_encode(audio.resample(samples, 16000, 8000), ALAW_TABLE)


def assert_items_in_order(session: Session, *, ga: bool, vad: bool) -> list[str]:
    """Each item: (speech_started, speech_stopped,) committed, added/created, deltas, completed (, done), in
    that order; items chained by previous_item_id; deltas before their completed. Returns the item ids."""
    committed = session.of_type("input_audio_buffer.committed")
    ids = [event.item_id for event in committed]
    assert len(set(ids)) == len(ids) and ids
    assert [event.previous_item_id for event in committed] == [None, *ids[:-1]]
    position = {id(event): index for index, event in enumerate(session.events)}
    for item in ids:
        mine = [e for e in session.events if getattr(e, "item_id", None) == item or _item_of(e) == item]
        kinds = [e.type for e in mine]
        expected_head = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"] if vad else []
        head = [*expected_head, "input_audio_buffer.committed"]
        item_event = "conversation.item.added" if ga else "conversation.item.created"
        assert [k for k in kinds if k != DELTA][: len(head) + 1] == [*head, item_event], kinds
        assert kinds.count(COMPLETED) == 1 and kinds.count(DELTA) >= 1, kinds
        completed = next(e for e in mine if e.type == COMPLETED)
        assert all(position[id(e)] < position[id(completed)] for e in mine if e.type == DELTA)
        if ga:
            assert kinds[-1] == "conversation.item.done" and mine[-1].item.content[0].transcript == completed.transcript
        else:
            assert kinds[-1] == COMPLETED
        assert completed.usage.type == "duration" and completed.usage.seconds > 0
    return ids


def _item_of(event: Any) -> str | None:
    item = getattr(event, "item", None)
    return getattr(item, "id", None)


def transcripts(session: Session) -> list[str]:
    return [event.transcript for event in session.of_type(COMPLETED)]


async def test_ga_server_vad_24k_pcm_deltas_then_completed_per_turn(server: ServerProcess) -> None:
    clips = corpora.librivox_clips()[:3]
    pcm, utterances = audio.conversation(clips, gap_s=1.5, lead_s=0.5, tail_s=1.5)
    async with realtime(server) as session:
        assert isinstance(session.events[0], SessionCreatedEvent)
        assert session.events[0].session.type == "transcription"
        await session.connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "threshold": 0.5},
                        "noise_reduction": {"type": "near_field"},
                    }
                },
            }
        )
        await session.send_audio(pcm24k(pcm), 48000)
        await session.wait_for(lambda: len(session.of_type(COMPLETED)) >= len(utterances))
        await asyncio.sleep(1.0)  # nothing more should be pending; let any stray event arrive
    updated = [e for e in session.events if isinstance(e, SessionUpdatedEvent)]
    assert len(updated) == 1 and updated[0].session.audio.input.turn_detection.silence_duration_ms == 500
    assert not session.of_type("error"), session.of_type("error")
    ids = assert_items_in_order(session, ga=True, vad=True)
    assert len(ids) >= len(utterances)
    assert all(isinstance(e, ConversationItemInputAudioTranscriptionDeltaEvent) for e in session.of_type(DELTA))
    completed = session.of_type(COMPLETED)
    assert all(isinstance(e, ConversationItemInputAudioTranscriptionCompletedEvent) for e in completed)
    assert all(isinstance(e, ConversationItemAdded) for e in session.of_type("conversation.item.added"))
    assert all(isinstance(e, ConversationItemDone) for e in session.of_type("conversation.item.done"))
    assert all(isinstance(e, InputAudioBufferCommittedEvent) for e in session.of_type("input_audio_buffer.committed"))
    stopped = session.of_type("input_audio_buffer.speech_stopped")
    assert all(isinstance(e, InputAudioBufferSpeechStoppedEvent) for e in stopped)
    started = session.of_type("input_audio_buffer.speech_started")
    assert all(isinstance(e, InputAudioBufferSpeechStartedEvent) for e in started)
    for utterance in utterances:  # audio_start_ms on the stream's clock, near the true starts
        assert any(abs(e.audio_start_ms / 1000 - utterance.start) < 0.6 for e in started), (utterance, started)
    reference = " ".join(clip.text for clip in clips)
    assert audio.wer(reference, " ".join(transcripts(session))) <= WER_LIBRIVOX, transcripts(session)
    for item in ids:  # deltas only append: joined, they are the item's words read so far
        joined = "".join(e.delta for e in session.of_type(DELTA) if e.item_id == item)
        final = next(e.transcript for e in completed if e.item_id == item)
        assert audio.wer(final, joined) <= 0.35, (joined, final)


async def test_beta_manual_commits_g711_ulaw(server: ServerProcess) -> None:
    clips = [corpora.jfk(), corpora.librivox_clips()[3]]
    async with realtime(server, beta=True) as session:
        assert session.events[0].type == "transcription_session.created"
        await session.connection.transcription_session.update(
            session={
                "input_audio_format": "g711_ulaw",
                "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": None,
            }
        )
        for number, clip in enumerate(clips, 1):
            speech = np.concatenate([audio.silence(0.3), clip.audio, audio.silence(0.3)])
            await session.send_audio(audio.to_mulaw_8k(speech), 8000)
            await session.connection.input_audio_buffer.commit()
            await session.wait_for(lambda n=number: len(session.of_type(COMPLETED)) >= n)
    (updated,) = [e for e in session.events if isinstance(e, beta_types.TranscriptionSessionUpdatedEvent)]
    assert updated.session.turn_detection is None and updated.session.input_audio_format == "g711_ulaw"
    assert not session.of_type("input_audio_buffer.speech_started")  # no VAD events with manual commits
    assert all(
        isinstance(e, beta_types.ConversationItemCreatedEvent) for e in session.of_type("conversation.item.created")
    )
    assert not session.of_type("error"), session.of_type("error")
    ids = assert_items_in_order(session, ga=False, vad=False)
    assert len(ids) == len(clips)  # one item per commit, whatever the pauses inside
    for clip, text in zip(clips, transcripts(session), strict=True):
        assert audio.wer(clip.text, text) <= WER_JFK + 0.1, text


async def test_ga_manual_commit_g711_alaw_and_clear(server: ServerProcess) -> None:
    jfk = corpora.jfk()
    dropped = corpora.librivox_clips()[1]
    async with realtime(server) as session:
        await session.connection.session.update(
            session={"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcma"}}}}
        )
        await session.connection.session.update(
            session={"type": "transcription", "audio": {"input": {"turn_detection": None}}}  # merged: stays A-law
        )
        await session.send_audio(alaw8k(dropped.audio), 8000)
        await session.connection.input_audio_buffer.clear()
        await session.wait_for(lambda: bool(session.of_type("input_audio_buffer.cleared")))
        await session.send_audio(alaw8k(np.concatenate([jfk.audio, audio.silence(0.3)])), 8000)
        await session.connection.input_audio_buffer.commit()
        await session.wait_for(lambda: bool(session.of_type("conversation.item.done")))
    second = [e for e in session.events if isinstance(e, SessionUpdatedEvent)][-1]
    assert second.session.audio.input.format.type == "audio/pcma" and second.session.audio.input.turn_detection is None
    (text,) = transcripts(session)
    assert audio.wer(jfk.text, text) <= WER_JFK, text
    assert "disposed" not in " ".join(e.delta for e in session.of_type(DELTA)).lower()  # cleared: nothing said
    assert_items_in_order(session, ga=True, vad=False)


async def next_event(ws: Any, kind: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if kind is None or event["type"] == kind:
            return event


async def test_bad_input_is_answered_with_error_events_and_the_session_goes_on(server: ServerProcess) -> None:
    url = server.ws_url + "/v1/realtime?intent=transcription"
    async with websockets.connect(url, max_size=None) as ws:
        assert (await next_event(ws))["type"] == "session.created"
        bad: list[tuple[str, str, str | None]] = [
            (json.dumps({"type": "response.create", "event_id": "evt_1"}), "invalid_value", "type"),
            ("{not json", "invalid_json", None),
            (json.dumps({"type": "session.update", "session": {"type": "transcription",
                         "audio": {"input": {"format": {"type": "audio/opus"}}}}}), "invalid_value",
             "session.audio.input.format.type"),
            (json.dumps({"type": "input_audio_buffer.append", "audio": "%% no base64 %%"}), "invalid_value", "audio"),
            (json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (2 * 1024 * 1024)}),
             "string_above_max_length", "audio"),
            (json.dumps({"type": "input_audio_buffer.commit"}), "input_audio_buffer_commit_empty", None),
        ]  # fmt: skip
        for text, code, param in bad:
            await ws.send(text)
            error = (await next_event(ws, "error"))["error"]
            assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param), error
        manual = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        await ws.send(json.dumps({"type": "session.update", "session": manual}))  # updates still work
        assert (await next_event(ws))["type"] == "session.updated"
        jfk = corpora.jfk()
        wire = pcm24k(np.concatenate([jfk.audio, audio.silence(0.3)]))
        for offset in range(0, len(wire), 48000):  # one second per append, faster than real time
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(
                wire[offset : offset + 48000]).decode()}))  # fmt: skip
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        completed = await next_event(ws, COMPLETED, timeout_s=60)
        assert audio.wer(jfk.text, completed["transcript"]) <= WER_JFK, completed


async def test_intent_is_required(server: ServerProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url + "/v1/realtime?model=gpt-realtime"):
            pass
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["error"]["code"] == "unsupported_intent"


async def test_keys_client_secrets_and_the_browser_subprotocol(strict_server: ServerProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with realtime(strict_server, api_key="wrong-key"):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    async with realtime(strict_server, api_key=TEST_API_KEY) as session:  # Authorization: Bearer KEY
        assert isinstance(session.events[0], SessionCreatedEvent)

    async with AsyncOpenAI(base_url=strict_server.http_url + "/v1", api_key=TEST_API_KEY, max_retries=0) as minted:
        secret = await minted.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": 60},
            session={"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
        )
        beta = await minted.beta.realtime.transcription_sessions.create(input_audio_format="g711_alaw")
    assert secret.value.startswith("sst.") and secret.expires_at > time.time()
    assert secret.session.type == "transcription"
    url = strict_server.ws_url + "/v1/realtime?intent=transcription"
    protocols = [websockets.Subprotocol("realtime"), websockets.Subprotocol(f"openai-insecure-api-key.{secret.value}")]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # a browser: no headers, the secret
        assert ws.subprotocol == "realtime"
        assert (await next_event(ws))["type"] == "session.created"
    async with realtime(strict_server, api_key=secret.value) as session:  # the SDK with the secret as its key
        assert isinstance(session.events[0], SessionCreatedEvent)

    assert beta.client_secret.value.startswith("sst.") and beta.input_audio_format == "g711_alaw"
    async with realtime(strict_server, beta=True, api_key=beta.client_secret.value) as session:
        assert session.events[0].type == "transcription_session.created"

    async with AsyncOpenAI(base_url=strict_server.http_url + "/v1", api_key=secret.value, max_retries=0) as again:
        with pytest.raises(Exception) as cannot:  # a secret cannot mint another
            await again.realtime.client_secrets.create()
    assert getattr(cannot.value, "status_code", None) == 401
