"""Decode audio files with PyAV (FFmpeg): the only module that imports av."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from streaming.codecs import SAMPLE_RATE, Int16Array


class MediaError(Exception):
    """A file that FFmpeg cannot read as audio; the message says why."""


class MediaTooLong(MediaError):
    """A file longer than the decoder may decode (its `max_seconds`)."""


# Containers whose header states the duration, so that a file cut short shows.
# (MP3 and Ogg durations are estimated or read from the last page: no use.)
_DECLARING_FORMATS = ("matroska", "webm", "mov", "mp4", "m4a", "3gp", "wav", "w64", "flac", "aiff", "caf")
TRUNCATION_TOLERANCE_S = 1.0


@dataclass(frozen=True, slots=True)
class AudioInfo:
    container: str
    codec: str
    channels: int
    sample_rate: int
    declared_duration: float | None
    """What the container's header says, where it says it; None when unknown or estimated."""


class AudioDecoder:
    """A file's first audio stream as 16 kHz int16 blocks of shape (samples, channels).

    Reads the file as it decodes (never whole into memory). Channels are
    downmixed by FFmpeg unless `keep_channels`. Raises MediaError, with a
    message that says what is wrong, for a file FFmpeg cannot open, one without
    audio, a decoding failure, and a file that ends well before the duration
    its header declares (truncated); MediaTooLong for one longer than
    `max_seconds`, before decoding when the header says so and otherwise as
    soon as the decoded audio passes it (no block past the limit is returned)."""

    def __init__(
        self,
        source: str | Path | BinaryIO,
        *,
        name: str = "file",
        keep_channels: bool = False,
        max_seconds: float | None = None,
    ) -> None:
        self.name = name
        self.max_seconds = max_seconds
        """Decode no more than this: MediaTooLong when the header declares more, or the audio runs past it."""
        try:
            self._container = av.open(source if not isinstance(source, Path) else str(source), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise MediaError(f"{name} is not an audio or video file FFmpeg can read ({_reason(error)})") from error
        try:
            if not self._container.streams.audio:
                raise MediaError(f"{name} has no audio stream")
            self._stream = self._container.streams.audio[0]
            context = self._stream.codec_context
            channels = int(context.channels or 0)
            rate = int(context.sample_rate or 0)
            if channels < 1 or rate < 1:
                raise MediaError(f"{name}: its audio stream has no usable channel count or sample rate")
            self.info = AudioInfo(
                container=str(self._container.format.name),
                codec=str(context.name),
                channels=channels,
                sample_rate=rate,
                declared_duration=self._declared_duration(),
            )
            self._refuse_if_longer(self.info.declared_duration, declared=True)
        except BaseException:
            self._container.close()
            raise
        self.channels = channels if keep_channels and channels > 1 else 1
        layout = self._stream.codec_context.layout if self.channels > 1 else "mono"
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        self._frames = self._container.decode(self._stream)
        self.samples = 0
        """Samples per channel decoded so far, at 16 kHz."""
        self.finished = False

    def _declared_duration(self) -> float | None:
        formats = str(self._container.format.name).split(",")
        if not any(f in _DECLARING_FORMATS for f in formats):
            return None
        if self._stream.duration is not None and self._stream.time_base is not None:
            return float(self._stream.duration * self._stream.time_base)
        if self._container.duration is not None:
            return float(self._container.duration) / av.time_base
        return None

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def read(self, min_samples: int = SAMPLE_RATE) -> Int16Array:
        """At least `min_samples` samples per channel, fewer only at the end; shape (n, channels).
        An empty block means the end of the audio."""
        blocks: list[Int16Array] = []
        count = 0
        try:
            while count < min_samples and not self.finished:
                frame = next(self._frames, None)
                outs = self._resampler.resample(frame)
                if frame is None:
                    self.finished = True
                for out in outs:
                    block = out.to_ndarray().reshape(-1, self.channels).astype(np.int16)
                    blocks.append(block)
                    count += len(block)
        except av.error.FFmpegError as error:
            raise MediaError(
                f"{self.name} is corrupt: decoding failed after {self.seconds + count / SAMPLE_RATE:.1f} s "
                f"({_reason(error)})"
            ) from error
        self._refuse_if_longer((self.samples + count) / SAMPLE_RATE, declared=False)
        self.samples += count
        if self.finished:
            self._check_complete()
        if not blocks:
            return np.zeros((0, self.channels), dtype=np.int16)
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def _refuse_if_longer(self, seconds: float | None, *, declared: bool) -> None:
        limit = self.max_seconds
        if limit is None or seconds is None or seconds <= limit:
            return
        what = f"its header declares {_hms(seconds)} of audio" if declared else f"its audio runs past {_hms(limit)}"
        raise MediaTooLong(
            f"{self.name} is too long: {what}; this server transcribes at most {_hms(limit)} (max_upload_seconds)"
        )

    def _check_complete(self) -> None:
        declared = self.info.declared_duration
        if self.samples == 0:
            if declared:
                raise MediaError(f"{self.name} is corrupt: no audio could be decoded of the {declared:.1f} s declared")
            raise MediaError(f"{self.name} contains no audio samples")
        if declared is not None and self.seconds < declared - TRUNCATION_TOLERANCE_S:
            raise MediaError(
                f"{self.name} is truncated or corrupt: its audio ends after {self.seconds:.1f} s "
                f"but its header declares {declared:.1f} s"
            )

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AudioDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wav_shortfall(head: bytes, size: int) -> int:
    """Bytes a WAV file lacks of the data chunk its header declares (0 when
    complete, not a WAV, or the size is a streaming placeholder). FFmpeg
    trusts the bytes it finds for WAV and reports that shorter duration, so
    a file cut short can only be told from its header."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    offset = 12
    while offset + 8 <= len(head):
        chunk, length = head[offset : offset + 4], int.from_bytes(head[offset + 4 : offset + 8], "little")
        if chunk == b"data":
            if length in (0, 0xFFFFFFFF):
                return 0  # written before the length was known
            return max(0, offset + 8 + length - size)
        offset += 8 + length + (length & 1)
    return 0


def _hms(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _reason(error: BaseException) -> str:
    # FFmpeg's own words, without the file name PyAV appends (a descriptor number for file objects).
    strerror = getattr(error, "strerror", None)
    text = (strerror if isinstance(strerror, str) and strerror else str(error)).strip() or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
