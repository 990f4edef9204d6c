"""A live session's configuration, sans I/O: its knobs and what follows from
them for one session's parameters."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.pacing import PacingConfig
from streaming.protocol import ListenParams
from streaming.segmenter import SegmenterConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """A live session's knobs. Their defaults are written once, in the server's
    settings (server/config.py, `Settings.session_config`), which builds this."""

    default_endpointing_ms: int
    interim_step_s: float
    """New audio an open segment must gain before another interim job."""
    interim_pause_ms: int | None
    """Silence after which the words before it get an interim at once (streaming.pacing); None: off."""
    interim_opening_readings: int
    """Consecutive interim readings that must agree on a segment's first committed words (streaming.stabilizer)."""
    interim_stall_s: float = 10.0
    """An interim job unanswered this long no longer blocks the next one (not a setting)."""
    idle_timeout_s: float
    """No audio and no KeepAlive for this long ends the session (NET-0001)."""
    max_without_audio_s: float
    """No audio for this long ends the session even while KeepAlive arrives."""
    max_outstanding_finals: int
    """Per output channel: while this many closed segments await their final, the
    session takes no more client input (`accepts_input`), so a client sending
    faster than real time gets its finals at the workers' pace."""
    max_frame_bytes: int
    max_session_s: float
    """Seconds of audio a session may send."""
    max_wall_s: float
    """Seconds a session may stay open, whatever it sends."""
    drain_timeout_s: float
    preroll_ms: int
    min_speech_ms: int
    max_segment_s: float
    speculative_ms: int | None
    """Silence after which the open segment's final job starts, before
    endpointing confirms the end of the turn (a speculative final,
    streaming.speculative): end-of-turn latency then approaches the endpointing
    silence alone. A job is wasted when speech resumes after a pause this long.
    None or 0: off, and so in a session whose endpointing is off or not longer
    than this."""
    interim_pacing: PacingConfig | None
    """How the interim step adapts to the workers' load (streaming.pacing,
    fed by `ListenSession.observe_load`). None: always `interim_step_s`."""

    def __post_init__(self) -> None:
        if self.speculative_ms is not None and self.speculative_ms < 0:
            raise ValueError(f"speculative_ms must be >= 0 or None, not {self.speculative_ms}")

    def endpointing_ms(self, params: ListenParams) -> int | None:
        """The session's endpointing silence; None: endpointing is off."""
        if params.endpointing_disabled:
            return None
        return self.default_endpointing_ms if params.endpointing_ms is None else params.endpointing_ms

    def speculative_s(self, params: ListenParams) -> float | None:
        """The session's speculative-final silence in seconds; None: off."""
        endpointing = self.endpointing_ms(params)
        if not self.speculative_ms or endpointing is None or self.speculative_ms >= endpointing:
            return None
        return self.speculative_ms / 1000

    def segmenter_config(self, params: ListenParams) -> SegmenterConfig:
        return SegmenterConfig(
            endpointing_ms=self.endpointing_ms(params),
            preroll_ms=self.preroll_ms,
            min_speech_ms=self.min_speech_ms,
            max_segment_s=self.max_segment_s,
        )
