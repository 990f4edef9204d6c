"""One live /v1/listen session, sans I/O.

The shell feeds it what the socket received (bytes, text), what the workers
answered (job results) and the passing of time (`tick`); it answers with
actions: messages to send, jobs to submit, audio to archive, and when to close.

Guarantees kept here, whatever order results arrive in:
- finals of a channel are sent in segment order, each segment's final once;
- an interim never follows the final of its segment, nor an interim newer
  than itself;
- every way a session ends (CloseStream, idle timeout, a client error, the
  maximum length) first flushes the open segments and waits for their finals,
  then sends Metadata, then closes; the wait is bounded by `drain_timeout_s`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

import numpy as np

from streaming.codecs import FrameDecoder, Int16Array, downmix, split_channels
from streaming.protocol import (
    CloseCode,
    CloseStream,
    Finalize,
    KeepAlive,
    ListenParams,
    ModelInfo,
    ProtocolError,
    UnknownControl,
    error_message,
    parse_control,
    results_message,
    speech_started_message,
    utterance_end_message,
)
from streaming.resample import StreamResampler
from streaming.segmenter import (
    CloseReason,
    SegmentClosed,
    SegmentDropped,
    Segmenter,
    SegmenterConfig,
    SegmenterEvent,
    SpeechStarted,
)
from streaming.stabilizer import LocalAgreement
from streaming.transcript import Job, JobKind, JobResult, TranscribeOptions, Word
from streaming.vad import VoiceDetector

# -- actions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SubmitJob:
    job: Job


@dataclass(frozen=True, slots=True)
class RecordAudio:
    """16 kHz audio of every output channel, shape (samples, channels)."""

    samples: Int16Array = field(repr=False)


@dataclass(frozen=True, slots=True)
class CloseSocket:
    code: int
    reason: str


Action = SendMessage | SubmitJob | RecordAudio | CloseSocket


@dataclass(frozen=True, slots=True)
class SessionConfig:
    default_endpointing_ms: int = 400
    interim_step_s: float = 0.5
    """New audio an open segment must gain before another interim job."""
    interim_stall_s: float = 10.0
    """An interim job unanswered this long no longer blocks the next one."""
    idle_timeout_s: float = 10.0
    max_frame_bytes: int = 1 << 20
    max_session_s: float = 4 * 3600.0
    drain_timeout_s: float = 60.0
    preroll_ms: int = 250
    min_speech_ms: int = 200
    max_segment_s: float = 15.0

    def segmenter_config(self, params: ListenParams) -> SegmenterConfig:
        endpointing = None if params.endpointing_disabled else params.endpointing_ms
        if endpointing is None and not params.endpointing_disabled:
            endpointing = self.default_endpointing_ms
        return SegmenterConfig(
            endpointing_ms=endpointing,
            preroll_ms=self.preroll_ms,
            min_speech_ms=self.min_speech_ms,
            max_segment_s=self.max_segment_s,
        )


class State(Enum):
    ACTIVE = auto()
    DRAINING = auto()
    CLOSED = auto()


@dataclass(slots=True)
class _FinalSlot:
    start: float
    end: float
    reason: CloseReason
    done: bool = False
    words: tuple[Word, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class _InterimState:
    seq: int = 0
    submitted_audio_s: float = 0.0
    in_flight_revision: int | None = None
    in_flight_since: float = 0.0
    shown_revision: int = -1
    stabilizer: LocalAgreement = field(default_factory=LocalAgreement)


@dataclass(slots=True)
class _Channel:
    index: int
    resampler: StreamResampler
    segmenter: Segmenter
    interim: _InterimState = field(default_factory=_InterimState)
    slots: dict[int, _FinalSlot] = field(default_factory=dict)
    next_release: int = 1
    finalize_markers: list[int] = field(default_factory=list)
    last_word_end: float = 0.0
    utterance_open: bool = False

    @property
    def finals_pending(self) -> bool:
        return bool(self.slots) or self.segmenter.is_open


class ListenSession:
    """Protocol state of one live stream."""

    def __init__(
        self,
        *,
        session_id: str,
        params: ListenParams,
        model: ModelInfo,
        detector_factory: Callable[[], VoiceDetector],
        config: SessionConfig,
        reply_to: str = "",
        created: str = "",
        now: float = 0.0,
    ) -> None:
        self.session_id = session_id
        self.params = params
        self.model = model
        self.config = config
        self.reply_to = reply_to
        self.created = created
        self.state = State.ACTIVE
        self.finals: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._decoder = FrameDecoder(params.encoding, params.channels)
        segmenter_config = config.segmenter_config(params)
        self._channels = [
            _Channel(i, StreamResampler(params.sample_rate), Segmenter(detector_factory(), segmenter_config))
            for i in range(params.output_channels)
        ]
        self._options = TranscribeOptions(language=params.language, hotwords=params.keyterms, model=params.model)
        self._sha256 = hashlib.sha256()
        self._input_samples = 0
        self._revision = 0
        self._last_activity = now
        self._drain_started = 0.0
        self._close_code: int = CloseCode.NORMAL
        self._close_reason = ""

    # -- queries ---------------------------------------------------------
    @property
    def audio_seconds(self) -> float:
        """Audio received, on the stream's own clock."""
        return self._input_samples / self.params.sample_rate

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def close_code(self) -> int:
        return self._close_code

    def metadata_message(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.session_id,
            "sha256": self._sha256.hexdigest(),
            "created": self.created,
            "duration": round(self.audio_seconds, 3),
            "channels": self.params.channels,
            "models": [self.model.uuid],
            "model_info": {self.model.uuid: self.model.as_dict()},
        }

    # -- inputs ------------------------------------------------------------
    def receive_bytes(self, data: bytes, now: float) -> list[Action]:
        if self.state is not State.ACTIVE:
            return []
        if len(data) > self.config.max_frame_bytes:
            return self._fail(
                CloseCode.MESSAGE_TOO_BIG,
                f"audio frame of {len(data)} bytes exceeds the limit of {self.config.max_frame_bytes} bytes "
                "(max_frame_bytes); send frames of 20-250 ms",
                now,
            )
        self._last_activity = now
        self._sha256.update(data)
        block = self._decoder.decode(data)
        self._input_samples += len(block)
        actions: list[Action] = []
        if len(block):
            mono_blocks = split_channels(block) if self.params.multichannel else [downmix(block)]
            resampled = [ch.resampler.process(b) for ch, b in zip(self._channels, mono_blocks, strict=True)]
            actions.extend(self._feed(resampled, now))
        if self.audio_seconds >= self.config.max_session_s:
            actions.extend(
                self._begin_drain(
                    CloseCode.POLICY_VIOLATION,
                    f"session reached the maximum length of {self.config.max_session_s:g} s (max_session_seconds)",
                    now,
                )
            )
        return actions

    def receive_text(self, text: str, now: float) -> list[Action]:
        if self.state is not State.ACTIVE:
            return []
        try:
            message = parse_control(text)
        except ProtocolError as error:
            return self._fail(error.code, error.reason, now)
        self._last_activity = now
        if isinstance(message, KeepAlive):
            return []
        if isinstance(message, Finalize):
            return self._finalize(now)
        if isinstance(message, CloseStream):
            return self._begin_drain(CloseCode.NORMAL, "", now)
        assert isinstance(message, UnknownControl)
        return [
            SendMessage(
                error_message(
                    f"unknown control message type {message.type!r}; expected KeepAlive, Finalize or CloseStream"
                )
            )
        ]

    def receive_result(self, result: JobResult, now: float) -> list[Action]:
        if self.state is State.CLOSED or not 0 <= result.channel < len(self._channels):
            return []
        channel = self._channels[result.channel]
        if result.kind is JobKind.INTERIM:
            return self._on_interim(channel, result, now)
        slot = channel.slots.get(result.seq)
        if slot is None or slot.done:
            return []  # a redelivered final: already handled
        slot.done = True
        slot.words = result.words
        slot.error = result.error
        return self._release(channel, now)

    def tick(self, now: float) -> list[Action]:
        if self.state is State.ACTIVE and now - self._last_activity >= self.config.idle_timeout_s:
            return self._begin_drain(
                CloseCode.INTERNAL_ERROR,
                f"NET-0001: no audio or KeepAlive received for {self.config.idle_timeout_s:g} s",
                now,
            )
        if self.state is State.DRAINING and now - self._drain_started >= self.config.drain_timeout_s:
            missing = sum(len(ch.slots) for ch in self._channels)
            description = f"{missing} final result(s) were not produced within {self.config.drain_timeout_s:g} s"
            self.errors.append(description)
            if self._close_code == CloseCode.NORMAL:
                # Finals are missing: not a normal closure.
                self._close_code = CloseCode.INTERNAL_ERROR
                self._close_reason = description
            return [SendMessage(error_message(description, "TRANSCRIPTION_TIMEOUT")), *self._finish(now)]
        return []

    def shutdown(self, now: float) -> list[Action]:
        """The server is going away: finish like CloseStream, but close with 1012."""
        return self._begin_drain(CloseCode.SERVICE_RESTART, "server shutting down; reconnect to continue", now)

    def disconnected(self, now: float) -> list[Action]:
        """The client went away without CloseStream. Accepted audio is still
        transcribed for the archive; the shell drops messages from here on."""
        return self._begin_drain(CloseCode.GOING_AWAY, "client disconnected", now)

    # -- internals ---------------------------------------------------------
    def _feed(self, blocks: list[Int16Array], now: float) -> list[Action]:
        actions: list[Action] = [RecordAudio(np.stack(blocks, axis=1))] if len(blocks[0]) else []
        for channel, block in zip(self._channels, blocks, strict=True):
            actions.extend(self._on_segmenter_events(channel, channel.segmenter.feed(block), now))
            actions.extend(self._maybe_interim(channel, now))
            actions.extend(self._maybe_utterance_end(channel))
        return actions

    def _on_segmenter_events(self, channel: _Channel, events: list[SegmenterEvent], now: float) -> list[Action]:
        actions: list[Action] = []
        for event in events:
            if isinstance(event, SpeechStarted):
                if self.params.vad_events:
                    actions.append(SendMessage(speech_started_message(channel.index, self._n_out, event.timestamp)))
            elif isinstance(event, SegmentClosed):
                channel.slots[event.seq] = _FinalSlot(event.start, event.end, event.reason)
                actions.append(SubmitJob(self._job(channel, event.seq, JobKind.FINAL, event.start, event.audio)))
                self._reset_interim(channel)
            elif isinstance(event, SegmentDropped):
                channel.slots[event.seq] = _FinalSlot(event.start, event.end, event.reason, done=True)
                self._reset_interim(channel)
                actions.extend(self._release(channel, now))
        return actions

    @property
    def _n_out(self) -> int:
        return self.params.output_channels

    def _job(self, channel: _Channel, seq: int, kind: JobKind, start: float, audio: Int16Array) -> Job:
        self._revision += 1
        return Job(
            session_id=self.session_id,
            channel=channel.index,
            seq=seq,
            kind=kind,
            revision=self._revision,
            start=start,
            audio=audio,
            options=self._options,
            reply_to=self.reply_to,
        )

    def _reset_interim(self, channel: _Channel) -> None:
        channel.interim = _InterimState()

    def _maybe_interim(self, channel: _Channel, now: float) -> list[Action]:
        segmenter = channel.segmenter
        if not self.params.interim_results or self.state is not State.ACTIVE or segmenter.open_seq is None:
            return []
        interim = channel.interim
        if interim.seq != segmenter.open_seq:
            channel.interim = interim = _InterimState(seq=segmenter.open_seq)
        busy = interim.in_flight_revision is not None and now - interim.in_flight_since < self.config.interim_stall_s
        # Checked on every frame: the segment's audio is joined only when a job goes out.
        duration = segmenter.open_duration()
        if busy or duration - interim.submitted_audio_s < self.config.interim_step_s:
            return []
        job = self._job(channel, interim.seq, JobKind.INTERIM, segmenter.open_start(), segmenter.open_audio())
        interim.in_flight_revision = job.revision
        interim.in_flight_since = now
        interim.submitted_audio_s = duration
        return [SubmitJob(job)]

    def _on_interim(self, channel: _Channel, result: JobResult, now: float) -> list[Action]:
        interim = channel.interim
        if result.seq != interim.seq or channel.segmenter.open_seq != result.seq:
            return []  # its segment is closed: the final speaks for it
        if interim.in_flight_revision == result.revision:
            interim.in_flight_revision = None
        actions: list[Action] = []
        # An empty first interim says nothing; an empty later one clears what was shown.
        nothing_to_say = not result.words and interim.shown_revision < 0
        fresh = result.revision > interim.shown_revision and result.error is None and not nothing_to_say
        if fresh and self.state is State.ACTIVE:
            interim.shown_revision = result.revision
            stable = interim.stabilizer.update([w.text for w in result.words])
            words = [
                Word(text, result.words[i].start, result.words[i].end, result.words[i].confidence)
                for i, text in enumerate(stable.words)
                if i < len(result.words)
            ]
            start = channel.segmenter.open_start()
            actions.append(
                SendMessage(
                    results_message(
                        request_id=self.session_id,
                        model=self.model,
                        channel=channel.index,
                        channels=self._n_out,
                        start=start,
                        duration=interim.submitted_audio_s,
                        words=words,
                        is_final=False,
                        speech_final=False,
                        from_finalize=False,
                    )
                )
            )
        actions.extend(self._maybe_interim(channel, now))
        return actions

    def _release(self, channel: _Channel, now: float) -> list[Action]:
        """Send the finals that are done, in segment order."""
        actions: list[Action] = []
        while (slot := channel.slots.get(channel.next_release)) is not None and slot.done:
            del channel.slots[channel.next_release]
            from_finalize = slot.reason is CloseReason.FINALIZE
            if slot.error is not None:
                self.errors.append(slot.error)
                actions.append(SendMessage(error_message(slot.error, "TRANSCRIPTION_FAILED")))
            if slot.words or from_finalize:
                actions.append(self._final(channel, slot.start, slot.end - slot.start, slot.words, slot.reason))
            if slot.words:
                channel.last_word_end = slot.words[-1].end
                channel.utterance_open = True
            channel.next_release += 1
        actions.extend(self._release_finalize_markers(channel))
        actions.extend(self._maybe_utterance_end(channel))
        if self.state is State.DRAINING and not any(ch.finals_pending for ch in self._channels):
            actions.extend(self._finish(now))
        return actions

    def _final(
        self, channel: _Channel, start: float, duration: float, words: tuple[Word, ...], reason: CloseReason
    ) -> SendMessage:
        message = results_message(
            request_id=self.session_id,
            model=self.model,
            channel=channel.index,
            channels=self._n_out,
            start=start,
            duration=duration,
            words=words,
            is_final=True,
            speech_final=reason is CloseReason.ENDPOINT,
            from_finalize=reason is CloseReason.FINALIZE,
        )
        self.finals.append(message)
        return SendMessage(message)

    def _release_finalize_markers(self, channel: _Channel) -> list[Action]:
        actions: list[Action] = []
        while channel.finalize_markers and channel.finalize_markers[0] < channel.next_release:
            channel.finalize_markers.pop(0)
            clock = channel.segmenter.clock
            actions.append(self._final(channel, clock, 0.0, (), CloseReason.FINALIZE))
        return actions

    def _maybe_utterance_end(self, channel: _Channel) -> list[Action]:
        gap_ms = self.params.utterance_end_ms
        if gap_ms is None or not channel.utterance_open or channel.finals_pending:
            return []
        if channel.segmenter.clock < channel.last_word_end + gap_ms / 1000 and self.state is State.ACTIVE:
            return []
        channel.utterance_open = False
        return [SendMessage(utterance_end_message(channel.index, self._n_out, channel.last_word_end))]

    def _finalize(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for channel in self._channels:
            events = channel.segmenter.finalize()
            if not events:
                channel.finalize_markers.append(channel.next_release - 1 + len(channel.slots))
            actions.extend(self._on_segmenter_events(channel, events, now))
            actions.extend(self._release(channel, now))
        return actions

    def _flush_channel(self, channel: _Channel, tail: Int16Array, now: float) -> list[Action]:
        actions: list[Action] = []
        if len(tail):
            actions.extend(self._on_segmenter_events(channel, channel.segmenter.feed(tail), now))
        actions.extend(self._on_segmenter_events(channel, channel.segmenter.end_of_stream(), now))
        return actions

    def _fail(self, code: int, reason: str, now: float) -> list[Action]:
        self.errors.append(reason)
        return [SendMessage(error_message(reason)), *self._begin_drain(code, reason, now)]

    def _begin_drain(self, code: int, reason: str, now: float) -> list[Action]:
        if self.state is not State.ACTIVE:
            return []
        self._drain_started = now
        self._close_code = code
        self._close_reason = reason
        # The resamplers' delay lines hold the last few ms of audio: archive
        # them and segment them like the rest.
        tails = [channel.resampler.flush() for channel in self._channels]
        actions: list[Action] = [RecordAudio(np.stack(tails, axis=1))] if len(tails[0]) else []
        for channel, tail in zip(self._channels, tails, strict=True):
            actions.extend(self._flush_channel(channel, tail, now))
        # DRAINING only once every channel is flushed: a channel with nothing
        # pending must not finish the session before the next one has closed
        # its last segment.
        self.state = State.DRAINING
        for channel in self._channels:
            actions.extend(self._release(channel, now))
        return actions

    def _finish(self, now: float) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        actions: list[Action] = []
        for channel in self._channels:
            actions.extend(self._maybe_utterance_end(channel))
        self.state = State.CLOSED
        actions.append(SendMessage(self.metadata_message()))
        actions.append(CloseSocket(self._close_code, self._close_reason))
        return actions

    def transcript_document(self) -> dict[str, Any]:
        """Everything the archive keeps about this session besides the audio."""
        return {
            "request_id": self.session_id,
            "created": self.created,
            "duration": round(self.audio_seconds, 3),
            "channels": self.params.channels,
            "params": {
                "encoding": self.params.encoding.value,
                "sample_rate": self.params.sample_rate,
                "multichannel": self.params.multichannel,
                "language": self.params.language,
                "interim_results": self.params.interim_results,
            },
            "model_info": self.model.as_dict(),
            "close": {"code": self._close_code, "reason": self._close_reason},
            "errors": list(self.errors),
            "transcript": " ".join(
                f["channel"]["alternatives"][0]["transcript"]
                for f in self.finals
                if f["channel"]["alternatives"][0]["transcript"]
            ),
            "results": self.finals,
        }
