"""What a live session's messages say, typed.

A `SendMessage` (streaming.actions) carries the message of Deepgram's
/v1/listen protocol that the session sends, and beside it `event`: the same
thing as one of these frozen values; a `Notice` carries the events that have
no /v1/listen message (the speculative-final events). Adapters that speak
another protocol (streaming.realtime, streaming.flux) translate the events,
never the payload dicts. Times are
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
class SpeculativeFinalEvent:
    """The open segment's speculative final (streaming.speculative) has been read:
    `words` are what its final will say if endpointing (or a Finalize) confirms
    the pause, read as Whisper wrote them (redacted like an interim; the
    interim shown for the same reading keeps LocalAgreement's committed
    spelling, so its words may differ). Carried by a `Notice`; /v1/listen has
    no message for it. A `SpeculationAbandonedEvent` follows if speech resumes
    first; otherwise the segment's final, with the same reading, follows."""

    channel: int
    start: float
    duration: float
    """Audio the reading covers: the open segment up to where the pause had lasted the speculative silence."""
    speech_end: float
    """End of the segment's last voiced frame when the reading came: the pause began there."""
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True, slots=True)
class SpeculationAbandonedEvent:
    """Speech resumed in the open segment after its speculative final's audio
    (at `timestamp`, stream time): that reading is no longer the final-to-be,
    and the job is withdrawn. Carried by a `Notice`; /v1/listen has no message for it."""

    channel: int
    timestamp: float


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


LiveEvent = (
    TranscriptEvent
    | SpeechStartedEvent
    | SegmentEndEvent
    | UtteranceEndEvent
    | ErrorEvent
    | DtmfEvent
    | SpeculativeFinalEvent
    | SpeculationAbandonedEvent
)
