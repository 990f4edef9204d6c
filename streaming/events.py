"""What a live session's messages say, typed.

A `SendMessage` (streaming.actions) carries the message of Deepgram's
/v1/listen protocol that the session sends, and beside it `event`: the same
thing as one of these frozen values. Adapters that speak another protocol
(streaming.realtime) translate the events, never the payload dicts. Times are
seconds on the stream's own audio clock; words are the ones the client may
see (already redacted).
"""

from __future__ import annotations

from dataclasses import dataclass

from streaming.jobs import Word


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """A Results message: an interim reading of the open segment, or a final."""

    channel: int
    start: float
    duration: float
    words: tuple[Word, ...]
    is_final: bool
    speech_final: bool
    """A final that ends an utterance by endpointing silence."""
    from_finalize: bool
    """A final that closed because of a Finalize (or an adapter's commit)."""
    stable: int
    """How many leading `words` no later interim of the segment changes
    (LocalAgreement's committed prefix); every word of a final."""

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True, slots=True)
class SpeechStartedEvent:
    """Speech opened a segment at `timestamp` (sent with `vad_events`)."""

    channel: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class SegmentEndEvent:
    """A segment closed at `end` (its final follows): by endpointing silence
    (`speech_final`), at the maximum length, a Finalize or the end of the stream.
    Carried by a `Notice`, with `turn_notices` (streaming.protocol.ListenParams)."""

    channel: int
    end: float
    speech_final: bool


@dataclass(frozen=True, slots=True)
class UtteranceEndEvent:
    """The words of the channel are final and a gap of `utterance_end_ms` followed them."""

    channel: int
    last_word_end: float


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An Error message: `code` is its variant (BAD_REQUEST, TRANSCRIPTION_FAILED, TRANSCRIPTION_TIMEOUT)."""

    description: str
    code: str


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A keypad press on a call (streaming.twilio), already redacted when the session redacts."""

    channel: int
    timestamp: float
    digit: str


LiveEvent = TranscriptEvent | SpeechStartedEvent | SegmentEndEvent | UtteranceEndEvent | ErrorEvent | DtmfEvent
