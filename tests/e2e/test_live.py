"""The live endpoint end to end: real server, real tiny.en model, real speech."""

from __future__ import annotations

import asyncio
import itertools
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testbed import audio, corpora
from testbed.server import Received, ServerProcess, expect_close, listen_url, stream

pytestmark = pytest.mark.e2e

# Bounds on word error rate, measured on tiny.en int8 with margin: jfk ~0.00,
# LibriVox clips ~0.05-0.10, espeak-ng's synthetic voice ~0.10-0.20.
WER_JFK = 0.15
WER_LIBRIVOX = 0.25
WER_ESPEAK = 0.35

CHUNK_100MS = 3200  # 100 ms of 16 kHz linear16


def assert_finals_partition_time(received: Received) -> None:
    """Every word sits in exactly one final: finals per channel never overlap,
    and each final's words lie inside its own time range."""
    by_channel: dict[int, list[dict[str, Any]]] = {}
    for final in received.finals:
        by_channel.setdefault(final["channel_index"][0], []).append(final)
    for finals in by_channel.values():
        for earlier, later in itertools.pairwise(finals):
            assert earlier["start"] + earlier["duration"] <= later["start"] + 1e-3, (earlier, later)
        for final in finals:
            end = final["start"] + final["duration"]
            for word in final["channel"]["alternatives"][0]["words"]:
                assert final["start"] - 0.05 <= word["start"] <= word["end"] <= end + 0.05, (word, final)


async def test_jfk_fast_transcribes_with_low_wer(server: ServerProcess) -> None:
    clip = corpora.jfk()
    received = await stream(listen_url(server.ws_url), audio.to_linear16(clip.audio), chunk_bytes=8000)
    assert received.close_code == 1000
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK, received.final_text()
    assert_finals_partition_time(received)
    assert received.messages[-1][1]["type"] == "Metadata"
    assert received.interims == []  # interim_results defaults to false


async def test_librivox_realtime_with_interims_and_events(server: ServerProcess) -> None:
    clips = corpora.librivox_clips()[:3]
    pcm, utterances = audio.conversation(clips, gap_s=1.5)
    received = await stream(
        listen_url(server.ws_url, interim_results=True, vad_events=True, utterance_end_ms=1000),
        audio.to_linear16(pcm),
        chunk_bytes=CHUNK_100MS,
        pace_s=0.1,
    )
    assert received.close_code == 1000, received.close_reason
    reference = " ".join(clip.text for clip in clips)
    assert audio.wer(reference, received.final_text()) <= WER_LIBRIVOX, received.final_text()
    assert_finals_partition_time(received)

    kinds = [m["type"] for _, m in received.messages]
    assert kinds.count("SpeechStarted") >= len(utterances)
    assert kinds.count("UtteranceEnd") >= len(utterances) - 1
    assert kinds[-1] == "Metadata"
    # Each utterance is followed by 1.5 s of silence: its last final ends it by endpointing.
    speech_finals = [m for m in received.finals if m["speech_final"]]
    assert len(speech_finals) >= len(utterances) - 1
    # Interims arrived, and before the final of their segment.
    assert len(received.interims) >= len(utterances)
    first_interim = kinds.index("Results")
    assert not received.messages[first_interim][1]["is_final"]
    # SpeechStarted timestamps lie near the true utterance starts.
    starts = [m["timestamp"] for m in received.of_type("SpeechStarted")]
    for utterance in utterances:
        assert any(abs(s - utterance.start) < 0.6 for s in starts), (utterance, starts)
    metadata = received.of_type("Metadata")[0]
    assert metadata["duration"] == pytest.approx(len(pcm) / 16000, abs=0.01)
    assert metadata["archive"]["stored"] is True


async def test_espeak_synthetic_speech(server: ServerProcess) -> None:
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Please call me back at the office tomorrow morning.",
    ]
    clips = [corpora.espeak_clip(t) for t in texts]
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    received = await stream(listen_url(server.ws_url), audio.to_linear16(pcm), chunk_bytes=6400)
    assert audio.wer(" ".join(texts), received.final_text()) <= WER_ESPEAK, received.final_text()
    assert_finals_partition_time(received)


async def test_finalize_flushes_open_segment(server: ServerProcess) -> None:
    clip = corpora.jfk()
    pcm = audio.to_linear16(clip.audio[: 16000 * 4])  # stop mid-sentence, no trailing silence
    received = await stream(
        listen_url(server.ws_url),
        pcm,
        chunk_bytes=CHUNK_100MS,
        controls={len(pcm) // CHUNK_100MS: json.dumps({"type": "Finalize"})},
    )
    from_finalize = [m for m in received.finals if m["from_finalize"]]
    assert from_finalize, received.messages
    assert "fellow" in from_finalize[0]["channel"]["alternatives"][0]["transcript"].lower()


async def test_finalize_with_nothing_open_answers_empty(server: ServerProcess) -> None:
    pcm = audio.to_linear16(audio.silence(1.0))
    received = await stream(
        listen_url(server.ws_url), pcm, controls={len(pcm) // CHUNK_100MS: json.dumps({"type": "Finalize"})}
    )
    finals = received.finals
    assert len(finals) == 1 and finals[0]["from_finalize"] is True
    assert finals[0]["channel"]["alternatives"][0]["transcript"] == ""


@pytest.mark.parametrize("signal", ["silence", "noise", "hum"], ids=["digital-silence", "white-noise", "low-hum"])
async def test_non_speech_gives_no_final_text(server: ServerProcess, signal: str) -> None:
    seconds = 6.0
    if signal == "silence":
        pcm = audio.silence(seconds)
    elif signal == "noise":
        pcm = audio.white_noise(seconds, 0.05)
    else:
        t = np.arange(int(16000 * seconds)) / 16000
        pcm = (np.sin(2 * np.pi * 60 * t) * 3000).astype(np.int16)
    received = await stream(listen_url(server.ws_url, interim_results=True), audio.to_linear16(pcm))
    assert received.close_code == 1000
    assert received.final_text() == ""


async def test_close_stream_sends_metadata_then_closes_normally(server: ServerProcess) -> None:
    clip = corpora.jfk()
    received = await stream(listen_url(server.ws_url), audio.to_linear16(clip.audio[:32000]))
    assert received.close_code == 1000
    metadata = received.messages[-1][1]
    assert metadata["type"] == "Metadata"
    assert metadata["channels"] == 1
    assert metadata["duration"] == pytest.approx(2.0, abs=0.01)
    assert len(metadata["sha256"]) == 64
    request_ids = {m["metadata"]["request_id"] for m in received.of_type("Results")}
    assert request_ids <= {metadata["request_id"]}


async def test_mulaw_8k_telephony(server: ServerProcess) -> None:
    clip = corpora.jfk()
    received = await stream(
        listen_url(server.ws_url, encoding="mulaw", sample_rate=8000),
        audio.to_mulaw_8k(clip.audio),
        chunk_bytes=1601,  # odd sizes exercise the carry-over
    )
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK + 0.1, received.final_text()


async def test_linear16_48k_odd_frames(server: ServerProcess) -> None:
    clip = corpora.jfk()
    pcm48 = audio.to_linear16(audio.resample(clip.audio, 16000, 48000))
    received = await stream(listen_url(server.ws_url, sample_rate=48000), pcm48, chunk_bytes=9601)
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK, received.final_text()


async def test_multichannel_transcribes_each_channel(server: ServerProcess) -> None:
    left = corpora.jfk().audio
    right_clip = corpora.librivox_clips()[0]
    right = np.zeros_like(left)
    right[: len(right_clip.audio)] = right_clip.audio[: len(left)]
    stereo = np.stack([left, right], axis=1).reshape(-1)
    received = await stream(
        listen_url(server.ws_url, channels=2, multichannel=True), stereo.astype("<i2").tobytes(), chunk_bytes=12800
    )
    assert {tuple(m["channel_index"]) for m in received.finals} == {(0, 2), (1, 2)}
    assert audio.wer(corpora.jfk().text, received.final_text(0)) <= WER_JFK
    assert audio.wer(right_clip.text, received.final_text(1)) <= WER_LIBRIVOX
    assert received.of_type("Metadata")[0]["channels"] == 2


async def test_downmixed_stereo_reports_one_channel(server: ServerProcess) -> None:
    mono = corpora.jfk().audio
    stereo = np.stack([mono, mono], axis=1).reshape(-1)
    received = await stream(listen_url(server.ws_url, channels=2), stereo.astype("<i2").tobytes(), chunk_bytes=6400)
    assert {tuple(m["channel_index"]) for m in received.finals} == {(0, 1)}
    assert audio.wer(corpora.jfk().text, received.final_text()) <= WER_JFK


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"encoding": "opus-ish"}, "encoding"),
        ({"sample_rate": "0"}, "sample_rate"),
        ({"channels": "nine"}, "channels"),
        ({"interim_results": "maybe"}, "interim_results"),
        ({"endpointing": "-5"}, "endpointing"),
        ({"utterance_end_ms": "10"}, "utterance_end_ms"),
    ],
)
async def test_bad_parameters_close_1008_with_reason(
    server: ServerProcess, params: dict[str, str], expected: str
) -> None:
    code, reason = await expect_close(listen_url(server.ws_url, **params))
    assert code == 1008
    assert expected in reason


async def test_bad_frames_close_with_reason_while_others_keep_working(server: ServerProcess) -> None:
    clip = corpora.jfk()
    healthy = asyncio.create_task(
        stream(listen_url(server.ws_url), audio.to_linear16(clip.audio), chunk_bytes=CHUNK_100MS, pace_s=0.02)
    )
    garbage = await expect_close(listen_url(server.ws_url), "this is not json")
    assert garbage[0] == 1007 and "JSON" in garbage[1]
    big = await expect_close(listen_url(server.ws_url), b"\x00" * (10 * 1024 * 1024))
    assert big[0] == 1009 and "max_frame_bytes" in big[1]
    not_object = await expect_close(listen_url(server.ws_url), "[1, 2, 3]")
    assert not_object[0] == 1007
    received = await healthy
    assert received.close_code == 1000
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK


async def test_unknown_control_message_is_reported_not_fatal(server: ServerProcess) -> None:
    clip = corpora.jfk()
    received = await stream(
        listen_url(server.ws_url),
        audio.to_linear16(clip.audio),
        controls={0: json.dumps({"type": "Configure", "x": 1}), 3: json.dumps({"type": "KeepAlive"})},
    )
    errors = received.of_type("Error")
    assert errors and "Configure" in errors[0]["description"]
    assert received.close_code == 1000
    assert audio.wer(clip.text, received.final_text()) <= WER_JFK


async def test_archive_holds_audio_and_transcript(server: ServerProcess) -> None:
    clip = corpora.jfk()
    received = await stream(listen_url(server.ws_url), audio.to_linear16(clip.audio))
    metadata = received.of_type("Metadata")[0]
    assert metadata["archive"]["stored"] is True
    base = Path(metadata["archive"]["location"])
    assert base.parent.relative_to(server.archive_dir).parts[0] == "recordings"
    with wave.open(str(base.with_suffix(".wav"))) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        stored = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    np.testing.assert_array_equal(stored, clip.audio)
    document = json.loads(base.with_suffix(".json").read_text())
    assert document["request_id"] == metadata["request_id"]
    assert document["results"] == received.finals


async def test_idle_timeout_closes_with_reason_and_archive_failure_is_reported(strict_server: ServerProcess) -> None:
    from tests.e2e.conftest import TEST_API_KEY

    received = await stream(
        listen_url(strict_server.ws_url),
        audio.to_linear16(audio.silence(0.2)),
        close_stream=False,
        headers={"Authorization": f"Token {TEST_API_KEY}"},
        timeout_s=10,
    )
    assert received.close_code == 1011
    assert "NET-0001" in received.close_reason
    metadata = received.messages[-1][1]
    assert metadata["type"] == "Metadata"
    # The strict server's archive directory is a file: the failure is reported, not fatal.
    assert metadata["archive"]["stored"] is False
    assert "archive-is-a-file" in metadata["archive"]["error"]


async def test_a_fast_sender_gets_every_final_while_others_are_served(server: ServerProcess) -> None:
    """Two minutes of speech sent as fast as the socket takes it: the gateway reads it only as
    fast as the finals come back (STREAMSCRIBE_MAX_OUTSTANDING_FINALS), so nothing is lost to
    the drain timeout, and a real-time session started meanwhile is admitted and answered."""
    clips = corpora.librivox_clips() * 4
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    fast = asyncio.create_task(stream(listen_url(server.ws_url), audio.to_linear16(pcm), chunk_bytes=32000))
    await asyncio.sleep(1.0)
    jfk = corpora.jfk()
    normal = await stream(listen_url(server.ws_url), audio.to_linear16(jfk.audio), pace_s=0.1)
    assert normal.close_code == 1000, normal.close_reason
    assert audio.wer(corpora.JFK_TEXT, normal.final_text()) <= WER_JFK
    done = await fast
    assert done.close_code == 1000, done.close_reason
    assert audio.wer(" ".join(clip.text for clip in clips), done.final_text()) <= WER_LIBRIVOX
    (metadata,) = done.of_type("Metadata")
    assert metadata["duration"] == pytest.approx(len(pcm) / 16000, abs=0.1)
