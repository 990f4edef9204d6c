"""The call clock: a call's tracks as one multichannel stream in true call time.

Twilio sends each track's 20 ms chunks separately, each stamped with its
place on the call's clock (`timestamp`, ms from the start of the stream). A
track can start late (the agent joins seconds after the caller), pause, or
have gaps (lost packets); a chunk can arrive twice or out of order. The
session needs one interleaved stream whose channels line up sample by sample,
so that a result's `start` is the call time at which it was said.

`CallClock` keeps, per track, the audio not yet handed on; `push` places a
chunk by its timestamp (silence fills a gap, audio already handed on is
dropped) and returns the interleaved audio that every track now covers. A
track that falls more than `max_skew_ms` behind the others is filled with
silence up to that bound, so a track that has not started (or has stopped)
never holds the others back by more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENCE = {"mulaw": 0xFF, "alaw": 0xD5}
"""The code of a zero sample: mu-law 0xFF, A-law 0xD5."""


@dataclass(slots=True)
class _Track:
    pending: bytearray
    """Audio from `emitted` on, not handed on yet."""
    late_bytes: int = 0


class TimestampJump(Exception):
    """A chunk claims a place further ahead than `max_gap_ms`: filling it would be unbounded."""


class CallClock:
    """Aligns one-byte-per-sample tracks (G.711) by their timestamps.

    The caller's duties: `push` every chunk in arrival order, `flush` once at
    the end; feed what they return, in order, to a session that reads
    interleaved audio with one channel per track. Memory is bounded: a track
    holds at most `max_skew_ms` plus one chunk beyond the others.
    """

    def __init__(
        self, tracks: int, *, sample_rate: int, silence: int, max_skew_ms: int = 500, max_gap_ms: int = 60_000
    ) -> None:
        if tracks < 1:
            raise ValueError("tracks must be >= 1")
        self._rate = sample_rate
        self._silence = silence
        self._max_skew = max_skew_ms * sample_rate // 1000
        self._max_gap = max_gap_ms * sample_rate // 1000
        self._tracks = [_Track(bytearray()) for _ in range(tracks)]
        self._emitted = 0
        """Samples per track handed on so far: the call time, in samples, of the next output."""
        self.filled_samples = 0
        """Silence inserted for gaps and late tracks, all tracks together (for logs and metrics)."""

    @property
    def late_bytes(self) -> int:
        """Audio dropped because its place had been handed on already (duplicates, very late chunks)."""
        return sum(track.late_bytes for track in self._tracks)

    @property
    def seconds(self) -> float:
        """Call time handed on so far."""
        return self._emitted / self._rate

    @property
    def latest_seconds(self) -> float:
        """Call time of the newest audio received on any track: "now" on the call's clock."""
        return (self._emitted + max(len(track.pending) for track in self._tracks)) / self._rate

    def push(self, track: int, timestamp_ms: int, payload: bytes) -> bytes:
        """Place one chunk of `track` at `timestamp_ms`; the interleaved audio now complete."""
        state = self._tracks[track]
        position = timestamp_ms * self._rate // 1000
        end_of_pending = self._emitted + len(state.pending)
        if position > end_of_pending:
            if position - end_of_pending > self._max_gap:
                raise TimestampJump(
                    f"media timestamp {timestamp_ms} ms jumps {(position - end_of_pending) / self._rate:.0f} s "
                    f"ahead of the track's audio (at most {self._max_gap / self._rate:.0f} s)"
                )
            self._fill(state, position - end_of_pending)
        elif position < end_of_pending:
            # Audio overlapping what this track already holds: a duplicate or a
            # late chunk. Keep only what lies beyond.
            overlap = min(end_of_pending - position, len(payload))
            state.late_bytes += overlap
            payload = payload[overlap:]
        state.pending += payload
        return self._take(self._ready())

    def flush(self) -> bytes:
        """The end of the call: every track padded with silence to the longest, interleaved."""
        longest = max(len(track.pending) for track in self._tracks)
        for track in self._tracks:
            self._fill(track, longest - len(track.pending))
        return self._take(longest)

    def _ready(self) -> int:
        """Samples every track can hand on now, after filling tracks that fell too far behind."""
        longest = max(len(track.pending) for track in self._tracks)
        for track in self._tracks:
            behind = longest - len(track.pending)
            if behind > self._max_skew:
                self._fill(track, behind - self._max_skew)
        return min(len(track.pending) for track in self._tracks)

    def _fill(self, track: _Track, samples: int) -> None:
        if samples > 0:
            track.pending += bytes([self._silence]) * samples
            self.filled_samples += samples

    def _take(self, samples: int) -> bytes:
        if samples <= 0:
            return b""
        columns = [np.frombuffer(bytes(track.pending[:samples]), dtype=np.uint8) for track in self._tracks]
        for track in self._tracks:
            del track.pending[:samples]
        self._emitted += samples
        if len(columns) == 1:
            return columns[0].tobytes()
        return np.stack(columns, axis=1).tobytes()
