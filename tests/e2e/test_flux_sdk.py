"""Deepgram Flux (`/v2/listen`) through the official Deepgram SDK, unchanged, pointed
at the real server with the real tiny.en model, real speech at real-time pace."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from deepgram import AsyncDeepgramClient
from deepgram.listen.v2.socket_client import AsyncV2SocketClient
from deepgram.listen.v2.types import (
    ListenV2ConfigureFailure,
    ListenV2ConfigureSuccess,
    ListenV2Connected,
    ListenV2FatalError,
    ListenV2TurnInfo,
)
from websockets.exceptions import ConnectionClosed

from testbed import audio, corpora
from testbed.server import ServerProcess
from tests.e2e.test_deepgram_sdk import environment
from tests.e2e.test_live import WER_JFK, WER_LIBRIVOX

pytestmark = pytest.mark.e2e

CHUNK_S = 0.1
Control = Callable[[AsyncV2SocketClient], Awaitable[None]]


@dataclass
class FluxRun:
    messages: list[Any] = field(default_factory=list)
    close_code: int | None = None
    """None: the socket closed normally (1000)."""

    def turns(self, *, updates: bool = False) -> list[ListenV2TurnInfo]:
        return [m for m in self.messages if isinstance(m, ListenV2TurnInfo) and (updates or m.event != "Update")]

    def ends(self) -> list[ListenV2TurnInfo]:
        return [m for m in self.turns() if m.event == "EndOfTurn"]

    def text(self) -> str:
        return " ".join(m.transcript for m in self.ends())


async def flux(
    server: ServerProcess,
    pcm: bytes,
    *,
    rate: int = 16_000,
    bytes_per_sample: int = 2,
    script: dict[float, list[Control]] | None = None,
    **query: Any,
) -> FluxRun:
    """Stream `pcm` at real time through `listen.v2.connect`; `script`: controls sent at these stream times."""
    client = AsyncDeepgramClient(api_key="any-key-when-auth-is-off", environment=environment(server))
    run = FluxRun()
    chunk = round(rate * CHUNK_S) * bytes_per_sample
    pending = sorted((script or {}).items())
    settings = {"model": "flux-general-en", "encoding": "linear16", "sample_rate": rate, **query}
    async with client.listen.v2.connect(**settings) as connection:

        async def receive() -> None:
            try:
                async for message in connection:
                    run.messages.append(message)
            except ConnectionClosed as closed:
                run.close_code = closed.rcvd.code if closed.rcvd else 1006

        receiver = asyncio.create_task(receive())
        with contextlib.suppress(ConnectionClosed):  # a refused stream is closed at once
            for index, offset in enumerate(range(0, len(pcm), chunk)):
                while pending and pending[0][0] <= index * CHUNK_S + 1e-9:
                    for control in pending.pop(0)[1]:
                        await control(connection)
                await connection.send_media(pcm[offset : offset + chunk])
                await asyncio.sleep(CHUNK_S)
            for _, controls in pending:
                for control in controls:
                    await control(connection)
            await connection.send_close_stream()
        await asyncio.wait_for(receiver, 60)
    return run


def assert_flux_rules(run: FluxRun) -> None:
    """Connected first, sequence ids from 0, and the turn rules Flux states."""
    assert isinstance(run.messages[0], ListenV2Connected)
    assert [m.sequence_id for m in run.messages] == list(range(len(run.messages)))
    index, eager, open_ = 0, None, False
    for info in run.turns(updates=True):
        assert info.turn_index == index, info
        if info.event == "StartOfTurn":
            assert not open_
            open_ = True
            continue
        assert open_, f"{info.event} outside a turn"
        if info.event == "EagerEndOfTurn":
            assert info.transcript and eager is None
            eager = info.transcript
        elif info.event == "TurnResumed":
            assert eager is not None
            eager = None
        elif info.event == "EndOfTurn":
            assert eager is None or info.transcript == eager
            assert info.trigger in ("model", "manual", "timeout")
            eager, index, open_ = None, index + 1, False


def updates_cadence(run: FluxRun) -> list[float]:
    """Audio between successive TurnInfos inside turns (audio_window_end advances with the transcribed audio)."""
    gaps: list[float] = []
    previous: ListenV2TurnInfo | None = None
    for info in run.turns(updates=True):
        if previous is not None and info.event == "Update" and previous.turn_index == info.turn_index:
            gaps.append(info.audio_window_end - previous.audio_window_end)
        previous = info
    return gaps


async def test_turns_of_a_conversation_with_eager_ends(server: ServerProcess) -> None:
    clips = corpora.librivox_clips()[:3]
    pcm, utterances = audio.conversation(clips, gap_s=1.5)
    run = await flux(server, audio.to_linear16(pcm), eager_eot_threshold=0.5)
    assert run.close_code is None
    assert_flux_rules(run)
    events = [m.event for m in run.turns()]
    assert events.count("StartOfTurn") >= len(utterances) and events.count("EagerEndOfTurn") >= 1
    # The 1.5 s gaps end every utterance's turn; pauses inside one may end more.
    ends = run.ends()
    assert len(ends) >= len(utterances) and all(end.transcript for end in ends)
    # Every utterance's turn has ended before the next utterance begins.
    starts = [u.start for u in utterances[1:]] + [len(pcm) / 16_000 + 1]
    for utterance, next_start in zip(utterances, starts, strict=True):
        assert any(utterance.start < end.audio_window_end < next_start for end in ends), (utterance, ends)
    reference = " ".join(clip.text for clip in clips)
    assert audio.wer(reference, run.text()) <= WER_LIBRIVOX, run.text()
    # Updates while a turn is open, about every 0.25 s of audio (StartOfTurn's window is empty).
    assert len(updates_cadence(run)) >= 10


async def test_configure_and_force_end_turn(server: ServerProcess) -> None:
    clip = corpora.jfk()
    pcm, _ = audio.conversation([clip], lead_s=0.5, tail_s=1.0)

    async def manual(connection: AsyncV2SocketClient) -> None:
        # Turns end only when told (eot_threshold 1.0), whatever the pauses in the speech.
        await connection.send_configure({"type": "Configure", "thresholds": {"eot_threshold": 1.0,
                                                                             "eot_timeout_ms": 60_000}})  # fmt: skip

    async def out_of_range(connection: AsyncV2SocketClient) -> None:
        await connection.send_configure({"type": "Configure", "thresholds": {"eager_eot_threshold": 2}})

    async def force(connection: AsyncV2SocketClient) -> None:
        await connection.send_force_end_turn()

    script = {0.0: [manual, out_of_range], clip.duration + 1.2: [force]}
    run = await flux(server, audio.to_linear16(pcm), script=script)
    assert run.close_code is None
    assert_flux_rules(run)
    (success,) = [m for m in run.messages if isinstance(m, ListenV2ConfigureSuccess)]
    assert success.thresholds.eot_threshold == 1.0 and success.thresholds.eot_timeout_ms == 60_000
    (failure,) = [m for m in run.messages if isinstance(m, ListenV2ConfigureFailure)]
    assert "eager_eot_threshold" in (failure.description or "")
    (end,) = run.ends()
    assert end.trigger == "manual" and end.turn_index == 0
    assert audio.wer(clip.text, end.transcript) <= WER_JFK, end.transcript
    # Archived like any session, saying which protocol.
    request_id = run.messages[0].request_id
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        document = (await http.get(f"/v1/recordings/{request_id}")).json()
    assert document["source"] == "flux" and document["flux"]["thresholds"]["eot_threshold"] == 1.0
    assert audio.wer(clip.text, " ".join(r["channel"]["alternatives"][0]["transcript"] for r in document["results"]))\
        <= WER_JFK  # fmt: skip


async def test_mulaw_at_8_khz(server: ServerProcess) -> None:
    clip = corpora.jfk()
    pcm, _ = audio.conversation([clip], lead_s=0.5, tail_s=1.5)
    run = await flux(server, audio.to_mulaw_8k(pcm), rate=8000, bytes_per_sample=1, encoding="mulaw")
    assert run.close_code is None
    assert_flux_rules(run)
    assert audio.wer(clip.text, run.text()) <= WER_JFK + 0.1, run.text()


async def test_a_bad_query_value_is_an_error_then_1008(server: ServerProcess) -> None:
    run = await flux(server, b"", eot_threshold=0.2)
    assert run.close_code == 1008
    (error,) = run.messages
    assert isinstance(error, ListenV2FatalError) and error.sequence_id == 0 and "eot_threshold" in error.description


async def test_malformed_and_unknown_messages(server: ServerProcess) -> None:
    url = f"{server.ws_url}/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "Connected"
        await ws.send(json.dumps({"type": "SomethingNew"}))
        warning = json.loads(await ws.recv())
        assert (warning["type"], warning["code"], warning["sequence_id"]) == ("Warning", "UNKNOWN_MESSAGE_TYPE", 1)
        await ws.send("{not json")
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"]) == ("Error", "INVALID_MESSAGE")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
