"""Load-aware interim pacing, sans I/O: how much audio an open segment gains
between interim jobs, given how busy the workers are.

Each interim re-reads the whole open segment, so interims are most of the
workers' load. Without pacing every stream asks for a new one as soon as the
last one is back and the segment grew by the base step: under load the
workers are saturated with interims, each interim waits in the queue behind
the others and shows text seconds old, and a final that arrives finds every
worker busy with one. The rule here (one place; the session and the shell's
metric both use it):

- a finals backlog pauses interims: while more final jobs wait unstarted than
  `pause_finals_per_worker` per warm worker, a new interim could only delay a
  final (it is the next job a freed worker would take once the finals are
  gone) and would come back too late to matter;
- otherwise the step is the measured turnaround (an interim that takes T s
  to come back is pointless more often than every T s) plus `wait_factor`
  times the part of it spent waiting rather than decoding. Waiting is the
  load signal: on an idle server it is about zero whatever the machine's
  speed, so an idle server keeps the base step; under load a stream that
  waits idle instead of in the queue shortens the queue, and with it the
  lag of every interim (in saturation the queue wait shrinks by 1 + factor);
- bounded: never under the base step (`SessionConfig.interim_step_s`), never
  over `max_step_s`;
- a segment's first interim keeps the base step: first visible text matters
  most, and costs one job per segment;
- a pause shows its words at once: when the open segment has been silent for
  `pause_s` and its last interim did not reach the speech before the pause,
  the next interim goes out whatever the step, unless the load has stretched
  the step past the base step. The end of an utterance is then on screen one
  cheap interim after the speaker stops, not up to a step plus a call later;
  it costs at most one interim per pause;
- after a pause ends the step eases down from `max_step_s` over `resume_s`,
  so the paused streams do not all ask at once (each resumes when its own
  grown audio meets the falling floor).

The shell measures the load and hands it over as a `WorkerLoad`
(`ListenSession.observe_load`); nothing here reads a clock or a queue.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """How busy the transcription workers are, as the shell measured it.

    The same value goes to every open session of a gateway. All fields are
    recent figures, not totals; the default is an idle pool."""

    interim_turnaround_s: float = 0.0
    """Recent mean of interim jobs' turnaround: from the shell submitting the
    job to its result arriving back (queue wait, decode and transit). 0: none measured."""
    interim_wait_s: float = 0.0
    """Recent mean of the part of that turnaround not spent in the Whisper call
    (turnaround minus the worker's decode time): the queueing the load causes."""
    finals_waiting: int = 0
    """Final jobs queued that no worker has started (all gateways' in distributed mode)."""
    warm_workers: int = 0
    """Workers with the model loaded (Whisper calls that can run at once); 0: unknown, counted as 1."""


@dataclass(frozen=True, slots=True)
class PacingConfig:
    """The knobs of the rule (defaults: server/config.py, Settings.interim_*)."""

    max_step_s: float
    """The longest step, whatever the load (never under the base step)."""
    wait_factor: float
    """Step = turnaround + this x the queue-wait part of it."""
    pause_finals_per_worker: float
    """Interims pause while more finals than this per warm worker wait unstarted."""
    resume_s: float
    """After a pause, the step eases from `max_step_s` down to the rule's over this long."""

    def __post_init__(self) -> None:
        if self.max_step_s <= 0 or self.wait_factor < 0 or self.pause_finals_per_worker <= 0 or self.resume_s < 0:
            raise ValueError(f"invalid interim pacing: {self}")


def finals_backlog(load: WorkerLoad, config: PacingConfig) -> bool:
    """More finals wait unstarted than the warm workers can take at the configured ratio."""
    return load.finals_waiting > config.pause_finals_per_worker * max(1, load.warm_workers)


def load_step(load: WorkerLoad, base_step_s: float, config: PacingConfig) -> float:
    """The step for the measured turnaround, bounded by the base step and the maximum."""
    wanted = load.interim_turnaround_s + config.wait_factor * load.interim_wait_s
    return max(base_step_s, min(config.max_step_s, wanted))


def resume_floor(since_resume_s: float | None, config: PacingConfig) -> float:
    """The least step `since_resume_s` after a pause ended: `max_step_s` at the
    end of the pause, falling linearly to nothing over `resume_s`. None: no pause yet."""
    if since_resume_s is None or since_resume_s >= config.resume_s:
        return 0.0
    return config.max_step_s * (1.0 - max(0.0, since_resume_s) / config.resume_s)


def interim_step(
    load: WorkerLoad,
    base_step_s: float,
    config: PacingConfig | None,
    *,
    first: bool = False,
    since_resume_s: float | None = None,
    at_pause: bool = False,
) -> float | None:
    """Audio the open segment must gain since its last interim job before the
    next one; None: no interim now (a finals backlog). `first`: the segment
    has had none yet. `at_pause`: the segment is in a pause whose speech no
    interim has read yet. Without a config (pacing off): the base step."""
    if config is None:
        step = base_step_s
    elif finals_backlog(load, config):
        return None
    else:
        step = base_step_s if first else load_step(load, base_step_s, config)
        step = max(step, resume_floor(since_resume_s, config))
    return 0.0 if at_pause and step <= base_step_s else step


class InterimPacer:
    """One session's pacing: the load last observed and when the last pause
    ended. Shared by the session's channels. Without a config (pacing off)
    the step is always the base step. `pause_s`: the silence that makes a
    pause (see `interim_step`); None: pauses change nothing."""

    def __init__(self, base_step_s: float, config: PacingConfig | None, pause_s: float | None = None) -> None:
        self.base_step_s = base_step_s
        self.config = config
        self.pause_s = pause_s
        self.load = WorkerLoad()
        self._resumed_at: float | None = None

    def observe(self, load: WorkerLoad, now: float) -> None:
        """A new measurement (any number of times; only changes matter)."""
        if self.config is not None and finals_backlog(self.load, self.config) and not finals_backlog(load, self.config):
            self._resumed_at = now
        self.load = load

    def step(self, now: float, *, first: bool, at_pause: bool = False) -> float | None:
        """The step in force now; None: interims are paused."""
        since = None if self._resumed_at is None else now - self._resumed_at
        return interim_step(
            self.load, self.base_step_s, self.config, first=first, since_resume_s=since, at_pause=at_pause
        )
