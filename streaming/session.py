"""One live /v1/listen session, sans I/O.

The shell feeds it what the socket received (bytes, text), what the workers
answered (job results) and the passing of time (`tick`); it answers with
actions (streaming.actions): messages to send, jobs to submit or withdraw,
audio to archive, and when to close. Per-channel work (segments, interims, ordered
finals, UtteranceEnd) lives in streaming.channel; this module decodes the
audio, parses control messages and runs the session's lifecycle.

Guarantees kept here and in streaming.channel, whatever order results arrive in:
- finals of a channel are sent in segment order, each segment's final once;
- a final is the result of the job the closed segment awaits (matched by
  revision): a speculative final's only when no speech followed its audio;
- an interim never follows the final of its segment, nor an interim newer
  than itself;
- every way a session ends (CloseStream, idle timeout, a client error, the
  maximum length) first flushes the open segments and waits for their finals,
  then finishes (FinishSession: the archive, then Metadata), then closes;
  the wait is bounded by `drain_timeout_s`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import replace
from enum import Enum, auto
from typing import Any

import numpy as np

from streaming.actions import Action, CloseSocket, FinishSession, SendMessage
from streaming.archive_document import archive_document
from streaming.audio_hold import ArchiveAudio, redactions_document
from streaming.channel import LiveChannel
from streaming.codecs import FrameDecoder, Int16Array, downmix, split_channels
from streaming.config import SessionConfig
from streaming.context import SessionContext
from streaming.events import ErrorEvent
from streaming.finals import JobFactory
from streaming.jobs import JobKind, JobResult, TranscribeOptions
from streaming.pacing import InterimPacer, WorkerLoad
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
    metadata_message,
    parse_control,
)
from streaming.segmenter import Segmenter
from streaming.speculative import SpeculativeStats
from streaming.vad import VoiceDetector


class State(Enum):
    ACTIVE = auto()
    DRAINING = auto()
    CLOSED = auto()


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
        self._decoder = FrameDecoder(params.encoding, params.channels)
        self._context = SessionContext(
            session_id=session_id,
            params=params,
            model=model,
            jobs=JobFactory(
                session_id,
                TranscribeOptions(
                    language=params.language, prompt=params.prompt, hotwords=params.keyterms, model=params.model
                ),
                reply_to,
                live=True,
            ),
            pacer=InterimPacer(
                config.interim_step_s,
                config.interim_pacing,
                None if not config.interim_pause_ms else config.interim_pause_ms / 1000,
            ),
            interim_stall_s=config.interim_stall_s,
            interim_opening_readings=config.interim_opening_readings,
            speculative_s=config.speculative_s(params),
        )
        segmenter_config = config.segmenter_config(params)
        self._channels = [
            LiveChannel(i, params.sample_rate, Segmenter(detector_factory(), segmenter_config), self._context)
            for i in range(params.output_channels)
        ]
        self._archive_audio = ArchiveAudio(
            params.output_channels, hold=params.redact_audio and bool(params.redact), redacted=self._context.redacted
        )
        self._sha256 = hashlib.sha256()
        self._input_samples = 0
        self._last_activity = self._last_audio = self._opened = self._last_final = now
        self._held_since: float | None = None
        self._drain_started = 0.0
        self._close_code: int = CloseCode.NORMAL
        self._close_reason = ""

    # -- queries ---------------------------------------------------------
    @property
    def audio_seconds(self) -> float:
        """Audio received, on the stream's own clock."""
        return self._input_samples / self.params.sample_rate

    @property
    def finals(self) -> list[dict[str, Any]]:
        """Every final results message sent, in the order sent."""
        return self._context.finals

    @property
    def errors(self) -> list[str]:
        """Every error reported to the client, in the order reported."""
        return self._context.errors

    @property
    def speculative(self) -> SpeculativeStats:
        """A copy of the speculative-final counters, all channels together (for metrics)."""
        return replace(self._context.speculative)

    @property
    def accepts_input(self) -> bool:
        """False while the session's finals are behind (`max_outstanding_finals`):
        the shell then holds the client's frames and messages, in order, and stops
        reading its socket, until this turns True again after results. Time spent
        so does not count towards the idle limits: the client is waiting for us."""
        budget = self.config.max_outstanding_finals * len(self._channels)
        return sum(channel.unreleased_finals for channel in self._channels) < budget

    @property
    def segment_open(self) -> bool:
        """Some channel has an open segment (speech, or a pause short of endpointing)."""
        return any(channel.segmenter.is_open for channel in self._channels)

    @property
    def finals_owed(self) -> int:
        """Closed segments whose final has not been sent yet, all channels together."""
        return sum(channel.unreleased_finals for channel in self._channels)

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def close_code(self) -> int:
        return self._close_code

    # -- inputs ------------------------------------------------------------
    def observe_load(self, load: WorkerLoad, now: float) -> None:
        """The workers' load as the shell measured it (streaming.pacing.WorkerLoad:
        the same value for every session of the gateway). Call it with the
        latest measurement before each input, or at least whenever the
        measurement changes; until the first call the workers count as idle.
        Interims follow it from the next audio on; it never returns actions."""
        self._context.pacer.observe(load, now)

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
        self._last_activity = self._last_audio = now
        self._sha256.update(data)
        block = self._decoder.decode(data)
        self._input_samples += len(block)
        actions: list[Action] = []
        if len(block):
            mono_blocks = split_channels(block) if self.params.multichannel else [downmix(block)]
            fed = [ch.feed(b, now, active=self._active) for ch, b in zip(self._channels, mono_blocks, strict=True)]
            actions.extend(self._recorded(fed))
            actions.extend(self._settled_audio())
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
            return self.end_stream(now)
        assert isinstance(message, UnknownControl)
        return [_error(f"unknown control message type {message.type!r}; expected KeepAlive, Finalize or CloseStream")]

    def receive_result(self, result: JobResult, now: float) -> list[Action]:
        if self.state is State.CLOSED or not 0 <= result.channel < len(self._channels):
            return []
        channel = self._channels[result.channel]
        if result.kind is JobKind.INTERIM:
            return channel.on_interim(result, now, active=self._active)
        self._last_final = now
        if not channel.record_final(result):
            # Not awaited by a closed segment: a speculative final answered
            # before its segment closed, one abandoned, or a redelivery.
            return channel.on_speculative(result, active=self._active)
        return self._release(channel, now)

    def tick(self, now: float) -> list[Action]:
        self._held_since = None if self.accepts_input else (self._held_since or now)
        if self._held_since is not None:
            self._last_activity = self._last_audio = now  # the client is held back by us, not idle
            waiting = now - max(self._held_since, self._last_final)
            if self.state is State.ACTIVE and waiting >= self.config.drain_timeout_s:
                reason = f"no final result for {self.config.drain_timeout_s:g} s: the transcription workers are down"
                return self._begin_drain(CloseCode.INTERNAL_ERROR, reason, now)
        if self.state is State.ACTIVE and (limit := self._limit_reached(now)) is not None:
            return self._begin_drain(*limit, now)
        if self.state is State.DRAINING and now - self._drain_started >= self.config.drain_timeout_s:
            missing = sum(ch.unreleased_finals for ch in self._channels)
            description = f"{missing} final result(s) were not produced within {self.config.drain_timeout_s:g} s"
            self.errors.append(description)
            if self._close_code == CloseCode.NORMAL:
                # Finals are missing: not a normal closure.
                self._close_code = CloseCode.INTERNAL_ERROR
                self._close_reason = description
            return [_error(description, "TRANSCRIPTION_TIMEOUT"), *self._finish(now)]
        return []

    def finalize(self, now: float) -> list[Action]:
        """An adapter's Finalize (OpenAI Realtime's commit): each channel answers with a from_finalize final."""
        return self._finalize(now) if self.state is State.ACTIVE else []

    def set_keyterms(self, keyterms: tuple[str, ...]) -> None:
        """Terms Whisper is biased towards from the next job on (an adapter's mid-stream reconfiguration)."""
        jobs = self._context.jobs
        jobs.options = replace(jobs.options, hotwords=keyterms)

    def end_stream(self, now: float) -> list[Action]:
        """The client says its audio is over (CloseStream, or an adapter's own end
        message): finish the open segments, send their finals, close with 1000."""
        return self._begin_drain(CloseCode.NORMAL, "", now)

    def fail(self, code: int, reason: str, now: float) -> list[Action]:
        """A client mistake an adapter found in its own protocol: reported as an
        Error message, then the session drains and closes with `code`."""
        return self._fail(code, reason, now)

    def shutdown(self, now: float) -> list[Action]:
        """The server is going away: finish like CloseStream, but close with 1012."""
        return self._begin_drain(CloseCode.SERVICE_RESTART, "server shutting down; reconnect to continue", now)

    def disconnected(self, now: float) -> list[Action]:
        """The client went away without CloseStream. Accepted audio is still
        transcribed for the archive; the shell drops messages from here on."""
        return self._begin_drain(CloseCode.GOING_AWAY, "client disconnected", now)

    # -- internals ---------------------------------------------------------
    @property
    def _active(self) -> bool:
        return self.state is State.ACTIVE

    def _recorded(self, fed: list[tuple[Int16Array, list[Action]]]) -> list[Action]:
        """The channels' 16 kHz audio as one RecordAudio (when there is any), then their actions."""
        actions: list[Action] = []
        if len(fed[0][0]):
            actions.extend(self._archive_audio.record(np.stack([audio for audio, _ in fed], axis=1)))
        for _, more in fed:
            actions.extend(more)
        return actions

    def _settled_audio(self, *, everything: bool = False) -> list[Action]:
        """With `redact_audio`: the held audio every final covers, its redacted spans silenced."""
        if not self._archive_audio.holding:
            return []
        until = math.inf if everything else min(channel.settled_until for channel in self._channels)
        return list(self._archive_audio.settled(until))

    def _release(self, channel: LiveChannel, now: float) -> list[Action]:
        """Send the channel's finals that are done; a draining session
        finishes once no channel has a final to come."""
        actions = channel.release(now, active=self._active)
        actions.extend(self._settled_audio())
        if self.state is State.DRAINING and not any(ch.finals_pending for ch in self._channels):
            actions.extend(self._finish(now))
        return actions

    def _finalize(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for channel in self._channels:
            actions.extend(channel.finalize(now, active=self._active))
            actions.extend(self._release(channel, now))
        return actions

    def _limit_reached(self, now: float) -> tuple[int, str] | None:
        """The time limit an active session has reached, as (close code, reason)."""
        config = self.config
        if now - self._last_activity >= config.idle_timeout_s:
            return CloseCode.INTERNAL_ERROR, f"NET-0001: no audio or KeepAlive received for {config.idle_timeout_s:g} s"
        if now - self._last_audio >= config.max_without_audio_s:
            reason = f"no audio received for {config.max_without_audio_s:g} s (KeepAlive alone does not keep a session)"
            return CloseCode.INTERNAL_ERROR, f"NET-0001: {reason}"
        if now - self._opened >= config.max_wall_s:
            reason = f"session reached the maximum duration of {config.max_wall_s:g} s (max_session_wall_s)"
            return CloseCode.POLICY_VIOLATION, reason
        return None

    def _fail(self, code: int, reason: str, now: float) -> list[Action]:
        self.errors.append(reason)
        return [_error(reason), *self._begin_drain(code, reason, now)]

    def _begin_drain(self, code: int, reason: str, now: float) -> list[Action]:
        if self.state is not State.ACTIVE:
            return []
        self._drain_started = now
        self._close_code = code
        self._close_reason = reason
        actions = self._recorded([channel.flush(now, active=self._active) for channel in self._channels])
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
            actions.extend(channel.maybe_utterance_end(active=self._active))
        actions.extend(self._settled_audio(everything=True))
        self.state = State.CLOSED
        actions.append(
            FinishSession(
                metadata_message(
                    self.session_id, self._sha256.hexdigest(), self.created, self.audio_seconds, self.params, self.model
                ),
                self.transcript_document(),
            )
        )
        actions.append(CloseSocket(self._close_code, self._close_reason))
        return actions

    def transcript_document(self) -> dict[str, Any]:
        """Everything the archive keeps about this session besides the audio."""
        return archive_document(
            request_id=self.session_id,
            created=self.created,
            source="live",
            channels=self.params.channels,
            duration_s=self.audio_seconds,
            params={
                "encoding": self.params.encoding.value,
                "sample_rate": self.params.sample_rate,
                "multichannel": self.params.multichannel,
                "language": self.params.language,
                "interim_results": self.params.interim_results,
                "redact": sorted(mode.value for mode in self.params.redact),
                "redact_audio": self._archive_audio.holding,
            },
            model_info=self.model.as_dict(),
            results=self.finals,
            errors=self.errors,
            close={"code": self._close_code, "reason": self._close_reason},
            redactions=redactions_document(self._context.redacted),
        )


def _error(description: str, code: str = "BAD_REQUEST") -> SendMessage:
    """An Error message and its typed event."""
    return SendMessage(error_message(description, code), event=ErrorEvent(description, code))
