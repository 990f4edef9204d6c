"""Streaming sample-rate conversion to the 16 kHz that Whisper and the VAD use.

soxr keeps the filter state between calls, so a stream cut into chunks of any
size resamples to the same samples as the whole stream at once: no clicks at
chunk edges.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from streaming.codecs import SAMPLE_RATE, Int16Array

MIN_RATE = 8_000
MAX_RATE = 48_000


class StreamResampler:
    """Resamples a mono int16 stream from `input_rate` to 16 kHz."""

    def __init__(self, input_rate: int, quality: str = "HQ") -> None:
        if not MIN_RATE <= input_rate <= MAX_RATE:
            raise ValueError(f"sample rate {input_rate} outside {MIN_RATE}-{MAX_RATE} Hz")
        self.input_rate = input_rate
        self._stream = (
            None
            if input_rate == SAMPLE_RATE
            # float32 rather than int16: soxr's int16 path dithers, which would
            # make the output depend on how the stream was chunked.
            else soxr.ResampleStream(input_rate, SAMPLE_RATE, 1, dtype="float32", quality=quality)
        )

    def process(self, samples: Int16Array, last: bool = False) -> Int16Array:
        if self._stream is None:
            return samples
        floats = samples.astype(np.float32) / 32768.0
        out: npt.NDArray[np.float32] = self._stream.resample_chunk(floats, last=last)
        scaled: npt.NDArray[np.float32] = np.clip(np.rint(out * 32768.0), -32768, 32767)
        return scaled.astype(np.int16)

    def flush(self) -> Int16Array:
        """Drain the filter's delay line at the end of the stream."""
        return self.process(np.zeros(0, dtype=np.int16), last=True)
