"""What the channels of one live session share, sans I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.codecs import Int16Array
from streaming.finals import JobFactory
from streaming.jobs import Job, JobKind
from streaming.pacing import InterimPacer
from streaming.protocol import ListenParams, ModelInfo
from streaming.redaction import RedactedSpan
from streaming.speculative import SpeculativeStats


@dataclass(slots=True)
class SessionContext:
    """What the channels of one session share.

    The lists are the session's own record (the archive document and the
    drain-timeout report read them), so every channel appends to the same ones.
    """

    session_id: str
    params: ListenParams
    model: ModelInfo
    jobs: JobFactory
    pacer: InterimPacer
    """How much new audio an open segment must gain before another interim
    job, given the workers' load (streaming.pacing); shared by the channels."""
    interim_stall_s: float
    """An interim job unanswered this long no longer blocks the next one."""
    interim_opening_readings: int
    """Consecutive interim readings that must agree on a segment's first committed words (streaming.stabilizer)."""
    speculative_s: float | None = None
    """Silence of the open segment after which its final job starts early; None: off."""
    speculative: SpeculativeStats = field(default_factory=SpeculativeStats)
    finals: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    redacted: list[tuple[int, RedactedSpan]] = field(default_factory=list)
    """(channel, span) of every redaction in a final, for `redact_audio`."""

    @property
    def output_channels(self) -> int:
        return self.params.output_channels

    def new_job(self, channel: int, seq: int, kind: JobKind, start: float, audio: Int16Array) -> Job:
        return self.jobs.new_job(channel, seq, kind, start, audio)
