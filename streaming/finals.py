"""Final jobs and their results in segment order, sans I/O: shared by live
channels (streaming.channel) and uploads (server/uploads/pipeline.py).

Workers answer in any order, a result may come twice (a redelivery) or for a
job nobody awaits any more (an abandoned speculative final); the finals of a
channel must still come out once each and in the order of their segments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from streaming.codecs import Int16Array
from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word
from streaming.segmenter import CloseReason


@dataclass(slots=True)
class JobFactory:
    """Jobs of one session or upload, each with a revision of its own.

    Revisions are session-wide, so that a result names exactly one job
    whatever its channel or kind."""

    session_id: str
    options: TranscribeOptions
    reply_to: str
    live: bool = False
    """Jobs of a live session (see `Job.live`)."""
    revision: int = 0
    """The last revision handed out."""

    def new_job(self, channel: int, seq: int, kind: JobKind, start: float, audio: Int16Array) -> Job:
        self.revision += 1
        return Job(
            session_id=self.session_id,
            channel=channel,
            seq=seq,
            kind=kind,
            revision=self.revision,
            start=start,
            audio=audio,
            options=self.options,
            reply_to=self.reply_to,
            live=self.live,
        )


@dataclass(slots=True)
class FinalSlot:
    """A closed segment whose final is awaited, or done but held back behind
    an earlier segment's."""

    seq: int
    start: float
    end: float
    reason: CloseReason
    revision: int
    """The job whose result is this segment's final: a result of any other
    revision (an abandoned speculative final's) is not it."""
    closed_at: float = 0.0
    """Shell time of the close (live: for the end-of-turn time of the final)."""
    done: bool = False
    words: tuple[Word, ...] = ()
    error: str | None = None

    @property
    def speech_final(self) -> bool:
        return self.reason is CloseReason.ENDPOINT


class FinalsInOrder:
    """One channel's closed segments, released in segment order.

    The caller's duties: `expect` every closed segment whose final job went
    out and `skip` every segment that gets none (dropped as too short), each
    once and in the order the segmenter closed them (seq 1, 2, ...); hand
    every final result to `record`; after a True from `record` or a `skip`,
    take what `release` yields, in that order."""

    def __init__(self) -> None:
        self._slots: dict[int, FinalSlot] = {}
        self.next_release = 1
        """The seq of the next segment to release."""

    @property
    def waiting(self) -> int:
        """Closed segments not released yet (awaited or held back)."""
        return len(self._slots)

    @property
    def earliest_start(self) -> float | None:
        """Where the earliest segment not released yet starts; None when none waits."""
        return min((slot.start for slot in self._slots.values()), default=None)

    def expect(self, slot: FinalSlot) -> None:
        self._slots[slot.seq] = slot

    def skip(self, seq: int, start: float, end: float, reason: CloseReason, closed_at: float = 0.0) -> None:
        """A segment with no final job: it still has its turn, with no words."""
        self._slots[seq] = FinalSlot(seq, start, end, reason, 0, closed_at, done=True)

    def record(self, result: JobResult) -> bool:
        """Keep a final result until its turn. False when no segment awaits it:
        a redelivery, or a result of another revision than the awaited one."""
        slot = self._slots.get(result.seq)
        if slot is None or slot.done or slot.revision != result.revision:
            return False
        slot.done = True
        slot.words = result.words
        slot.error = result.error
        return True

    def release(self) -> Iterator[FinalSlot]:
        """The done slots from the next in order on, up to the first not done."""
        while (slot := self._slots.get(self.next_release)) is not None and slot.done:
            del self._slots[self.next_release]
            self.next_release += 1
            yield slot
