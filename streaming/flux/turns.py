"""The turns of a Flux stream, sans I/O: from a live session's typed events to
Flux's TurnInfo events.

A turn opens when speech does (StartOfTurn: what a voice agent barges in on)
and may span several of the session's segments: a pause long enough to close a
segment does not end the turn unless the end-of-turn confidence says so. The
confidence (`end_of_turn_confidence`) is a function of the silence since the
last voiced frame and of the turn's last word (streaming.flux.params gives the
numbers); it is judged only on a complete reading of the turn: every segment's
final, with the open segment's speculative final (the eager reading) standing
in for its final.

Rules held, as Flux states them:
- `Update` about every 0.25 s of audio while a turn is open, unless another
  TurnInfo went out in that time;
- `EagerEndOfTurn` only when `eager_eot_threshold` is set, on a complete
  reading with words, at most once until `TurnResumed`;
- `TurnResumed` only after an `EagerEndOfTurn`: when speech resumes, or when
  the transcript is about to change;
- `EndOfTurn`'s transcript is the eager one unless a `TurnResumed` came
  between; `turn_index` grows by one after each `EndOfTurn`;
- `EndOfTurn` triggers: `model` (the confidence reached `eot_threshold`),
  `manual` (ForceEndTurn, or the stream's end with a turn open), `timeout`
  (`eot_timeout_ms` of silence, whatever the confidence; a turn without words
  ends only so or manually).

The caller's duties (streaming.flux.stream): hand every SpeechStarted,
transcript and speculative-final event of the session to the matching method,
in order, then call `advance` with the stream clock and the session's state;
carry out a `FinalizeRequest` (the session's Finalize) and call `advance`
again; call `finish` before the session finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto

from streaming.events import SpeculativeFinalEvent, TranscriptEvent
from streaming.flux.params import BASE_CONFIDENCE, CONFIDENCE_PER_S, Thresholds
from streaming.jobs import Word
from streaming.stabilizer import normalize_word

UPDATE_EVERY_S = 0.25
MAX_CONFIDENCE = 0.99
"""Under 1.0: `eot_threshold=1.0` leaves turn endings to ForceEndTurn and the timeout, as on Flux."""
SENTENCE_END_BONUS = 0.1
CONTINUATION_PENALTY = 0.2
FILLERS = frozenset({"um", "uh", "er", "erm", "uhm", "hmm", "mm"})
CONTINUATIONS = frozenset({"and", "but", "so", "or", "because", "the", "a", "an", "to", "of"})
_TRAILING_OFF = (",", ";", ":", "-", "...", "\u2026")
_EPSILON = 1e-9


def text_cue(words: Sequence[Word]) -> float:
    """What the last word says about the end of the turn: a filler or a comma keeps it
    open, a sentence-final mark closes it, a trailing conjunction or article keeps it open."""
    if not words:
        return 0.0
    last = words[-1].text.strip()
    bare = normalize_word(last)
    if bare in FILLERS or last.endswith(_TRAILING_OFF):
        return -CONTINUATION_PENALTY
    if last.endswith((".", "?", "!")):
        return SENTENCE_END_BONUS
    return -CONTINUATION_PENALTY if bare in CONTINUATIONS else 0.0


def end_of_turn_confidence(silence_s: float, words: Sequence[Word]) -> float:
    """0.0 without words: there is nothing to judge."""
    if not words:
        return 0.0
    raw = BASE_CONFIDENCE + CONFIDENCE_PER_S * max(0.0, silence_s) + text_cue(words)
    return min(MAX_CONFIDENCE, max(0.0, raw))


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One TurnInfo message, without its sequence id and request id."""

    event: str
    """Update, StartOfTurn, EagerEndOfTurn, TurnResumed or EndOfTurn."""
    turn_index: int
    window: tuple[float, float]
    words: tuple[Word, ...]
    confidence: float
    trigger: str | None = None

    @property
    def transcript(self) -> str:
        return _text(self.words)


@dataclass(frozen=True, slots=True)
class FinalizeRequest:
    """Close the open segment now (the session's Finalize): the turn ends on its final."""

    trigger: str


TurnOutput = TurnEvent | FinalizeRequest


class Phase(Enum):
    IDLE = auto()
    ONGOING = auto()
    AWAITING = auto()
    """After EagerEndOfTurn: an EndOfTurn or a TurnResumed comes next."""


class TurnTracker:
    """Flux's turn state over one mono live session."""

    def __init__(self, thresholds: Thresholds, *, endpointing_s: float) -> None:
        self.thresholds = thresholds
        self._endpointing_s = endpointing_s
        self.turn_index = 0
        self.phase = Phase.IDLE
        self._finals: list[Word] = []
        self._open: tuple[Word, ...] = ()
        self._open_start = 0.0
        self._reading: tuple[Word, ...] | None = None
        """The open segment's speculative final, while it stands."""
        self._eager: tuple[Word, ...] | None = None
        self._speaking = False
        self._speech_end: float | None = None
        self._last_speech_start = -1.0
        self._window = (0.0, 0.0)
        self._last_info = 0.0
        self._ending: str | None = None
        """The trigger of an end decided, waiting for the turn's last final."""
        self._finalize_sent = False
        self._next_start: float | None = None
        """Speech that began while the turn was ending: it starts the next turn."""

    @property
    def words(self) -> tuple[Word, ...]:
        return (*self._finals, *self._open)

    # -- the session's events ------------------------------------------------------------
    def speech_started(self, timestamp: float, clock: float) -> list[TurnOutput]:
        self._last_speech_start = timestamp
        if self._ending is not None:
            self._next_start = timestamp if self._next_start is None else self._next_start
            return []
        if self.phase is Phase.IDLE:
            return [self._start(timestamp, clock)]
        self._speaking, self._speech_end = True, None
        return self._resume(clock)

    def interim(self, event: TranscriptEvent, clock: float) -> list[TurnOutput]:
        if self._next_start is not None:
            return []  # the next turn's, which has not started yet
        outputs = self._start_if_idle(event.start, clock)
        self._open, self._open_start = event.words, event.start
        self._widen(event.start + event.duration)
        return outputs

    def speculative(self, event: SpeculativeFinalEvent, clock: float) -> list[TurnOutput]:
        if self._next_start is not None:
            return []
        outputs = self._start_if_idle(event.start, clock)
        self._open, self._open_start, self._reading = event.words, event.start, event.words
        self._speaking, self._speech_end = False, event.speech_end
        self._widen(event.start + event.duration)
        return outputs

    def abandoned(self, clock: float) -> list[TurnOutput]:
        """Speech resumed after the speculative final's audio."""
        self._reading = None
        if self._next_start is not None or self.phase is Phase.IDLE:
            return []
        self._speaking, self._speech_end = True, None
        return self._resume(clock)

    def final(self, event: TranscriptEvent, clock: float) -> list[TurnOutput]:
        if self.phase is Phase.IDLE and not event.words:
            return []
        outputs = self._start_if_idle(event.start, clock)
        self._finals.extend(event.words)
        if self._open_start <= event.start + _EPSILON:  # the reading shown was this segment's
            self._open, self._reading = (), None
        end = event.start + event.duration
        self._widen(end)
        if self._last_speech_start < event.start + event.duration - _EPSILON:  # no newer segment began
            self._speaking = False
            if self._speech_end is None:
                self._speech_end = end - self._endpointing_s if event.speech_final else end
        return outputs

    # -- the client's messages and the clock ------------------------------------------------
    def force_end(self, clock: float, *, segment_open: bool) -> list[TurnOutput]:
        """ForceEndTurn: ignored when no turn is open (as on Flux)."""
        if self.phase is Phase.IDLE or self._ending is not None:
            return []
        return self._request_end("manual", segment_open)

    def advance(self, clock: float, *, segment_open: bool, finals_owed: int) -> list[TurnOutput]:
        """Decisions that time or the session's state allow now, and the Update that is due."""
        if self.phase is Phase.IDLE:
            return []
        self._reconcile(clock, segment_open, finals_owed)
        outputs: list[TurnOutput] = []
        if self._ending is None:
            outputs.extend(self._decide(clock, segment_open, finals_owed))
        if self._ending is not None and finals_owed == 0 and (not segment_open or self._next_start is not None):
            return [*outputs, *self._end(self._ending, clock)]
        if not outputs and clock - self._last_info >= UPDATE_EVERY_S - _EPSILON:
            outputs.extend(self._emit("Update", clock))
        return outputs

    def finish(self, clock: float) -> list[TurnOutput]:
        """The stream is over and every final is in: an open turn ends (`manual` unless already decided)."""
        self._next_start = None
        return [] if self.phase is Phase.IDLE else self._end(self._ending or "manual", clock)

    # -- internals --------------------------------------------------------------------------
    def _reconcile(self, clock: float, segment_open: bool, finals_owed: int) -> None:
        """What the events alone do not say: speech that goes on past a maximum-length
        cut, and speech too short to transcribe (its segment ends without a final)."""
        if self._next_start is not None:
            return
        if segment_open and self._reading is None and not self._speaking:
            self._speaking, self._speech_end = True, None
        elif self._speaking and not segment_open and finals_owed == 0:
            self._speaking = False
            self._speech_end = max(self._window[0], clock - self._endpointing_s)

    def _decide(self, clock: float, segment_open: bool, finals_owed: int) -> list[TurnOutput]:
        if self._speaking or self._speech_end is None:
            return []
        silence = clock - self._speech_end
        words = self.words
        confidence = end_of_turn_confidence(silence, words)
        complete = finals_owed == 0 and (not segment_open or self._reading is not None)
        outputs: list[TurnOutput] = []
        eager = self.thresholds.eager
        if complete and words and eager is not None and self.phase is Phase.ONGOING and confidence >= eager:
            outputs.extend(self._emit("EagerEndOfTurn", clock))
            self.phase, self._eager = Phase.AWAITING, words
        if complete and words and confidence >= self.thresholds.eot:
            outputs.extend(self._request_end("model", segment_open))
        elif silence * 1000 >= self.thresholds.timeout_ms - _EPSILON:
            outputs.extend(self._request_end("timeout", segment_open))
        return outputs

    def _request_end(self, trigger: str, segment_open: bool) -> list[TurnOutput]:
        self._ending = trigger
        if segment_open and not self._finalize_sent:
            self._finalize_sent = True
            return [FinalizeRequest(trigger)]
        return []

    def _start(self, timestamp: float, clock: float) -> TurnEvent:
        self.phase = Phase.ONGOING
        self._speaking, self._speech_end = True, None
        self._window = (timestamp, timestamp)
        (event,) = self._emit("StartOfTurn", clock, words=())
        return event

    def _start_if_idle(self, timestamp: float, clock: float) -> list[TurnOutput]:
        """A reading with no turn open (speech past a maximum-length cut after a turn ended): a turn starts."""
        return [self._start(timestamp, clock)] if self.phase is Phase.IDLE else []

    def _resume(self, clock: float) -> list[TurnOutput]:
        if self.phase is not Phase.AWAITING:
            return []
        self.phase, self._eager = Phase.ONGOING, None
        return list(self._emit("TurnResumed", clock))

    def _end(self, trigger: str, clock: float) -> list[TurnOutput]:
        silence = 0.0 if self._speech_end is None else clock - self._speech_end
        confidence = end_of_turn_confidence(silence, self.words)
        outputs: list[TurnOutput] = list(self._emit("EndOfTurn", clock, confidence=confidence, trigger=trigger))
        self.turn_index += 1
        self.phase, self._finals, self._open, self._reading, self._eager = Phase.IDLE, [], (), None, None
        self._speaking, self._speech_end, self._ending, self._finalize_sent = False, None, None, False
        if self._next_start is not None:
            timestamp, self._next_start = self._next_start, None
            outputs.append(self._start(timestamp, clock))
        return outputs

    def _emit(
        self, event: str, clock: float, *, words: tuple[Word, ...] | None = None, confidence: float | None = None,
        trigger: str | None = None,
    ) -> list[TurnEvent]:  # fmt: skip
        """The TurnInfo; after an EagerEndOfTurn, a changed transcript is announced by TurnResumed first."""
        words = self.words if words is None else words
        if confidence is None:
            silence = 0.0 if self._speaking or self._speech_end is None else clock - self._speech_end
            confidence = end_of_turn_confidence(silence, words)
        outputs: list[TurnEvent] = []
        if self.phase is Phase.AWAITING and event != "EagerEndOfTurn" and _text(words) != _text(self._eager or ()):
            self.phase, self._eager = Phase.ONGOING, None
            outputs.append(TurnEvent("TurnResumed", self.turn_index, self._window, words, confidence))
        outputs.append(TurnEvent(event, self.turn_index, self._window, words, confidence, trigger))
        self._last_info = clock
        return outputs

    def _widen(self, end: float) -> None:
        self._window = (self._window[0], max(self._window[1], end))


def _text(words: Sequence[Word]) -> str:
    return " ".join(word.text for word in words)
