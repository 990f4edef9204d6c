"""streaming.segmenter: frames in, speech segments out."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.segmenter import (
    MAX_SEGMENT_LIMIT_S,
    CloseReason,
    SegmentClosed,
    SegmentDropped,
    Segmenter,
    SpeechStarted,
)
from tests.unit.configs import segmenter_config
from tests.unit.segmenter_harness import (
    BASE,
    RATE,
    ScriptedDetector,
    U,
    V,
    cfg,
    frames,
    levels_audio,
    pattern_audio,
    run,
)

# -- configuration ------------------------------------------------------------------


def test_default_config_matches_design() -> None:
    config = segmenter_config()
    assert config.max_segment_s == 15.0
    assert config.max_segment_s < 30
    assert 200 <= config.preroll_ms <= 300
    assert MAX_SEGMENT_LIMIT_S < 30


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"max_segment_s": 0.5}, "max_segment_s"),
        ({"max_segment_s": 30.0}, "max_segment_s"),
        ({"endpointing_ms": 5}, "endpointing_ms"),
        ({"endpointing_ms": 0}, "endpointing_ms"),
        ({"start_voiced_ms": 400, "start_window_ms": 300}, "start_voiced_ms"),
    ],
)
def test_bad_config_is_rejected(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        segmenter_config(**changes)


# -- opening -------------------------------------------------------------------------


def test_silence_gives_no_events() -> None:
    result = run([U] * 300, BASE)
    assert result.events == []
    assert result.segmenter.clock == pytest.approx(3.0)
    assert not result.segmenter.is_open


def test_speech_opens_after_enough_voiced_frames_with_preroll() -> None:
    pattern = frames((U, 100), (V, 50), (U, 20))
    result = run(pattern, BASE, finish=None)
    assert result.started == [SpeechStarted(seq=1, timestamp=pytest.approx(1.0))]
    (closed,) = result.closed
    # pre-roll of 50 ms before the first voiced frame; closed by 100 ms of silence.
    assert closed.start == pytest.approx(0.95)
    assert closed.end == pytest.approx(1.6)
    assert closed.reason is CloseReason.ENDPOINT
    assert closed.voiced_seconds == pytest.approx(0.5)
    assert closed.seq == 1


def test_sparse_voiced_frames_do_not_open() -> None:
    # two voiced frames in any 5-frame window; three are needed
    pattern = [i % 3 == 0 for i in range(300)]
    assert run(pattern, BASE).events == []


def test_start_window_counts_voiced_frames_not_runs() -> None:
    pattern = frames((U, 20), (V, 1), (U, 1), (V, 1), (U, 1), (V, 1), (V, 10), (U, 20))
    result = run(pattern, BASE)
    assert [s.timestamp for s in result.started] == [pytest.approx(0.20)]


def test_preroll_is_limited_by_start_of_stream() -> None:
    result = run(frames((U, 2), (V, 30), (U, 20)), BASE)
    assert result.closed[0].start == 0.0


def test_preroll_never_reaches_before_previous_segment_end() -> None:
    # segment 1 ends at 0.5 + 0.3 + 0.1 (endpoint) = 0.9; speech again 20 ms later
    pattern = frames((U, 50), (V, 30), (U, 12), (V, 30), (U, 20))
    result = run(pattern, cfg(preroll_ms=200))
    first, second = result.closed
    assert first.end == pytest.approx(0.9)
    assert second.start == pytest.approx(first.end)
    assert result.started[1].timestamp == pytest.approx(0.92)
    assert len(second.audio) == round((second.end - second.start) * RATE)


def test_min_speech_drops_short_blips() -> None:
    pattern = frames((U, 20), (V, 4), (U, 20), (V, 10), (U, 20))
    result = run(pattern, cfg(min_speech_ms=50))
    assert [type(e) for e in result.ends] == [SegmentDropped, SegmentClosed]
    dropped, closed = result.ends
    assert (dropped.seq, closed.seq) == (1, 2)
    assert dropped.reason is CloseReason.ENDPOINT
    assert dropped.start == pytest.approx(0.15)
    assert dropped.end == pytest.approx(0.34)
    assert closed.voiced_seconds == pytest.approx(0.10)


# -- endpointing ---------------------------------------------------------------------


def test_endpointing_needs_consecutive_unvoiced_frames() -> None:
    gappy = frames((V, 20), (U, 9), (V, 20), (U, 9), (V, 20), (U, 10), (U, 5))
    result = run(gappy, BASE, finish=None)
    (closed,) = result.closed
    assert closed.reason is CloseReason.ENDPOINT
    assert closed.start == 0.0
    assert closed.end == pytest.approx(0.88)


def test_endpointing_none_keeps_segment_open_through_silence() -> None:
    pattern = frames((V, 20), (U, 100), (V, 20), (U, 30))
    result = run(pattern, cfg(endpointing_ms=None, max_segment_s=5.0), finish=None)
    assert result.ends == []
    assert result.segmenter.is_open
    assert result.segmenter.open_seq == 1
    assert result.segmenter.open_start() == 0.0
    assert len(result.segmenter.open_audio()) == 170 * 160
    (closed,) = result.segmenter.finalize()
    assert isinstance(closed, SegmentClosed)
    assert closed.reason is CloseReason.FINALIZE
    assert (closed.start, closed.end) == (0.0, pytest.approx(1.7))
    assert not result.segmenter.is_open


def test_endpointing_none_cuts_at_max_length() -> None:
    pattern = frames((V, 20), (U, 400))
    result = run(pattern, cfg(endpointing_ms=None, max_segment_s=1.0, cut_search_s=0.3), finish=None)
    reasons = [e.reason for e in result.ends]
    assert reasons[0] is CloseReason.MAX_LENGTH
    assert isinstance(result.ends[0], SegmentClosed)
    # later cuts hold no speech at all: dropped, still at max length
    assert all(isinstance(e, SegmentDropped) for e in result.ends[1:])
    assert all(e.end - e.start <= 1.0 + 1e-9 for e in result.ends)


# -- forced cuts ---------------------------------------------------------------------


def test_forced_cut_at_quietest_recent_frame() -> None:
    # 2 s of speech at max_segment_s=2.0 (200 frames), searched over the last 0.5 s.
    levels = [3000] * 260
    levels[170] = 200  # quietest in the search range [150, 200)
    levels[100] = 10  # quieter, but outside the search range
    pattern = [True] * 260
    audio = levels_audio(levels, 160)
    result = run(pattern, BASE, audio=audio, finish="end_of_stream")
    first, second = result.closed
    assert first.reason is CloseReason.MAX_LENGTH
    assert first.end == pytest.approx(1.71)
    assert second.start == pytest.approx(first.end)
    assert second.end == pytest.approx(2.6)
    assert second.reason is CloseReason.END_OF_STREAM
    assert (first.seq, second.seq) == (1, 2)
    # the remainder continues the speech: no second SpeechStarted
    assert result.started == [SpeechStarted(1, 0.0)]
    assert np.array_equal(np.concatenate([first.audio, second.audio]), audio[: 260 * 160])


def test_forced_cut_prefers_unvoiced_over_quiet_voiced() -> None:
    levels = [3000] * 210
    pattern = [True] * 210
    levels[160] = 1  # quiet but voiced
    pattern[180] = False  # unvoiced, loud
    levels[180] = 5000
    result = run(pattern, BASE, audio=levels_audio(levels, 160), finish=None)
    assert result.closed[0].end == pytest.approx(1.81)


def test_forced_cut_remainder_can_still_end_by_endpoint() -> None:
    levels = [3000] * 200 + [0] * 50
    levels[190] = 100
    pattern = [True] * 200 + [False] * 50
    result = run(pattern, BASE, audio=levels_audio(levels, 160), finish=None)
    first, second = result.closed
    assert first.reason is CloseReason.MAX_LENGTH
    assert first.end == pytest.approx(1.91)
    assert second.reason is CloseReason.ENDPOINT
    assert second.start == pytest.approx(1.91)
    assert second.end == pytest.approx(2.10)


def test_segments_never_exceed_max_length() -> None:
    result = run([True] * 1000, cfg(max_segment_s=1.0, cut_search_s=0.2))
    assert len(result.ends) >= 10
    for event in result.ends:
        assert event.end - event.start <= 1.0 + 1e-9


def test_segments_never_exceed_a_max_length_between_frames() -> None:
    # 1.006 s is not a whole number of 10 ms frames; ever quieter speech puts
    # the quietest frame at the very end of each search range.
    levels = [30_000 - 20 * i for i in range(500)]
    result = run([True] * 500, cfg(max_segment_s=1.006, cut_search_s=0.2), audio=levels_audio(levels, 160))
    assert len(result.ends) >= 4
    for event in result.ends:
        assert event.end - event.start <= 1.006


def test_zero_cut_search_cuts_at_the_limit() -> None:
    result = run([True] * 250, cfg(cut_search_s=0.0), finish=None)
    (first,) = result.closed
    assert first.reason is CloseReason.MAX_LENGTH
    assert first.end == pytest.approx(2.0)


# -- finalize / end of stream ----------------------------------------------------------


def test_finalize_with_nothing_open_is_empty() -> None:
    result = run([U] * 50, BASE, finish=None)
    assert result.segmenter.finalize() == []
    assert result.segmenter.end_of_stream() == []


def test_finalize_and_end_of_stream_reasons() -> None:
    pattern = frames((V, 30))
    finalized = run(pattern, BASE, finish="finalize")
    assert [e.reason for e in finalized.ends] == [CloseReason.FINALIZE]
    ended = run(pattern, BASE, finish="end_of_stream")
    assert [e.reason for e in ended.ends] == [CloseReason.END_OF_STREAM]
    assert ended.closed[0].end == pytest.approx(0.3)


def test_finalize_of_short_speech_is_dropped_with_reason() -> None:
    result = run(frames((U, 10), (V, 3)), cfg(min_speech_ms=100), finish="finalize")
    (dropped,) = result.ends
    assert isinstance(dropped, SegmentDropped)
    assert dropped.reason is CloseReason.FINALIZE


def test_speech_after_finalize_opens_new_segment() -> None:
    detector = ScriptedDetector(frames((V, 30), (V, 30), (U, 20)))
    segmenter = Segmenter(detector, BASE)
    events = segmenter.feed(pattern_audio([V] * 30, 160))
    events += segmenter.finalize()
    events += segmenter.feed(pattern_audio(frames((V, 30), (U, 20)), 160))
    ends = [e for e in events if isinstance(e, SegmentClosed)]
    assert [(e.seq, e.reason) for e in ends] == [(1, CloseReason.FINALIZE), (2, CloseReason.ENDPOINT)]
    assert ends[1].start == pytest.approx(0.3)
    assert len([e for e in events if isinstance(e, SpeechStarted)]) == 2


# -- queries and growth -----------------------------------------------------------------


def test_queries_when_closed() -> None:
    segmenter = Segmenter(ScriptedDetector([]), BASE)
    assert not segmenter.is_open
    assert segmenter.open_seq is None
    assert segmenter.open_audio().size == 0
    assert segmenter.clock == 0.0
    with pytest.raises(RuntimeError):
        segmenter.open_start()


def test_open_segment_audio_follows_whole_frames() -> None:
    detector = ScriptedDetector([V] * 100)
    segmenter = Segmenter(detector, BASE)
    audio = pattern_audio([V] * 100, 160)
    assert [type(e) for e in segmenter.feed(audio[:800])] == [SpeechStarted]  # 5 frames: opens at frame 3
    assert segmenter.open_duration() == pytest.approx(0.05)
    assert segmenter.feed(audio[800:850]) == []  # no whole frame: nothing new
    assert segmenter.feed(audio[850:1600]) == []
    assert segmenter.clock == pytest.approx(0.1)
    assert segmenter.open_start() == 0.0 and segmenter.open_duration() == pytest.approx(0.1)
    assert len(segmenter.open_audio()) == 1600
    assert np.array_equal(segmenter.open_audio(), audio[:1600])


def test_partial_frames_are_carried_between_feeds() -> None:
    pattern = frames((U, 30), (V, 40), (U, 20))
    one = run(pattern, BASE, chunk=100_000)
    odd = run(pattern, BASE, chunk=[1, 7, 159, 161, 333])
    assert [(type(e), e.seq) for e in one.ends] == [(type(e), e.seq) for e in odd.ends]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(one.closed, odd.closed, strict=True))


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_sizes(frame_ms: int) -> None:
    # speech from 1.2 s to 2.4 s of 3.6 s: whole frames at every frame size
    n = 3600 // frame_ms
    voiced_from, voiced_to = 1200 // frame_ms, 2400 // frame_ms
    pattern = [voiced_from <= i < voiced_to for i in range(n)]
    config = segmenter_config(endpointing_ms=300, preroll_ms=60, start_window_ms=90, start_voiced_ms=60)
    result = run(pattern, config, frame_ms=frame_ms)
    (closed,) = result.closed
    assert result.started[0].timestamp == pytest.approx(1.2)
    assert closed.start == pytest.approx(1.2 - 0.06)
    assert closed.end == pytest.approx(2.4 + 0.3)
    assert closed.reason is CloseReason.ENDPOINT
    assert len(closed.audio) == round((closed.end - closed.start) * RATE)
