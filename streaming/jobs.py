"""Transcription jobs and their results: what travels between gateway and worker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.stabilizer import normalize_word

_MARKER = re.compile(r"\[[A-Z_]+\]")
"""A redaction marker ([PCI], [SSN], [NUMBER]: streaming.redaction), kept as it is in `normalized`."""


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    """As the model wrote it, with case and punctuation."""
    start: float
    end: float
    confidence: float

    @property
    def normalized(self) -> str:
        bare = self.text.rstrip(".,;:!?")
        return bare if _MARKER.fullmatch(bare) else normalize_word(self.text)


class JobKind(StrEnum):
    INTERIM = "interim"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    language: str | None = None
    prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One Whisper call: the whole segment so far, with its place on the stream clock."""

    session_id: str
    channel: int
    seq: int
    kind: JobKind
    revision: int
    """Increases with every job of the session; a newer interim supersedes an older one."""
    start: float
    audio: Int16Array = field(repr=False)
    options: TranscribeOptions = TranscribeOptions()
    reply_to: str = ""
    live: bool = False
    """A live session waits for it (an upload's jobs do not): a worker that reaches a live final late
    may decode it cheaper (server/jobs/hurry.py)."""

    @property
    def stream_key(self) -> tuple[str, int]:
        return (self.session_id, self.channel)

    @property
    def result_key(self) -> tuple[str, int, int, JobKind]:
        return (self.session_id, self.channel, self.seq, self.kind)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class JobResult:
    session_id: str
    channel: int
    seq: int
    kind: JobKind
    revision: int
    words: tuple[Word, ...] = ()
    error: str | None = None
    withheld: bool = False
    """An interim whose reading the worker doubted (server/transcribe/short_window.py: empty, looping,
    unsure there was speech): no words, and not an empty reading either. The session shows nothing
    new for it, keeps what it showed, and waits for the next interim or the final."""
    hurried: bool = False
    """A live final that had waited for a worker past the hurry threshold and was decoded on a short
    window to catch up (server/jobs/hurry.py)."""
    queue_seconds: float = 0.0
    transcribe_seconds: float = 0.0
    published_at: float = 0.0
    """Wall-clock time the worker published it, where a queue carries it between processes."""

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)
