"""streaming.resample: streaming conversion to 16 kHz."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.resample import MAX_RATE, MIN_RATE, StreamResampler

RATES = [8000, 11025, 22050, 44100, 48000]


def _signal(rate: int, seconds: float, seed: int) -> Int16Array:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    tone = 8000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 3000, n)
    return np.clip(tone, -32768, 32767).astype(np.int16)


def _resample_in_chunks(rate: int, samples: Int16Array, cuts: list[int]) -> Int16Array:
    resampler = StreamResampler(rate)
    points = sorted({min(c, len(samples)) for c in cuts} | {0, len(samples)})
    pieces = [resampler.process(samples[a:b]) for a, b in itertools.pairwise(points)]
    pieces.append(resampler.flush())
    for piece in pieces:
        assert piece.dtype == np.int16
    return np.concatenate(pieces)


def test_target_rate_is_16k() -> None:
    assert SAMPLE_RATE == 16_000
    assert (MIN_RATE, MAX_RATE) == (8_000, 48_000)


def test_16k_input_passes_through_unchanged() -> None:
    samples = _signal(16_000, 0.1, seed=1)
    resampler = StreamResampler(16_000)
    out = resampler.process(samples)
    assert np.array_equal(out, samples)
    assert resampler.flush().size == 0


@pytest.mark.parametrize("rate", [0, 7_999, 48_001, 96_000, -16_000])
def test_rates_outside_range_are_rejected(rate: int) -> None:
    with pytest.raises(ValueError, match=str(rate)):
        StreamResampler(rate)


@pytest.mark.parametrize("rate", [MIN_RATE, MAX_RATE])
def test_range_bounds_are_accepted(rate: int) -> None:
    assert StreamResampler(rate).input_rate == rate


@pytest.mark.parametrize("rate", RATES)
def test_length_after_flush_matches_rate_ratio(rate: int) -> None:
    samples = _signal(rate, 1.0, seed=rate)
    out = _resample_in_chunks(rate, samples, [])
    assert abs(len(out) - len(samples) * SAMPLE_RATE / rate) <= 1


@pytest.mark.parametrize("rate", RATES)
def test_tone_frequency_and_level_survive(rate: int) -> None:
    n = rate  # one second
    t = np.arange(n) / rate
    samples = (10_000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    out = _resample_in_chunks(rate, samples, list(range(0, n, 777)))
    body = out[1600:-1600].astype(np.float64)  # skip edge transients
    spectrum = np.abs(np.fft.rfft(body * np.hanning(len(body))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(body)
    assert abs(peak_hz - 1000) < 5
    rms = np.sqrt(np.mean(body**2))
    assert rms == pytest.approx(10_000 / np.sqrt(2), rel=0.02)


def test_upsampled_stream_keeps_time_alignment() -> None:
    # A click at 0.5 s must still be at 0.5 s after resampling (no added delay).
    rate = 8_000
    samples = np.zeros(rate, dtype=np.int16)
    samples[rate // 2] = 20_000
    out = _resample_in_chunks(rate, samples, [100, 3000, 4001])
    assert abs(int(np.argmax(out)) - SAMPLE_RATE // 2) <= 1


def test_full_scale_input_clips_instead_of_wrapping() -> None:
    rate = 48_000
    square = np.where(np.arange(rate) % 96 < 48, 32767, -32768).astype(np.int16)
    out = _resample_in_chunks(rate, square, [1000])
    # Gibbs overshoot is clipped; a wrap-around would put large values of the
    # wrong sign next to each other.
    assert out.max() == 32767
    assert out.min() == -32768
    assert np.max(np.abs(np.diff(out.astype(np.int32)))) < 65535


def test_silence_stays_silent() -> None:
    out = _resample_in_chunks(44_100, np.zeros(44_100, dtype=np.int16), [10, 20, 5000])
    assert not out.any()


def test_empty_chunks_mid_stream_are_harmless() -> None:
    rate = 22_050
    samples = _signal(rate, 0.3, seed=7)
    resampler = StreamResampler(rate)
    pieces = [resampler.process(samples[:1000]), resampler.process(samples[:0]), resampler.process(samples[1000:])]
    pieces.append(resampler.flush())
    assert np.array_equal(np.concatenate(pieces), _resample_in_chunks(rate, samples, []))


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    seconds=st.floats(0.0, 0.4),
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 20_000), max_size=10),
)
def test_chunking_never_changes_the_output(rate: int, seconds: float, seed: int, cuts: list[int]) -> None:
    samples = _signal(rate, seconds, seed)
    whole = _resample_in_chunks(rate, samples, [])
    chunked = _resample_in_chunks(rate, samples, cuts)
    assert np.array_equal(chunked, whole)
    assert abs(len(whole) - len(samples) * SAMPLE_RATE / rate) <= 1
