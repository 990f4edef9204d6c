"""The user items of a Realtime transcription session, sans I/O: which item each
transcript of the wrapped session belongs to, and the server events it makes.

An item is a turn: with server VAD, from speech started to the segment that
endpointing closes (then `speech_stopped` and `committed` at once, and
`completed` when its final comes); with manual commits, the audio between two
commits. Segments cut at the maximum length belong to the same item.

What the caller guarantees, and the wrapped ListenSession does (with
`turn_notices`): each segment's end is told as it closes, before its final;
finals come in segment order, each segment's once (one without words as a
`Notice`); every Finalize the caller sends for a `commit` or a `clear` is
answered, in order, by exactly one `from_finalize` final. So the finals of a
committed (or cleared) item come before those of any later item, and the
final that ends its last segment closes it.

Deltas only append: an item's deltas are the words no later reading changes
(LocalAgreement's committed prefix of the interims, then the finals), each
sent once, by position. The final transcript (`completed`) is authoritative
and usually equals the deltas joined; when the final reading differs from the
committed interim words, no delta takes anything back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.events import TranscriptEvent
from streaming.jobs import Word
from streaming.realtime import server_events as out

Events = list[dict[str, Any]]


@dataclass(slots=True)
class Turn:
    item_id: str
    start_s: float
    words: list[Word] = field(default_factory=list)
    sent: int = 0
    """Words sent as deltas."""
    end_s: float = 0.0
    audio_s: float | None = None
    """Seconds of audio the item covers, for `usage` (a manual commit's buffer); None: end - start."""
    previous_item_id: str | None = None
    until_finalize: bool = False
    """Committed by the client: closed by the `from_finalize` final (else by the `speech_final` one)."""
    spoken: bool = False
    """`speech_started` was sent for it."""
    discard: bool = False
    """Cleared: nothing more is said about it."""
    failure: str | None = None


class Turns:
    """The items of one session. `ga`: GA or beta spelling of item events (it
    follows the client's latest update form)."""

    def __init__(self, new_item_id: Callable[[], str], *, ga: bool) -> None:
        self.ga = ga
        self._new_item_id = new_item_id
        self._open: Turn | None = None
        """The item audio is going into (uncommitted)."""
        self._awaiting: deque[Turn] = deque()
        """Committed or cleared items whose closing final has not come yet, in order."""
        self._previous: str | None = None
        self.buffer_start_s = 0.0
        """Stream time where the uncommitted audio begins."""

    # -- what the wrapped session says --------------------------------------------------
    def speech_started(self, timestamp: float) -> Events:
        if self._open is not None:
            return []  # a segment after a maximum-length cut: the same turn
        turn = self._open = Turn(self._new_item_id(), timestamp, spoken=True)
        return [out.speech_started(turn.item_id, _ms(timestamp))]

    def segment_end(self, end: float, *, speech_final: bool) -> Events:
        """A segment closed; with server VAD, endpointing ends the open turn: it is committed now."""
        turn = self._open
        if not speech_final or turn is None:
            return []
        self._open = None
        turn.end_s = max(turn.end_s, end)
        self._awaiting.append(turn)
        self.buffer_start_s = end
        stopped = [out.speech_stopped(turn.item_id, _ms(end))] if turn.spoken else []
        return [*stopped, *self._commit(turn)]

    def transcript(self, event: TranscriptEvent) -> Events:
        if not event.words and self._open is None and not self._awaiting:
            return []  # nothing was said and no item is waiting for it
        if not event.is_final:
            turn = self._open or self._open_turn(event.start)
            return self._deltas(turn, [*turn.words, *event.words[: event.stable]])
        turn = self._awaiting[0] if self._awaiting else (self._open or self._open_turn(event.start))
        turn.words.extend(event.words)
        turn.end_s = max(turn.end_s, event.start + event.duration)
        closes = event.from_finalize if turn.until_finalize else event.speech_final
        if turn is self._open or not closes:
            return self._deltas(turn, turn.words)
        self._awaiting.popleft()
        return self._close(turn)

    def failure(self, description: str) -> None:
        """The transcription of a segment failed: its item ends with `failed`."""
        turn = self._awaiting[0] if self._awaiting else (self._open or self._open_turn(self.buffer_start_s))
        turn.failure = turn.failure or description

    # -- what the client asks ---------------------------------------------------------
    def commit(self, now_s: float) -> Events:
        """`input_audio_buffer.commit` of a non-empty buffer; the caller sends a Finalize."""
        turn = self._open or Turn(self._new_item_id(), self.buffer_start_s)
        turn.audio_s = now_s - self.buffer_start_s
        turn.until_finalize = True
        self._open = None
        self._awaiting.append(turn)
        self.buffer_start_s = now_s
        return self._commit(turn)

    def clear(self, now_s: float) -> Events:
        """`input_audio_buffer.clear`; the caller sends a Finalize, whose final is dropped."""
        turn = self._open or Turn("", self.buffer_start_s)
        turn.discard = turn.until_finalize = True
        self._open = None
        self._awaiting.append(turn)
        self.buffer_start_s = now_s
        return [out.cleared()]

    def finish(self) -> Events:
        """The session ends (every final is out): close what is still open."""
        events: Events = []
        while self._awaiting:
            turn = self._awaiting.popleft()
            events.extend([] if turn.discard else self._close(turn))
        last, self._open = self._open, None
        if last is not None and (last.words or last.spoken or last.failure):
            stopped = [out.speech_stopped(last.item_id, _ms(last.end_s))] if last.spoken else []
            events.extend([*stopped, *self._commit(last), *self._close(last)])
        return events

    # -- internals ------------------------------------------------------------------------
    def _open_turn(self, start_s: float) -> Turn:
        self._open = Turn(self._new_item_id(), start_s)
        return self._open

    def _commit(self, turn: Turn) -> Events:
        turn.previous_item_id, self._previous = self._previous, turn.item_id
        return out.committed(turn.item_id, turn.previous_item_id, ga=self.ga)

    def _deltas(self, turn: Turn, words: list[Word]) -> Events:
        if turn.discard or len(words) <= turn.sent:
            return []
        text = " ".join(word.text for word in words[turn.sent :])
        turn.sent, first = len(words), turn.sent == 0
        return [out.delta(turn.item_id, text if first else " " + text)]

    def _close(self, turn: Turn) -> Events:
        if turn.discard:
            return []
        if turn.failure is not None:
            return out.failed(turn.item_id, turn.previous_item_id, turn.failure, ga=self.ga)
        events = self._deltas(turn, turn.words)
        transcript = " ".join(word.text for word in turn.words)
        seconds = turn.audio_s if turn.audio_s is not None else max(0.0, turn.end_s - turn.start_s)
        return [*events, *out.completed(turn.item_id, turn.previous_item_id, transcript, seconds, ga=self.ga)]


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
