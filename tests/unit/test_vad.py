"""streaming.vad: the webrtcvad adapter."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.codecs import Int16Array
from streaming.vad import FRAME_MS_CHOICES, VoiceDetector, WebRtcVoiceDetector

MODES = (0, 1, 2, 3)


def _frames(samples: Int16Array, size: int) -> list[Int16Array]:
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def _noise(seconds: float, level: float = 4000.0, seed: int = 0) -> Int16Array:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, level, int(16_000 * seconds)), -32768, 32767).astype(np.int16)


def _voice_like(seconds: float) -> Int16Array:
    """A buzzy harmonic stack at a speaking pitch."""
    t = np.arange(int(16_000 * seconds)) / 16_000
    wave = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate((150, 300, 450, 600, 750)))
    return (6000 * wave / np.max(np.abs(wave))).astype(np.int16)


def test_is_a_voice_detector() -> None:
    detector: VoiceDetector = WebRtcVoiceDetector()
    assert detector.frame_samples == 320  # default 20 ms


@pytest.mark.parametrize(("frame_ms", "samples"), [(10, 160), (20, 320), (30, 480)])
def test_frame_samples(frame_ms: int, samples: int) -> None:
    assert frame_ms in FRAME_MS_CHOICES
    assert WebRtcVoiceDetector(frame_ms=frame_ms).frame_samples == samples


@pytest.mark.parametrize("mode", [-1, 4, 10])
def test_bad_mode_is_rejected(mode: int) -> None:
    with pytest.raises(ValueError, match="mode"):
        WebRtcVoiceDetector(mode=mode)


@pytest.mark.parametrize("frame_ms", [0, 5, 15, 25, 40])
def test_bad_frame_length_is_rejected(frame_ms: int) -> None:
    with pytest.raises(ValueError, match="frame"):
        WebRtcVoiceDetector(frame_ms=frame_ms)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("frame_ms", FRAME_MS_CHOICES)
def test_digital_silence_is_never_speech(mode: int, frame_ms: int) -> None:
    detector = WebRtcVoiceDetector(mode, frame_ms)
    silence = np.zeros(16_000, dtype=np.int16)
    assert not any(detector.is_speech(f) for f in _frames(silence, detector.frame_samples))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("frame_ms", FRAME_MS_CHOICES)
def test_digital_silence_right_after_speech_is_not_speech(mode: int, frame_ms: int) -> None:
    # webrtcvad keeps saying "speech" for a hangover of a few frames after
    # speech; all-zero audio is silence whatever the detector's history.
    detector = WebRtcVoiceDetector(mode, frame_ms)
    for frame in _frames(_noise(1.0), detector.frame_samples):
        detector.is_speech(frame)
    silence = np.zeros(16_000, dtype=np.int16)
    assert not any(detector.is_speech(f) for f in _frames(silence, detector.frame_samples))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("frame_ms", FRAME_MS_CHOICES)
def test_loud_noise_is_speech(mode: int, frame_ms: int) -> None:
    detector = WebRtcVoiceDetector(mode, frame_ms)
    verdicts = [detector.is_speech(f) for f in _frames(_noise(1.0, seed=mode), detector.frame_samples)]
    assert np.mean(verdicts) > 0.9


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("frame_ms", FRAME_MS_CHOICES)
def test_voice_like_tone_is_speech(mode: int, frame_ms: int) -> None:
    detector = WebRtcVoiceDetector(mode, frame_ms)
    verdicts = [detector.is_speech(f) for f in _frames(_voice_like(1.0), detector.frame_samples)]
    assert np.mean(verdicts) > 0.9


def test_speech_silence_speech_alternation_is_tracked() -> None:
    detector = WebRtcVoiceDetector(mode=3, frame_ms=20)
    audio = np.concatenate([_noise(0.5, seed=1), np.zeros(8000, np.int16), _noise(0.5, seed=2)])
    verdicts = [detector.is_speech(f) for f in _frames(audio, 320)]
    assert len(verdicts) == 75
    assert all(verdicts[5:25])
    assert not any(verdicts[25:50])
    assert all(verdicts[55:75])


def test_accepts_non_contiguous_and_native_arrays() -> None:
    detector = WebRtcVoiceDetector(mode=0, frame_ms=10)
    stereo = np.stack([_noise(0.01), np.zeros(160, np.int16)], axis=1)
    assert detector.is_speech(stereo[:, 0]) in (True, False)
    assert detector.is_speech(stereo[:, 1]) is False
