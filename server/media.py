"""Decode audio files with PyAV (FFmpeg): the only module that imports av."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from streaming.codecs import Int16Array

TARGET_RATE = 16_000


class MediaError(Exception):
    """A file that FFmpeg cannot read as audio; the message says why."""


def iter_pcm16(path: Path, rate: int = TARGET_RATE, layout: str = "mono") -> Iterator[Int16Array]:
    """Yield the file's first audio stream as int16 blocks at `rate`, resampled and
    downmixed by FFmpeg, without reading the whole file into memory."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"cannot open {path.name}: {error}") from error
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.int16)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1).astype(np.int16)
        except av.error.FFmpegError as error:
            raise MediaError(f"cannot decode {path.name}: {error}") from error


def read_pcm16(path: Path, rate: int = TARGET_RATE) -> Int16Array:
    blocks = list(iter_pcm16(path, rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)
