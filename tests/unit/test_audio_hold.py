"""The archive's audio held until final, silenced where words were redacted."""

from __future__ import annotations

import math

import numpy as np

from streaming.audio_hold import AudioHold


def block(seconds: float, value: int, channels: int = 2) -> np.ndarray:
    return np.full((round(seconds * 16_000), channels), value, dtype=np.int16)


def test_release_hands_on_only_what_is_settled_and_keeps_order() -> None:
    hold = AudioHold(2)
    hold.add(block(1.0, 1))
    hold.add(block(1.0, 2))
    first = hold.release(1.5)
    assert first is not None and first.shape == (24_000, 2)
    assert set(np.unique(first)) == {1, 2}
    assert hold.release(1.5) is None
    rest = hold.release(math.inf)
    assert rest is not None and rest.shape == (8_000, 2) and set(np.unique(rest)) == {2}
    assert hold.released == 32_000 and hold.held_seconds == 0


def test_silence_zeroes_one_channel_of_held_audio_only() -> None:
    hold = AudioHold(2)
    hold.add(block(2.0, 7))
    hold.silence(1, 0.5, 1.0)
    out = hold.release(math.inf)
    assert out is not None
    assert (out[8_000:16_000, 1] == 0).all()
    assert (out[:8_000, 1] == 7).all() and (out[16_000:, 1] == 7).all()
    assert (out[:, 0] == 7).all()
    assert hold.unreachable_spans == 0


def test_a_span_reaching_into_released_audio_is_counted() -> None:
    hold = AudioHold(1)
    hold.add(block(2.0, 3, channels=1))
    hold.release(1.0)
    hold.silence(0, 0.5, 1.5)
    out = hold.release(math.inf)
    assert out is not None and (out[:8_000, 0] == 0).all() and (out[8_000:, 0] == 3).all()
    assert hold.unreachable_spans == 1
