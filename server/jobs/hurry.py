"""Hurried finals: live finals a worker reaches late, decoded on a short window to catch up."""

from __future__ import annotations

from dataclasses import dataclass

from server.config import Settings
from server.jobs.queue import TakenJob
from streaming.jobs import JobKind


@dataclass(frozen=True, slots=True)
class HurryPolicy:
    """Which finals a worker hurries: decodes on a short window because they are late.

    Finals arrive in bursts (speakers pause at random: 8 streams on 2 workers
    see three or four finals within one decode now and then) and every 30 s
    window decode costs the same, so the last of a burst waits for two. A live
    final that has already waited is late for its listener; on a short window
    it costs about half, so a burst drains about twice as fast. Only those
    finals trade the 30 s window's accuracy (README "Hurried finals"), and
    uploads never: nobody watches their clock."""

    after_s: float
    """The wait for a worker from which a live final is late."""
    min_audio_s: float
    """Shorter finals keep the 30 s window: on a short one single words and numbers lose their endings."""

    def applies(self, taken: TakenJob) -> bool:
        job = taken.job
        return (
            job.live
            and job.kind is JobKind.FINAL
            and taken.waited_s >= self.after_s
            and job.duration >= self.min_audio_s
        )


def hurry_policy(settings: Settings) -> HurryPolicy | None:
    """Which live finals a worker hurries; None: none. Only finals on the 30 s window can be hurried
    (`SHORT_WINDOW=interims`, the default): with `all` every final already has a short window, with
    `off` none may; and `HURRY_FINALS_AFTER_MS=0` turns it off."""
    if not settings.hurry_finals_after_ms or settings.short_window != "interims":
        return None
    return HurryPolicy(settings.hurry_finals_after_ms / 1000, settings.hurry_min_audio_s)
