"""Twilio Media Streams end to end: a simulated two-party call into /v1/twilio, a
live subscriber and a webhook receiver, against the real server and model."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import websockets

from server.webhook_security import verify_signature
from streaming.spoken_numbers import find_runs
from testbed import audio, corpora
from testbed.receiver import WebhookReceiver
from testbed.server import ServerProcess
from testbed.twilio import CallTrack, Followed, TwilioCallScript, follow_call, play_call, twilio_url
from tests.e2e.conftest import TEST_API_KEY, WEBHOOK_SECRET
from tests.e2e.test_live import WER_JFK, WER_LIBRIVOX

pytestmark = pytest.mark.e2e


async def test_two_party_call_reaches_subscriber_webhook_and_archive(server: ServerProcess) -> None:
    caller, agent = corpora.jfk(), corpora.librivox_clips()[1]
    inbound = audio.to_mulaw_8k(np.concatenate([audio.silence(1.0), caller.audio]))
    outbound = audio.to_mulaw_8k(agent.audio)
    with WebhookReceiver() as hook:
        script = TwilioCallScript(
            tracks={
                "inbound": CallTrack(inbound, gaps=[(300, 700)]),  # 400 ms of lost packets, before the speech
                "outbound": CallTrack(outbound, start_ms=3000),  # the agent's side starts 3 s into the call
            },
            custom_parameters={"callback": hook.url, "interim_results": "true"},
            dtmf=[(2000, "5")],
            marks=[(2500, "greeting-played")],
        )
        follower = asyncio.create_task(follow_call(server.ws_url, script.call_sid))
        outcome = await play_call(twilio_url(server.ws_url), script)
        followed = await asyncio.wait_for(follower, 30)
        bodies = hook.wait_for(lambda got: any(body.get("type") == "Metadata" for body in got))
        deliveries = list(hook.deliveries)

    assert outcome.close_code == 1000, outcome
    assert (followed.close_code, followed.close_reason) == (1000, "the call ended")
    events = followed.messages
    assert audio.wer(caller.text, followed.final_text(0)) <= WER_JFK, followed.final_text(0)
    assert audio.wer(agent.text, followed.final_text(1)) <= WER_LIBRIVOX, followed.final_text(1)
    finals = [m for m in events if m.get("type") == "Results" and m["is_final"]]
    # Call time: the agent's words lie after 3 s, the caller's after the first second.
    assert min(m["start"] for m in finals if m["channel_index"][0] == 1) >= 3.0 - 0.3
    assert min(m["start"] for m in finals if m["channel_index"][0] == 0) >= 1.0 - 0.3
    assert any(not m["is_final"] for m in events if m.get("type") == "Results")  # interim_results=true
    dtmf = [m for m in events if m.get("type") == "Dtmf"]
    assert [(d["digit"], d["channel"]) for d in dtmf] == [("5", [0, 2])]
    assert dtmf[0]["timestamp"] == pytest.approx(2.0, abs=0.3)
    metadata = events[-1]
    assert metadata["type"] == "Metadata" and metadata["callSid"] == script.call_sid

    # Webhooks: every final and the Metadata, signed, naming the call.
    # Delivered concurrently, so in any order; `sequence` numbers them as sent.
    bodies.sort(key=lambda body: body["sequence"])
    assert [b["sequence"] for b in bodies] == list(range(1, len(finals) + 2))
    assert [(b["type"], b.get("start")) for b in bodies] == [(m["type"], m.get("start")) for m in [*finals, metadata]]
    for body in bodies:
        assert (body["callSid"], body["streamSid"]) == (script.call_sid, script.stream_sid)
        assert body["request_id"] == metadata["request_id"]
    for delivery in deliveries:
        signature = delivery.headers["x-streamscribe-signature"]
        assert verify_signature(WEBHOOK_SECRET.encode(), signature, delivery.body)

    # The archive: both channels, and the call as a dialogue.
    base = Path(metadata["archive"]["location"])
    document = json.loads(base.with_suffix(".json").read_text())
    assert document["source"] == "twilio" and document["twilio"]["callSid"] == script.call_sid
    speakers = [turn["speaker"] for turn in document["dialogue"]]
    assert set(speakers) == {"inbound", "outbound"} and speakers[0] == "inbound"
    assert document["twilio"]["filled_seconds"] >= 3.0  # the late track and the gap


async def expect_twilio_close(url: str, messages: list[str | bytes]) -> tuple[int, str]:
    async with websockets.connect(url) as ws:
        try:
            for message in messages:
                await ws.send(message)
            while True:
                await asyncio.wait_for(ws.recv(), 15)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason


def start_message(script: TwilioCallScript) -> str:
    return json.dumps(script.start_message())


async def test_bad_input_is_answered_with_a_close_code_in_words(server: ServerProcess) -> None:
    url = twilio_url(server.ws_url)
    script = TwilioCallScript(tracks={"inbound": CallTrack(b"")})
    media = {"event": "media", "media": {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "//8="}}
    cases: dict[str, tuple[list[str | bytes], int, str]] = {
        "media before start": ([json.dumps(media)], 1008, "media before start"),
        "stop without start": ([json.dumps({"event": "stop"})], 1008, "stop before start"),
        "binary": ([b"\x00\x01"], 1003, "JSON text"),
        "garbage base64": (
            [start_message(script), json.dumps({**media, "media": {**media["media"], "payload": "@@@"}})],  # type: ignore[dict-item]
            1007,
            "base64",
        ),
        "huge payload": (
            [start_message(script), json.dumps({**media, "media": {**media["media"], "payload": "A" * 60_000}})],  # type: ignore[dict-item]
            1009,
            "20 ms",
        ),
        "second start": ([start_message(script), start_message(script)], 1008, "second start"),
    }
    # Run beside a good call: none of this touches it.
    good = TwilioCallScript(tracks={"inbound": CallTrack(audio.to_mulaw_8k(corpora.jfk().audio))})
    good_call = asyncio.create_task(play_call(url, good, speed=4.0))
    outcomes = await asyncio.gather(*(expect_twilio_close(url, messages) for messages, _, _ in cases.values()))
    for (name, (_, code, words)), (got_code, reason) in zip(cases.items(), outcomes, strict=True):
        assert got_code == code and words in reason, (name, got_code, reason)
    assert (await good_call).close_code == 1000


async def test_unknown_events_are_ignored(server: ServerProcess) -> None:
    script = TwilioCallScript(tracks={"inbound": CallTrack(audio.to_mulaw_8k(audio.silence(0.5)))})
    async with websockets.connect(twilio_url(server.ws_url)) as ws:
        await ws.send(start_message(script))
        await ws.send(json.dumps({"event": "somethingNew", "streamSid": script.stream_sid}))
        await ws.send(json.dumps({"event": "stop", "streamSid": script.stream_sid}))
        await asyncio.wait_for(ws.wait_closed(), 15)
    assert ws.close_code == 1000


async def test_key_in_the_query_or_custom_parameters(strict_server: ServerProcess) -> None:
    audio_bytes = audio.to_mulaw_8k(audio.silence(0.4))
    for query, custom, expected in [
        ({}, {}, 1008),
        ({"token": "wrong"}, {}, 1008),
        ({"token": TEST_API_KEY}, {}, 1000),
        ({}, {"token": TEST_API_KEY}, 1000),
    ]:
        script = TwilioCallScript(tracks={"inbound": CallTrack(audio_bytes)}, custom_parameters=custom)
        outcome = await play_call(twilio_url(strict_server.ws_url, **query), script, speed=4.0)
        assert outcome.close_code == expected, (query, custom, outcome)
        if expected == 1008:
            assert "credentials" in outcome.close_reason.lower(), outcome.close_reason


def digits_shown(texts: list[str]) -> str:
    """Every digit the texts say, written as digits or as number words."""
    return "".join(run.text for text in texts for run in find_runs(text.split()))


async def redacted_call(server: ServerProcess, hook: WebhookReceiver, **custom: str) -> tuple[Followed, list[str]]:
    """A call whose caller reads out a card number after a sentence; every transcript text it produced anywhere."""
    speech = np.concatenate([corpora.librivox_clips()[1].audio, audio.silence(0.8), corpora.spoken_card_number().audio])
    script = TwilioCallScript(
        tracks={"inbound": CallTrack(audio.to_mulaw_8k(np.concatenate([speech, audio.silence(1.0)])))},
        custom_parameters={"interim_results": "true", "callback": hook.url, **custom},
    )
    follower = asyncio.create_task(follow_call(server.ws_url, script.call_sid))
    outcome = await play_call(twilio_url(server.ws_url), script, speed=2.0)
    followed = await asyncio.wait_for(follower, 30)
    assert outcome.close_code == 1000, outcome
    bodies = hook.wait_for(
        lambda got: any(b.get("callSid") == script.call_sid and b["type"] == "Metadata" for b in got)
    )
    results = [m for m in followed.messages if m.get("type") == "Results"]
    texts = [m["channel"]["alternatives"][0]["transcript"] for m in results]
    texts += [w["punctuated_word"] for m in results for w in m["channel"]["alternatives"][0]["words"]]
    texts += [
        b["channel"]["alternatives"][0]["transcript"]
        for b in bodies
        if b.get("callSid") == script.call_sid and b["type"] == "Results"
    ]
    document = Path(followed.messages[-1]["archive"]["location"]).with_suffix(".json").read_text()
    archived = json.loads(document)
    texts.append(archived["transcript"])
    texts += [w["punctuated_word"] for r in archived["results"] for w in r["channel"]["alternatives"][0]["words"]]
    return followed, texts


async def test_a_spoken_card_number_is_redacted_everywhere(server: ServerProcess) -> None:
    with WebhookReceiver() as hook:
        plain, _ = await redacted_call(server, hook)
        redacted, texts = await redacted_call(server, hook, redact="pci", redact_audio="true")
    # Without redaction the model hears the number (so the check below could fail)...
    assert corpora.CARD_NUMBER in digits_shown([plain.final_text()]), plain.final_text()
    # ...with it, no part of it reaches a final, an interim, a word, a webhook or the archive: at most
    # the first word of an interim, before anything says a card number is coming ("two" of "two nine...").
    assert "[PCI]" in redacted.final_text(), redacted.final_text()
    assert digits_shown([redacted.final_text()]) == "", redacted.final_text()
    assert all(len(digits_shown([t])) < 4 for t in texts), [t for t in texts if digits_shown([t])]
    # The archived audio is silent where the number was said, and speech elsewhere is kept.
    document = json.loads(Path(redacted.messages[-1]["archive"]["location"]).with_suffix(".json").read_text())
    spans = [r for r in document["redactions"] if r["label"] == "pci"]
    assert spans and document["params"]["redact_audio"] is True
    with wave.open(str(Path(redacted.messages[-1]["archive"]["location"]).with_suffix(".wav"))) as wav:
        stored = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, wav.getnchannels())
    for span in spans:
        assert not stored[int(span["start"] * 16000) : int(span["end"] * 16000), 0].any()
    assert np.abs(stored[: 16000 * 2, 0]).max() > 1000  # the sentence before it
