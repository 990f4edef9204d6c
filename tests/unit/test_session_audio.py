"""Audio formats: odd byte counts, G.711, resampling, multichannel, any chunking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.actions import RecordAudio
from streaming.codecs import Int16Array
from streaming.resample import StreamResampler
from tests.unit.session_harness import (
    FRAME,
    UTTERANCE,
    Harness,
    ScriptedDetector,
    finals,
    jobs,
    kinds,
    messages,
    results,
    silence,
    track,
    transcript,
)

# -- audio formats -------------------------------------------------------------------


def test_odd_byte_counts_are_carried_over() -> None:
    audio = track(*UTTERANCE)
    whole = Harness()
    (expected,) = finals(whole.send(audio))
    odd = Harness()
    actions = odd.send(audio, chunk_bytes=333)
    actions += odd.send_bytes(b"")
    (job,) = finals(actions)
    assert job.start == expected.start
    assert np.array_equal(job.audio, expected.audio)
    assert odd.session.audio_seconds == pytest.approx(3.0)
    single = Harness()
    single.send(audio[:2000], chunk_bytes=1)
    assert single.session.audio_seconds == pytest.approx(2000 / 16000)


def test_odd_byte_counts_multichannel() -> None:
    stereo = np.stack([track(*UTTERANCE), silence(3.0)], axis=1)
    h = Harness([("channels", "2"), ("multichannel", "true")])
    (job,) = finals(h.send(stereo, chunk_bytes=777))
    assert job.channel == 0
    assert job.start == pytest.approx(0.76)


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_g711_8k_input(encoding: str) -> None:
    h = Harness([("encoding", encoding), ("sample_rate", "8000")])
    audio = track(*UTTERANCE, rate=8000)
    data = h.encode(audio)
    assert len(data) == len(audio)  # one byte per sample
    actions = h.send(audio)
    (job,) = finals(actions)
    assert job.start == pytest.approx(0.76, abs=0.021)
    assert job.duration == pytest.approx(2.5 - 0.76, abs=0.041)
    assert len(job.audio) == round(job.duration * 16_000)
    # the 16 kHz audio is the 8 kHz speech, resampled: loud in the middle, silent at the edges
    body = job.audio[round((1.1 - job.start) * 16000) : round((1.9 - job.start) * 16000)].astype(np.float64)
    assert np.sqrt(np.mean(body**2)) == pytest.approx(3000, rel=0.1)
    assert np.abs(job.audio[:1000]).max() <= 8  # G.711 silence: 0 (mu-law) or +-8 (A-law)
    out = h.answer(job, ["hello"])
    assert results(out)[0]["speech_final"] is True
    assert h.session.audio_seconds == pytest.approx(3.0)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampled_input_keeps_the_stream_clock(rate: int) -> None:
    h = Harness([("sample_rate", str(rate))])
    (job,) = finals(h.send(track(*UTTERANCE, rate=rate)))
    assert job.start == pytest.approx(0.76, abs=0.021)
    assert job.start + job.duration == pytest.approx(2.5, abs=0.021)


def test_multichannel_results_carry_channel_index() -> None:
    h = Harness([("channels", "2"), ("multichannel", "true"), ("vad_events", "true")])
    left = track(("silence", 0.5), ("speech", 1.0), ("silence", 2.5))
    right = track(("silence", 2.0), ("speech", 1.0), ("silence", 1.0))
    actions = h.send(np.stack([left, right], axis=1))
    assert [m["channel"] for m in messages(actions, "SpeechStarted")] == [[0, 2], [1, 2]]
    jobs_ = finals(actions)
    assert [(j.channel, j.seq) for j in jobs_] == [(0, 1), (1, 1)]
    j0, j1 = jobs_
    assert j0.start == pytest.approx(0.26)
    assert j1.start == pytest.approx(1.76)
    # channels are transcribed independently: the right channel's audio holds no left speech
    assert not j1.audio[: round(0.24 * 16000)].any()
    recorded = [a.samples for a in actions if isinstance(a, RecordAudio)]
    assert all(r.shape[1] == 2 for r in recorded)
    r1 = results(h.answer(j1, ["right"]))
    r0 = results(h.answer(j0, ["left"]))
    assert [(m["channel_index"], transcript(m)) for m in r1 + r0] == [([1, 2], "right"), ([0, 2], "left")]
    out = h.text('{"type": "CloseStream"}')
    assert messages(out, "Metadata")[0]["channels"] == 2


def test_multichannel_finalize_answers_every_channel() -> None:
    h = Harness([("channels", "2"), ("multichannel", "true")])
    left = track(("silence", 0.5), ("speech", 1.0))
    h.send(np.stack([left, silence(1.5)], axis=1))
    out = h.text('{"type": "Finalize"}')
    (job,) = finals(out)
    assert [(m["channel_index"], m["from_finalize"]) for m in results(out)] == [([1, 2], True)]
    out = h.answer(job, ["left"])
    assert [(m["channel_index"], m["from_finalize"]) for m in results(out)] == [([0, 2], True)]


def test_channels_are_downmixed_without_multichannel() -> None:
    h = Harness([("channels", "2")])
    left = track(*UTTERANCE)
    actions = h.send(np.stack([left, np.zeros_like(left)], axis=1))
    (job,) = finals(actions)
    assert job.channel == 0
    assert all(a.samples.shape[1] == 1 for a in actions if isinstance(a, RecordAudio))
    # averaged: half the level of the left channel
    body = job.audio[round(0.5 * 16000) : round(1.1 * 16000)].astype(np.float64)
    assert np.sqrt(np.mean(body**2)) == pytest.approx(1500, rel=0.1)
    assert results(h.answer(job))[0]["channel_index"] == [0, 1]
    assert messages(h.text('{"type": "CloseStream"}'), "Metadata")[0]["channels"] == 2


def test_multichannel_drain_flushes_every_channel_before_closing() -> None:
    # Channel 0 holds a blip that is dropped at the end of the stream; channel
    # 1 has speech whose last frames reach the segmenter only from the
    # resampler's delay line when the stream ends. The session must not close
    # before channel 1's final.
    rate = 8000
    n = 3 * rate
    k = len(StreamResampler(rate).process(np.zeros(n, dtype=np.int16))) // FRAME  # frames before the flush
    left = [False] * (k + 10)
    for i in range(k - 8, k - 2):
        left[i] = True  # 6 voiced: opens, but under min_speech_ms (10 frames)
    right = [False] * (k + 10)
    for i in [k - 17, k - 16, *range(k - 5, k + 3)]:
        right[i] = True  # 5 voiced in the window until the tail brings the 6th; 10 in all
    h = Harness(
        [("sample_rate", str(rate)), ("channels", "2"), ("multichannel", "true")],
        detectors=[ScriptedDetector(left), ScriptedDetector(right)],
    )
    assert jobs(h.send(np.zeros((n, 2), dtype=np.int16))) == []
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["Job:final"]
    (job,) = finals(out)
    assert job.channel == 1
    assert kinds(h.answer(job, ["late"])) == ["Results", "Metadata", "Close:1000"]


@settings(max_examples=25, deadline=None)
@given(
    encoding=st.sampled_from(["linear16", "mulaw", "alaw"]),
    rate=st.sampled_from([8000, 16000, 44100]),
    channels=st.integers(1, 2),
    multichannel=st.booleans(),
    chunk_sizes=st.lists(st.integers(17, 4000), min_size=1, max_size=5),  # 1-byte frames: see above
)
def test_any_chunking_gives_the_same_jobs_and_recording(
    encoding: str, rate: int, channels: int, multichannel: bool, chunk_sizes: list[int]
) -> None:
    query = [
        ("encoding", encoding),
        ("sample_rate", str(rate)),
        ("channels", str(channels)),
        ("multichannel", str(multichannel).lower()),
    ]
    mono = track(("silence", 0.4), ("speech", 0.8), ("silence", 0.7), ("speech", 0.5), rate=rate)
    audio = np.stack([mono, np.roll(mono, rate // 10)], axis=1)[:, :channels]

    def play(sizes: list[int]) -> tuple[list[tuple[int, int, float, bytes]], Int16Array]:
        h = Harness(query)
        data = h.encode(audio)
        offset, i = 0, 0
        while offset < len(data):
            size = sizes[i % len(sizes)]
            h.send_bytes(data[offset : offset + size], 0.01)
            offset += size
            i += 1
        h.text('{"type": "CloseStream"}')
        recorded = np.concatenate([a.samples for a in h.log if isinstance(a, RecordAudio)])
        # the order across channels follows the chunking; within a channel it is fixed
        return sorted((j.channel, j.seq, j.start, j.audio.tobytes()) for j in finals(h.log)), recorded

    expected_jobs, expected_audio = play([len(audio) * channels * 2])
    got_jobs, got_audio = play(chunk_sizes)
    assert len(expected_jobs) >= 2
    assert got_jobs == expected_jobs
    assert np.array_equal(got_audio, expected_audio)
    assert expected_audio.shape[1] == (channels if multichannel else 1)
    assert abs(len(expected_audio) - len(audio) * 16_000 / rate) <= 1
