"""Segmenter properties over generated frame patterns, configurations and chunkings (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.codecs import Int16Array
from streaming.segmenter import (
    CloseReason,
    SegmentClosed,
    SegmentDropped,
    SegmenterConfig,
    SegmenterEvent,
)
from tests.unit.segmenter_harness import (
    RATE,
    Run,
    run,
)

# -- properties ----------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn, *, cover_all_voiced: bool = False) -> tuple[list[bool], SegmenterConfig, int, list[int]]:
    frame_ms = draw(st.sampled_from([10, 20, 30]))
    runs = draw(st.lists(st.tuples(st.booleans(), st.integers(1, 160)), max_size=14))
    pattern = [voiced for voiced, count in runs for _ in range(count)]
    window = draw(st.integers(frame_ms, 300))
    if cover_all_voiced:
        start_voiced, min_speech = frame_ms, 0
    else:
        start_voiced = draw(st.integers(0, window))
        min_speech = draw(st.integers(0, 300))
    config = SegmenterConfig(
        endpointing_ms=draw(st.one_of(st.none(), st.integers(10, 600))),
        preroll_ms=draw(st.integers(0, 400)),
        start_window_ms=window,
        start_voiced_ms=start_voiced,
        min_speech_ms=min_speech,
        max_segment_s=draw(st.floats(1.0, 2.0)),
        cut_search_s=draw(st.floats(0.0, 1.5)),
    )
    chunks = draw(st.lists(st.integers(40, 3000), min_size=1, max_size=6))
    return pattern, config, frame_ms, chunks


def _random_audio(n_frames: int, frame_samples: int, seed: int) -> Int16Array:
    rng = np.random.default_rng(seed)
    return rng.integers(-3000, 3000, n_frames * frame_samples, dtype=np.int16)


def _check_invariants(
    result: Run, pattern: list[bool], config: SegmenterConfig, frame_ms: int, audio: Int16Array
) -> None:
    frame_s = frame_ms / 1000
    frame_samples = RATE * frame_ms // 1000
    ends = result.ends
    # seq numbers: 1, 2, 3, ... in order
    assert [e.seq for e in ends] == list(range(1, len(ends) + 1))
    previous_end = 0.0
    for event in ends:
        assert event.start >= previous_end - 1e-9, "segments overlap"
        assert event.end > event.start
        assert event.end - event.start <= config.max_segment_s + 1e-9
        previous_end = event.end
        first = round(event.start / frame_s)
        last = round(event.end / frame_s)
        voiced = sum(pattern[first:last])
        if isinstance(event, SegmentClosed):
            assert len(event.audio) == round((event.end - event.start) * RATE)
            assert np.array_equal(event.audio, audio[first * frame_samples : last * frame_samples])
            assert event.voiced_seconds == pytest.approx(voiced * frame_s)
            assert voiced >= round(config.min_speech_ms / frame_ms)
        else:
            assert voiced < round(config.min_speech_ms / frame_ms)
        if event.reason is CloseReason.ENDPOINT:
            assert config.endpointing_ms is not None
            tail = max(1, round(config.endpointing_ms / frame_ms))
            assert not any(pattern[last - tail : last])
    assert previous_end <= result.segmenter.clock + 1e-9
    # every SpeechStarted belongs to a segment that starts at or before it, on a voiced frame
    by_seq = {e.seq: e for e in ends}
    started_seqs = [s.seq for s in result.started]
    assert started_seqs == sorted(set(started_seqs))
    for started in result.started:
        segment = by_seq[started.seq]
        assert segment.start - 1e-9 <= started.timestamp < segment.end
        assert pattern[round(started.timestamp / frame_s)]
    # a segment that was not opened by SpeechStarted continues a forced cut
    for event in ends:
        if event.seq not in set(started_seqs):
            assert by_seq[event.seq - 1].reason is CloseReason.MAX_LENGTH
            assert by_seq[event.seq - 1].end == pytest.approx(event.start)


@settings(max_examples=120, deadline=None)
@given(scenario=scenarios(), seed=st.integers(0, 1000))
def test_segment_invariants(scenario: tuple[list[bool], SegmenterConfig, int, list[int]], seed: int) -> None:
    pattern, config, frame_ms, chunks = scenario
    frame_samples = RATE * frame_ms // 1000
    audio = _random_audio(len(pattern), frame_samples, seed)
    result = run(pattern, config, frame_ms=frame_ms, audio=audio, chunk=chunks)
    _check_invariants(result, pattern, config, frame_ms, audio)
    assert not result.segmenter.is_open


@settings(max_examples=120, deadline=None)
@given(scenario=scenarios(cover_all_voiced=True), seed=st.integers(0, 1000))
def test_every_voiced_frame_is_in_a_segment(
    scenario: tuple[list[bool], SegmenterConfig, int, list[int]], seed: int
) -> None:
    pattern, config, frame_ms, chunks = scenario
    frame_samples = RATE * frame_ms // 1000
    audio = _random_audio(len(pattern), frame_samples, seed)
    result = run(pattern, config, frame_ms=frame_ms, audio=audio, chunk=chunks)
    _check_invariants(result, pattern, config, frame_ms, audio)
    assert all(isinstance(e, SegmentClosed) for e in result.ends)
    covered = [False] * len(pattern)
    frame_s = frame_ms / 1000
    for event in result.ends:
        for i in range(round(event.start / frame_s), round(event.end / frame_s)):
            covered[i] = True
    assert all(covered[i] for i, voiced in enumerate(pattern) if voiced)


@settings(max_examples=60, deadline=None)
@given(scenario=scenarios(), other_chunks=st.lists(st.integers(40, 3000), min_size=1, max_size=6))
def test_chunking_does_not_change_segments(
    scenario: tuple[list[bool], SegmenterConfig, int, list[int]], other_chunks: list[int]
) -> None:
    pattern, config, frame_ms, chunks = scenario
    audio = _random_audio(len(pattern), RATE * frame_ms // 1000, 0)
    a = run(pattern, config, frame_ms=frame_ms, audio=audio, chunk=chunks)
    b = run(pattern, config, frame_ms=frame_ms, audio=audio, chunk=other_chunks)

    def key(events: list[SegmenterEvent]) -> list[object]:
        return [
            (type(e).__name__, e.seq, e.start, e.end, e.reason) if isinstance(e, SegmentClosed | SegmentDropped) else e
            for e in events
        ]

    assert key(a.events) == key(b.events)
