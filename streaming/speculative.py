"""Speculative finals of one channel, sans I/O.

Without them end-of-turn latency is the endpointing silence plus one Whisper
call, because a segment's final job goes out only when endpointing closes it.
A speculative final starts that call earlier: once the open segment has been
silent for `silence_s` (well under the endpointing silence), its final job goes
out with the segment's audio so far, under a revision of its own. Then either

- the segment closes with no voiced frame after that audio (endpointing
  confirmed the pause; or Finalize, the end of the stream, or a maximum-length
  cut at or after its end): the job is the segment's final and no second job
  goes out. What the closed segment holds beyond it is unvoiced, so it has
  no words to add; or
- speech resumes first (or the segment closes in a way that does not cover
  it): the job is abandoned. The shell withdraws it from its queue, and its
  result, if it still comes, matches nothing, since finals are matched by
  revision.

At most one speculative job per channel is outstanding, and a new one needs a
new pause: so at most one per pause, and the work wasted is bounded by the
pauses shorter than the endpointing silence. `SpeculativeStats` counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streaming.jobs import Job, JobResult
from streaming.segmenter import SegmentClosed, Segmenter

_EPSILON_S = 1e-9
"""Frame arithmetic in float seconds: absorbs rounding when comparing with the threshold."""


@dataclass(slots=True)
class SpeculativeStats:
    """Counters of one session's speculative finals, all channels together.

    Plain numbers: the shell reads them (when the session ends) and exports
    them. Every job submitted ends up used or wasted once its segment is
    closed, so at the end of a session submitted == used + wasted."""

    submitted: int = 0
    used: int = 0
    """Jobs that became their segment's final: a Whisper call saved from the end of the turn."""
    wasted: int = 0
    """Jobs abandoned because speech resumed (or a cut fell before their end)."""
    wasted_audio_s: float = 0.0
    """Audio the wasted jobs carried: the Whisper work spent for nothing."""


@dataclass(slots=True)
class Speculation:
    """The outstanding speculative final of the open segment."""

    job: Job
    end: float
    """Stream time at which its audio ends."""
    result: JobResult | None = None
    """Its result, when it came while the segment was still open."""


class Speculator:
    """Decides when a channel's open segment gets a speculative final, and
    whether that job becomes the segment's final or is abandoned.

    The caller (streaming.channel) calls, in this order after feeding audio to
    the segmenter: `claim` for every SegmentClosed and `abandon` for every
    segment that closed without claiming (closed or dropped), then
    `check_open` and `start`; it submits the job `start` returns, withdraws
    the jobs `abandon` and `check_open` return, and hands every final result
    that no closed segment awaits to `take_result`.
    """

    def __init__(self, silence_s: float | None, stats: SpeculativeStats) -> None:
        self._silence_s = silence_s
        self._stats = stats
        self._pending: Speculation | None = None

    @property
    def pending(self) -> Speculation | None:
        return self._pending

    def start(self, segmenter: Segmenter, make_job: Callable[[], Job]) -> Job | None:
        """The job to submit when the open segment's pause has reached the
        threshold and it has none yet; `make_job` builds it from the open segment."""
        if self._silence_s is None or self._pending is not None or not segmenter.is_open:
            return None
        # A segment that would be dropped as too short is never transcribed: nothing to speculate on.
        if segmenter.open_silence() < self._silence_s - _EPSILON_S or not segmenter.open_is_speech():
            return None
        job = make_job()
        self._pending = Speculation(job, segmenter.clock)
        self._stats.submitted += 1
        return job

    def check_open(self, segmenter: Segmenter) -> Job | None:
        """After the segmenter's events were handled: abandon the pending job
        when the open segment has speech after its end (or is not its
        segment any more); returns the job to withdraw."""
        pending = self._pending
        if pending is None:
            return None
        if segmenter.open_seq == pending.job.seq and segmenter.open_speech_end() <= pending.end + _EPSILON_S:
            return None
        return self._abandon()

    def claim(self, closed: SegmentClosed) -> Speculation | None:
        """The pending job, as the final of this closed segment, if it covers
        the segment's speech: same segment, no voiced frame after its end, and
        the segment not cut before its end. None otherwise (the caller then
        abandons whatever is pending for that segment)."""
        pending = self._pending
        if pending is None or pending.job.seq != closed.seq:
            return None
        if closed.speech_end > pending.end + _EPSILON_S or closed.end < pending.end - _EPSILON_S:
            return None
        self._pending = None
        self._stats.used += 1
        return pending

    def abandon(self, seq: int) -> Job | None:
        """Segment `seq` closed without claiming the pending job: returns it to withdraw."""
        if self._pending is None or self._pending.job.seq != seq:
            return None
        return self._abandon()

    def take_result(self, result: JobResult) -> Speculation | None:
        """Keep the pending job's result until its segment closes; None when
        the result is not the pending job's (an abandoned job's: ignored)."""
        pending = self._pending
        if pending is None or (result.seq, result.revision) != (pending.job.seq, pending.job.revision):
            return None
        if pending.result is None:
            pending.result = result
        return pending

    def _abandon(self) -> Job | None:
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        self._stats.wasted += 1
        self._stats.wasted_audio_s += pending.job.duration
        return pending.job
