"""Scripted voice detectors and runs of the segmenter over frame patterns, for its tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streaming.codecs import Int16Array
from streaming.segmenter import (
    SegmentClosed,
    SegmentDropped,
    Segmenter,
    SegmenterConfig,
    SegmenterEvent,
    SpeechStarted,
)

RATE = 16_000


class ScriptedDetector:
    """Answers is_speech from a scripted voiced/unvoiced pattern, one entry per call."""

    def __init__(self, pattern: Sequence[bool], frame_ms: int = 10) -> None:
        self.pattern = list(pattern)
        self.calls = 0
        self._frame_samples = RATE * frame_ms // 1000

    @property
    def frame_samples(self) -> int:
        return self._frame_samples

    def is_speech(self, frame: Int16Array) -> bool:
        assert len(frame) == self._frame_samples
        verdict = self.pattern[self.calls] if self.calls < len(self.pattern) else False
        self.calls += 1
        return verdict


def levels_audio(levels: Sequence[int], frame_samples: int) -> Int16Array:
    """One constant-magnitude frame per level (alternating sign, so energy == level**2)."""
    signs = np.where(np.arange(frame_samples) % 2 == 0, 1, -1)
    if not levels:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([(signs * level).astype(np.int16) for level in levels])


def pattern_audio(pattern: Sequence[bool], frame_samples: int) -> Int16Array:
    return levels_audio([3000 if v else 0 for v in pattern], frame_samples)


def feed_all(segmenter: Segmenter, audio: Int16Array, chunk: int | Sequence[int] = 480) -> list[SegmenterEvent]:
    events: list[SegmenterEvent] = []
    sizes = [chunk] if isinstance(chunk, int) else list(chunk) or [len(audio) or 1]
    offset = 0
    i = 0
    while offset < len(audio):
        size = max(1, sizes[i % len(sizes)])
        events.extend(segmenter.feed(audio[offset : offset + size]))
        offset += size
        i += 1
    return events


@dataclass
class Run:
    events: list[SegmenterEvent]
    segmenter: Segmenter

    @property
    def ends(self) -> list[SegmentClosed | SegmentDropped]:
        return [e for e in self.events if isinstance(e, SegmentClosed | SegmentDropped)]

    @property
    def closed(self) -> list[SegmentClosed]:
        return [e for e in self.events if isinstance(e, SegmentClosed)]

    @property
    def started(self) -> list[SpeechStarted]:
        return [e for e in self.events if isinstance(e, SpeechStarted)]


def run(
    pattern: Sequence[bool],
    config: SegmenterConfig,
    *,
    frame_ms: int = 10,
    audio: Int16Array | None = None,
    chunk: int | Sequence[int] = 480,
    finish: str | None = "end_of_stream",
) -> Run:
    detector = ScriptedDetector(pattern, frame_ms)
    segmenter = Segmenter(detector, config)
    if audio is None:
        audio = pattern_audio(pattern, detector.frame_samples)
    events = feed_all(segmenter, audio, chunk)
    if finish == "end_of_stream":
        events.extend(segmenter.end_of_stream())
    elif finish == "finalize":
        events.extend(segmenter.finalize())
    return Run(events, segmenter)


def frames(*runs: tuple[bool, int]) -> list[bool]:
    out: list[bool] = []
    for voiced, count in runs:
        out.extend([voiced] * count)
    return out


V, U = True, False

# 10 ms frames; explicit numbers so the arithmetic in the tests is visible.
BASE = SegmenterConfig(
    endpointing_ms=100,
    preroll_ms=50,
    start_window_ms=50,
    start_voiced_ms=30,
    min_speech_ms=50,
    max_segment_s=2.0,
    cut_search_s=0.5,
)


def cfg(**changes: object) -> SegmenterConfig:
    values = {
        "endpointing_ms": BASE.endpointing_ms,
        "preroll_ms": BASE.preroll_ms,
        "start_window_ms": BASE.start_window_ms,
        "start_voiced_ms": BASE.start_voiced_ms,
        "min_speech_ms": BASE.min_speech_ms,
        "max_segment_s": BASE.max_segment_s,
        "cut_search_s": BASE.cut_search_s,
    }
    values.update(changes)
    return SegmenterConfig(**values)  # type: ignore[arg-type]
