"""Cut a 16 kHz stream into speech segments.

Frames in, events out. Speech opens once enough voiced frames fall in a short
window (with pre-roll kept before the first voiced frame), closes after
`endpointing_ms` of unvoiced frames, and is force-cut at the quietest recent
frame when it reaches the maximum length. Segments never overlap: pre-roll
never reaches back before the end of the previous segment.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.vad import VoiceDetector

MAX_SEGMENT_LIMIT_S = 29.0


class CloseReason(StrEnum):
    ENDPOINT = "endpoint"
    MAX_LENGTH = "max_length"
    FINALIZE = "finalize"
    END_OF_STREAM = "end_of_stream"


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    seq: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class SegmentClosed:
    seq: int
    start: float
    end: float
    audio: Int16Array = field(repr=False)
    reason: CloseReason
    voiced_seconds: float
    speech_end: float
    """End of its last voiced frame: only unvoiced frames follow, up to `end`."""


@dataclass(frozen=True, slots=True)
class SegmentDropped:
    """A segment closed with less voiced audio than the minimum speech length."""

    seq: int
    start: float
    end: float
    reason: CloseReason


SegmenterEvent = SpeechStarted | SegmentClosed | SegmentDropped


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmenterConfig:
    """The first four come from the server's settings (live: through
    `SessionConfig.segmenter_config`; uploads: their own), where their
    defaults are written; the others are not settings."""

    endpointing_ms: int | None
    """Unvoiced time that ends a segment; None: only max length, Finalize or end of stream."""
    preroll_ms: int
    min_speech_ms: int
    max_segment_s: float
    start_window_ms: int = 300
    start_voiced_ms: int = 120
    cut_search_s: float = 3.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.max_segment_s <= MAX_SEGMENT_LIMIT_S:
            raise ValueError(f"max_segment_s must be 1-{MAX_SEGMENT_LIMIT_S}, not {self.max_segment_s}")
        if self.endpointing_ms is not None and self.endpointing_ms < 10:
            raise ValueError(f"endpointing_ms must be >= 10, not {self.endpointing_ms}")
        if self.start_voiced_ms > self.start_window_ms:
            raise ValueError("start_voiced_ms cannot exceed start_window_ms")


@dataclass(slots=True)
class _Frame:
    index: int
    samples: Int16Array
    voiced: bool
    energy: float


class Segmenter:
    """Sans-I/O speech segmenter over a `VoiceDetector`."""

    def __init__(self, detector: VoiceDetector, config: SegmenterConfig) -> None:
        self.config = config
        self._detector = detector
        self._frame_samples = detector.frame_samples
        frame_ms = 1000 * self._frame_samples / SAMPLE_RATE
        self._frame_ms = frame_ms
        self._preroll_frames = round(self.config.preroll_ms / frame_ms)
        self._window_frames = max(1, round(self.config.start_window_ms / frame_ms))
        self._start_voiced_frames = max(1, round(self.config.start_voiced_ms / frame_ms))
        self._min_voiced_frames = round(self.config.min_speech_ms / frame_ms)
        self._endpoint_frames = (
            None if self.config.endpointing_ms is None else max(1, round(self.config.endpointing_ms / frame_ms))
        )
        # Whole frames that fit in the maximum length: rounding up would let a
        # segment run past max_segment_s (the epsilon absorbs float noise).
        self._max_frames = math.floor(self.config.max_segment_s * 1000 / frame_ms + 1e-9)
        self._cut_search_frames = round(self.config.cut_search_s * 1000 / frame_ms)
        self._history: deque[_Frame] = deque(maxlen=self._preroll_frames + self._window_frames)
        self._remainder = np.zeros(0, dtype=np.int16)
        self._next_index = 0
        self._last_end_index = 0
        self._seq = 0
        self._open: list[_Frame] | None = None
        self._trailing_unvoiced = 0

    # -- queries ---------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open is not None

    @property
    def open_seq(self) -> int | None:
        return self._seq if self._open is not None else None

    @property
    def clock(self) -> float:
        """Seconds of audio consumed into whole frames."""
        return self._next_index * self._frame_samples / SAMPLE_RATE

    def open_duration(self) -> float:
        """Seconds of audio in the open segment, without joining its frames."""
        return 0.0 if self._open is None else len(self._open) * self._frame_samples / SAMPLE_RATE

    def open_audio(self) -> Int16Array:
        """Audio of the open segment so far (empty when none is open)."""
        if self._open is None:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([frame.samples for frame in self._open])

    def open_start(self) -> float:
        if self._open is None:
            raise RuntimeError("no open segment")
        return self._time(self._open[0].index)

    def open_silence(self) -> float:
        """Seconds of unvoiced frames ending the open segment (0.0 when none is open)."""
        return self._trailing_unvoiced * self._frame_samples / SAMPLE_RATE

    def open_speech_end(self) -> float:
        """End of the open segment's last voiced frame (its start when it has none)."""
        if self._open is None:
            raise RuntimeError("no open segment")
        return self._time(max(self._next_index - self._trailing_unvoiced, self._open[0].index))

    def open_is_speech(self) -> bool:
        """Whether the open segment, closed now, would be transcribed rather
        than dropped (enough voiced frames)."""
        return self._open is not None and sum(frame.voiced for frame in self._open) >= self._min_voiced_frames

    # -- input -----------------------------------------------------------
    def feed(self, samples: Int16Array) -> list[SegmenterEvent]:
        """Consume 16 kHz samples; return the events they caused."""
        buffer = np.concatenate([self._remainder, samples]) if self._remainder.size else samples
        whole = len(buffer) - len(buffer) % self._frame_samples
        self._remainder = np.array(buffer[whole:], dtype=np.int16)
        events: list[SegmenterEvent] = []
        for offset in range(0, whole, self._frame_samples):
            self._consume(buffer[offset : offset + self._frame_samples], events)
        return events

    def finalize(self) -> list[SegmenterEvent]:
        """Close the open segment now (client asked for Finalize)."""
        return self._close_all(CloseReason.FINALIZE)

    def end_of_stream(self) -> list[SegmenterEvent]:
        return self._close_all(CloseReason.END_OF_STREAM)

    # -- internals -------------------------------------------------------
    def _time(self, frame_index: int) -> float:
        return frame_index * self._frame_samples / SAMPLE_RATE

    def _consume(self, samples: Int16Array, events: list[SegmenterEvent]) -> None:
        frame = _Frame(
            index=self._next_index,
            samples=np.array(samples, dtype=np.int16),
            voiced=self._detector.is_speech(samples),
            energy=float(np.mean(samples.astype(np.float32) ** 2)),
        )
        self._next_index += 1
        if self._open is None:
            self._history.append(frame)
            self._maybe_open(events)
            return
        self._open.append(frame)
        if frame.voiced:
            self._trailing_unvoiced = 0
        else:
            self._trailing_unvoiced += 1
        if self._endpoint_frames is not None and self._trailing_unvoiced >= self._endpoint_frames:
            self._close(CloseReason.ENDPOINT, events)
        elif len(self._open) >= self._max_frames:
            self._force_cut(events)

    def _maybe_open(self, events: list[SegmenterEvent]) -> None:
        window = list(self._history)[-self._window_frames :]
        voiced = [frame for frame in window if frame.voiced]
        if len(voiced) < self._start_voiced_frames:
            return
        first_voiced = voiced[0].index
        start_index = max(first_voiced - self._preroll_frames, self._last_end_index)
        frames = [frame for frame in self._history if frame.index >= start_index]
        self._history.clear()
        self._seq += 1
        self._open_segment(frames)
        events.append(SpeechStarted(self._seq, self._time(first_voiced)))

    def _open_segment(self, frames: list[_Frame]) -> None:
        self._open = frames
        self._trailing_unvoiced = 0
        for frame in reversed(frames):
            if frame.voiced:
                break
            self._trailing_unvoiced += 1

    def _close(self, reason: CloseReason, events: list[SegmenterEvent], upto: int | None = None) -> None:
        """Close the open segment, keeping frames [0, upto) of it (all by default)."""
        assert self._open is not None
        frames = self._open if upto is None else self._open[:upto]
        start = self._time(frames[0].index)
        end_index = frames[-1].index + 1
        end = self._time(end_index)
        voiced = sum(frame.voiced for frame in frames)
        if voiced < self._min_voiced_frames:
            events.append(SegmentDropped(self._seq, start, end, reason))
        else:
            audio = np.concatenate([frame.samples for frame in frames])
            # min_speech_ms=0 lets a segment without voiced frames through: its speech ends at its start.
            speech_end = max((self._time(frame.index + 1) for frame in frames if frame.voiced), default=start)
            events.append(
                SegmentClosed(self._seq, start, end, audio, reason, voiced * self._frame_ms / 1000, speech_end)
            )
        self._last_end_index = end_index
        self._open = None
        self._trailing_unvoiced = 0

    def _force_cut(self, events: list[SegmenterEvent]) -> None:
        """Cut at the quietest frame of the recent past; the rest opens the next segment."""
        assert self._open is not None
        frames = self._open
        # The search always holds at least the newest frame (cut_search_s may
        # round to zero frames).
        earliest = min(max(len(frames) - self._cut_search_frames, len(frames) // 2), len(frames) - 1)
        quietest = min(range(earliest, len(frames)), key=lambda i: (frames[i].voiced, frames[i].energy))
        remainder = frames[quietest + 1 :]
        self._close(CloseReason.MAX_LENGTH, events, upto=quietest + 1)
        if not remainder:
            return
        # Speech continues across the cut: the remainder opens the next segment
        # at once, without a new SpeechStarted.
        self._seq += 1
        self._open_segment(remainder)

    def _close_all(self, reason: CloseReason) -> list[SegmenterEvent]:
        events: list[SegmenterEvent] = []
        if self._open is not None:
            self._close(reason, events)
        return events
