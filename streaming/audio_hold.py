"""Archive audio held back until its words are final, so that redacted words
can be silenced before the audio is written (`redact_audio=true`).

Finals come seconds after their audio, and an archive streams its audio out
as it comes (to S3 in parts), so nothing written can be changed. With
`redact_audio`, the session keeps its 16 kHz audio here, silences each
redacted span, and releases only what lies before the point every channel
has settled (all finals there sent, nothing there can still be redacted).
Memory is bounded by the longest a segment can stay open plus the time its
final takes.
"""

from __future__ import annotations

import numpy as np

from streaming.actions import RecordAudio
from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.finals import FinalsInOrder
from streaming.redaction import RedactedSpan
from streaming.segmenter import Segmenter


def settled_until(segmenter: Segmenter, finals: FinalsInOrder) -> float:
    """Stream time before which a channel's finals are all released: no later
    final can redact audio there (the next segment's preroll included)."""
    lookback_s = (segmenter.config.preroll_ms + segmenter.config.start_window_ms) / 1000
    candidates = [segmenter.clock - lookback_s]
    if segmenter.is_open:
        candidates.append(segmenter.open_start())
    if (earliest := finals.earliest_start) is not None:
        candidates.append(earliest)
    return max(0.0, min(candidates))


class AudioHold:
    """(samples, channels) int16 audio from `released` on, in arrival order."""

    def __init__(self, channels: int) -> None:
        self._channels = channels
        self._blocks: list[Int16Array] = []
        self._held = 0
        self.released = 0
        """Samples per channel handed on so far (the stream position of the hold's first sample)."""
        self.unreachable_spans = 0
        """Spans that reached back into audio already released (should stay 0: counted, not hidden)."""

    @property
    def held_seconds(self) -> float:
        return self._held / SAMPLE_RATE

    def add(self, samples: Int16Array) -> None:
        if len(samples):
            self._blocks.append(samples)
            self._held += len(samples)

    def silence(self, channel: int, start_s: float, end_s: float) -> None:
        """Zero `channel` between the two stream times, where that audio is still held."""
        begin = max(int(start_s * SAMPLE_RATE), self.released)
        end = min(int(np.ceil(end_s * SAMPLE_RATE)), self.released + self._held)
        if int(start_s * SAMPLE_RATE) < self.released:
            self.unreachable_spans += 1
        if begin >= end:
            return
        held = self._joined()
        held[begin - self.released : end - self.released, channel] = 0

    def release(self, until_s: float) -> Int16Array | None:
        """The held audio before stream time `until_s` (all of it for infinity), or None when there is none."""
        count = min(self._held, max(0, int(until_s * SAMPLE_RATE) - self.released)) if until_s != np.inf else self._held
        if count <= 0:
            return None
        held = self._joined()
        out, rest = held[:count], held[count:]
        self._blocks = [rest] if len(rest) else []
        self._held -= count
        self.released += count
        return out

    def _joined(self) -> Int16Array:
        if len(self._blocks) != 1:
            joined = np.concatenate(self._blocks) if self._blocks else np.zeros((0, self._channels), np.int16)
            self._blocks = [joined]
        return self._blocks[0]


class ArchiveAudio:
    """A session's 16 kHz audio on its way to the archive: handed on at once, or
    with `hold` (redact_audio) kept until its finals are out and silenced where
    they were redacted. `redacted`: the session's (channel, span) list, read as
    it grows. The session calls `record` with each block, `settled` whenever its
    channels' settled time may have moved (with infinity at the end)."""

    def __init__(self, channels: int, *, hold: bool, redacted: list[tuple[int, RedactedSpan]]) -> None:
        self._hold = AudioHold(channels) if hold else None
        self._redacted = redacted
        self._silenced = 0

    @property
    def holding(self) -> bool:
        return self._hold is not None

    def record(self, audio: Int16Array) -> list[RecordAudio]:
        if self._hold is None:
            return [RecordAudio(audio)]
        self._hold.add(audio)
        return []

    def settled(self, until_s: float) -> list[RecordAudio]:
        hold = self._hold
        if hold is None:
            return []
        for channel, span in self._redacted[self._silenced :]:
            hold.silence(channel, span.start, span.end)
        self._silenced = len(self._redacted)
        audio = hold.release(until_s)
        return [] if audio is None else [RecordAudio(audio)]


def redactions_document(redacted: list[tuple[int, RedactedSpan]]) -> list[dict[str, object]]:
    """Where words were redacted, for the archive document: never what they were."""
    return [
        {"channel": channel, "start": round(span.start, 3), "end": round(span.end, 3), "label": span.label.value}
        for channel, span in redacted
    ]
