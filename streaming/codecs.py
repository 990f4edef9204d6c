"""Decode wire audio (linear16, mu-law, A-law) into int16 sample frames.

Frames arrive with arbitrary byte counts; a frame may end in the middle of a
sample or of a multi-channel sample group, so the decoder carries the
remainder over to the next frame.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]

SAMPLE_RATE = 16_000
"""The one rate of everything after decoding (resampler output, VAD, segments,
jobs, the archive): Whisper's."""


class Encoding(StrEnum):
    LINEAR16 = "linear16"
    MULAW = "mulaw"
    ALAW = "alaw"


def _mulaw_table() -> Int16Array:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> Int16Array:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


MULAW_TABLE = _mulaw_table()
ALAW_TABLE = _alaw_table()

BYTES_PER_SAMPLE = {Encoding.LINEAR16: 2, Encoding.MULAW: 1, Encoding.ALAW: 1}


class FrameDecoder:
    """Turns a byte stream into (samples, channels) int16 blocks."""

    def __init__(self, encoding: Encoding, channels: int) -> None:
        if channels < 1:
            raise ValueError("channels must be >= 1")
        self.encoding = encoding
        self.channels = channels
        self._group = BYTES_PER_SAMPLE[encoding] * channels
        self._carry = b""

    @property
    def pending_bytes(self) -> int:
        return len(self._carry)

    def decode(self, data: bytes) -> Int16Array:
        """Decode as many whole sample groups as `data` (plus carry) holds."""
        buffer = self._carry + data if self._carry else data
        usable = len(buffer) - len(buffer) % self._group
        self._carry = bytes(buffer[usable:])
        raw = buffer[:usable]
        if self.encoding is Encoding.LINEAR16:
            samples = np.frombuffer(raw, dtype="<i2").astype(np.int16)
        elif self.encoding is Encoding.MULAW:
            samples = MULAW_TABLE[np.frombuffer(raw, dtype=np.uint8)]
        else:
            samples = ALAW_TABLE[np.frombuffer(raw, dtype=np.uint8)]
        return samples.reshape(-1, self.channels)


def downmix(block: Int16Array) -> Int16Array:
    """Average all channels of a (samples, channels) block into one channel."""
    if block.shape[1] == 1:
        return block[:, 0].copy()
    mixed: npt.NDArray[np.int32] = block.astype(np.int32).sum(axis=1) // block.shape[1]
    return mixed.astype(np.int16)


def split_channels(block: Int16Array) -> list[Int16Array]:
    return [np.ascontiguousarray(block[:, c]) for c in range(block.shape[1])]
