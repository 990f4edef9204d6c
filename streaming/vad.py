"""Voice-activity detection: a small protocol and the webrtcvad adapter."""

from __future__ import annotations

from typing import Protocol

import webrtcvad

from streaming.codecs import SAMPLE_RATE, Int16Array

FRAME_MS_CHOICES = (10, 20, 30)


class VoiceDetector(Protocol):
    """Classifies one frame of 16 kHz int16 audio as speech or not."""

    @property
    def frame_samples(self) -> int: ...

    def is_speech(self, frame: Int16Array) -> bool: ...


class WebRtcVoiceDetector:
    """webrtcvad's GMM detector. `mode` 0 (least aggressive) to 3 (most)."""

    def __init__(self, mode: int = 2, frame_ms: int = 20) -> None:
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"VAD mode must be 0-3, not {mode}")
        if frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"VAD frame must be one of {FRAME_MS_CHOICES} ms, not {frame_ms}")
        self._vad = webrtcvad.Vad(mode)
        self._frame_samples = SAMPLE_RATE * frame_ms // 1000

    @property
    def frame_samples(self) -> int:
        return self._frame_samples

    def is_speech(self, frame: Int16Array) -> bool:
        verdict = bool(self._vad.is_speech(frame.astype("<i2").tobytes(), SAMPLE_RATE))
        # webrtcvad's hangover calls the first frames after speech "speech"
        # even when they are digital silence (muted mics, padded streams);
        # all-zero audio is never speech. The VAD still sees the frame so its
        # internal state moves on as usual.
        return verdict and bool(frame.any())
