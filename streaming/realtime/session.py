"""One OpenAI Realtime transcription session (`/v1/realtime?intent=transcription`), sans I/O.

`RealtimeTranscription` wraps a `ListenSession` and is driven by the shell
(server/http/realtime.py) like any `streaming.core.LiveCore`. The client's
JSON events become the session's input; the session's actions come back with
`Reply` actions added, the OpenAI events that go on the socket, made from the
typed events (streaming.events) of its messages, never from their payloads.
The session's own messages still reach subscribers and webhooks.

The caller's duties beyond LiveCore's: send `opening()` first (the
`session.created` event); carry out `Reply` actions on the socket.

What the events do:
- `session.update` / `transcription_session.update`: merged into the
  configuration (streaming.realtime.config) and always acknowledged with the
  full configuration in effect, or answered with an `error` that changes
  nothing. Until the first audio, the wrapped session is made anew with the
  new settings; after it, only the audio format still changes (appended audio
  is decoded here): turn detection and transcription settings are those in
  effect when the audio began, and the acknowledgement shows them.
- `input_audio_buffer.append`: base64 audio in the session's format, decoded
  and resampled here to the 16 kHz linear16 the wrapped session takes;
- `input_audio_buffer.commit`: the open segment closes (the session's
  Finalize) and its item is committed; an empty buffer (under 100 ms) is an
  error, as OpenAI's;
- `input_audio_buffer.clear`: the open segment closes and everything said
  about it is dropped;
- anything else, malformed JSON, base64 that is not, an append over the
  frame limit, a binary frame: an `error` event; the session goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from streaming.actions import Action, CloseSocket, FinishSession, Notice, Reply, SendMessage
from streaming.codecs import FrameDecoder, Int16Array
from streaming.core import SessionAdapter
from streaming.events import ErrorEvent, SegmentEndEvent, SpeechStartedEvent, TranscriptEvent
from streaming.jobs import JobResult
from streaming.protocol import CloseCode, ListenParams
from streaming.realtime import server_events as out
from streaming.realtime.config import AudioFormat, RealtimeConfig, apply_beta, apply_ga
from streaming.realtime.errors import RealtimeError
from streaming.realtime.messages import (
    AppendAudio,
    ClearAudio,
    ClientEventError,
    CommitAudio,
    SessionUpdate,
    parse_client_event,
)
from streaming.realtime.turns import Turns
from streaming.resample import StreamResampler
from streaming.session import ListenSession, State

MIN_COMMIT_S = 0.1
"""OpenAI refuses to commit less audio than this."""
_CLOSE_ERRORS: dict[int, tuple[str, str]] = {
    CloseCode.POLICY_VIOLATION: ("invalid_request_error", "session_expired"),
    CloseCode.SERVICE_RESTART: ("server_error", "server_shutting_down"),
}


class RealtimeTranscription(SessionAdapter):
    """A transcription session: its configuration, its items and the session it wraps.

    `new_session`: makes the wrapped session for given parameters (the same id
    each time); `base`: the connection's own parameters (archive, callback,
    redaction); `beta`: the client asked for the beta protocol (the
    `OpenAI-Beta: realtime=v1` header); `created_at`: Unix time of the connection."""

    def __init__(
        self,
        *,
        new_session: Callable[[ListenParams], ListenSession],
        base: ListenParams,
        beta: bool,
        created_at: float,
    ) -> None:
        self._new_session = new_session
        self._base = base
        self._beta = beta
        self._config = RealtimeConfig()
        super().__init__(new_session(self._config.listen_params(base)))
        self._expires_at = int(created_at + self.session.config.max_wall_s)
        self._prefix = self.session.session_id.replace("-", "")[:20]
        self._turns = Turns(self._new_item_id, ga=not beta)
        self._format = self._config.format
        self._decoder = FrameDecoder(self._format.encoding, 1)
        self._resampler = StreamResampler(self._format.sample_rate)
        self._fed = False
        self._counts = {"event": 0, "item": 0}
        self._reported: set[str] = set()
        """Error descriptions already sent as `error` events."""
        self.client_errors = 0

    # -- what the shell reads -------------------------------------------------
    @property
    def config(self) -> RealtimeConfig:
        return self._config

    def opening(self) -> dict[str, Any]:
        """The first server event: `session.created` (beta: `transcription_session.created`)."""
        name = "transcription_session.created" if self._beta else "session.created"
        return self._event({"type": name, "session": self._session_object(beta=self._beta)})

    # -- inputs ---------------------------------------------------------------
    def receive_bytes(self, data: bytes, now: float) -> list[Action]:
        message = "Binary frames are not part of the Realtime API: send audio as base64 in input_audio_buffer.append."
        return self._refuse(RealtimeError("binary_frame_not_supported", message), None)

    def receive_text(self, text: str, now: float) -> list[Action]:
        if self.session.state is not State.ACTIVE:
            return []
        try:
            event = parse_client_event(text, self.session.config.max_frame_bytes)
        except ClientEventError as error:
            return self._refuse(error, error.event_id)
        match event:
            case SessionUpdate():
                return self._update(event, now)
            case AppendAudio(audio=audio):
                block = self._decoder.decode(audio)[:, 0]
                return self._feed(self._resampler.process(block), now)
            case CommitAudio(event_id=event_id):
                return self._commit(event_id, now)
            case ClearAudio():
                flushed = self._translate(self._feed_tail(now))
                replies = self._turns.clear(self.audio_seconds)
                return [*flushed, *self._replies(replies), *self._translate(self.session.finalize(now))]

    def receive_result(self, result: JobResult, now: float) -> list[Action]:
        return self._translate(self.session.receive_result(result, now))

    def tick(self, now: float) -> list[Action]:
        return self._translate(self.session.tick(now))

    def shutdown(self, now: float) -> list[Action]:
        return self._translate(self._feed_tail(now) + self.session.shutdown(now))

    def disconnected(self, now: float) -> list[Action]:
        return self._translate(self._feed_tail(now) + self.session.disconnected(now))

    # -- client events --------------------------------------------------------
    def _update(self, event: SessionUpdate, now: float) -> list[Action]:
        try:
            config = (apply_beta if event.beta else apply_ga)(self._config, event.session)
        except RealtimeError as error:
            return self._refuse(error, event.event_id)
        self._turns.ga = not event.beta
        actions = self._switch_format(config.format, now) if config.format is not self._format else []
        if not self._fed:
            params = config.listen_params(self._base)
            if params != self.session.params:
                self.session = self._new_session(params)  # nothing was sent to the old one
        else:
            config = replace(
                config, transcription=self._config.transcription, turn_detection=self._config.turn_detection
            )
        self._config = config
        name = "transcription_session.updated" if event.beta else "session.updated"
        acknowledged = self._event({"type": name, "session": self._session_object(beta=event.beta)})
        return [*self._translate(actions), Reply(acknowledged)]

    def _commit(self, event_id: str | None, now: float) -> list[Action]:
        flushed = self._translate(self._feed_tail(now))  # the resampler's delay line belongs to this buffer
        buffered = self.audio_seconds - self._turns.buffer_start_s
        if buffered < MIN_COMMIT_S - 1e-9:
            message = (
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {max(0.0, buffered) * 1000:.2f}ms of audio."
            )
            return [*flushed, *self._refuse(RealtimeError("input_audio_buffer_commit_empty", message), event_id)]
        replies = self._turns.commit(self.audio_seconds)
        return [*flushed, *self._replies(replies), *self._translate(self.session.finalize(now))]

    def _refuse(self, error: RealtimeError, event_id: str | None) -> list[Action]:
        self.client_errors += 1
        return [Reply(self._event(out.error(error.body(event_id))))]

    # -- audio ----------------------------------------------------------------
    def _feed(self, audio: Int16Array, now: float) -> list[Action]:
        """16 kHz audio into the wrapped session, in frames it takes."""
        if not len(audio):
            return []
        self._fed = True
        step = max(1, self.session.config.max_frame_bytes // 2)
        actions: list[Action] = []
        for start in range(0, len(audio), step):
            actions.extend(self.session.receive_bytes(audio[start : start + step].astype("<i2").tobytes(), now))
        return self._translate(actions)

    def _feed_tail(self, now: float) -> list[Action]:
        """The resampler's delay line, at the end of the audio or of a buffer."""
        if not self._fed:
            return []
        tail = self._resampler.flush()
        self._resampler = StreamResampler(self._format.sample_rate)
        if not len(tail) or self.session.state is not State.ACTIVE:
            return []
        return self.session.receive_bytes(tail.astype("<i2").tobytes(), now)

    def _switch_format(self, chosen: AudioFormat, now: float) -> list[Action]:
        actions = self._feed_tail(now)
        self._format = chosen
        self._decoder = FrameDecoder(chosen.encoding, 1)
        self._resampler = StreamResampler(chosen.sample_rate)
        return actions

    # -- the session's actions, translated ----------------------------------------
    def _translate(self, actions: list[Action]) -> list[Action]:
        translated: list[Action] = []
        for action in actions:
            match action:
                case SendMessage(event=TranscriptEvent() as event) | Notice(event=TranscriptEvent() as event):
                    translated.extend(self._replies(self._turns.transcript(event)))
                case Notice(event=SegmentEndEvent(end=end, speech_final=speech_final)):
                    translated.extend(self._replies(self._turns.segment_end(end, speech_final=speech_final)))
                case SendMessage(event=SpeechStartedEvent(timestamp=timestamp)):
                    translated.extend(self._replies(self._turns.speech_started(timestamp)))
                case SendMessage(event=ErrorEvent(code="TRANSCRIPTION_FAILED", description=description)):
                    self._turns.failure(description)
                case SendMessage(event=ErrorEvent(code=variant, description=description)):
                    kind = "server_error" if variant == "TRANSCRIPTION_TIMEOUT" else "invalid_request_error"
                    translated.append(self._error_reply(kind, variant.lower(), description))
                case FinishSession():
                    translated.extend(self._replies(self._turns.finish()))
                    action = self._named(action)
                case CloseSocket(code=code, reason=reason) if (
                    code > CloseCode.GOING_AWAY and reason not in self._reported
                ):
                    kind, name = _CLOSE_ERRORS.get(code, ("server_error", "session_closed"))
                    translated.append(self._error_reply(kind, name, reason))
            if not isinstance(action, Notice):
                translated.append(action)
        return translated

    def _error_reply(self, kind: str, code: str, message: str) -> Reply:
        self._reported.add(message)
        return Reply(self._event(out.error(RealtimeError(code, message, kind=kind).body(None))))

    def _replies(self, events: list[dict[str, Any]]) -> list[Action]:
        return [Reply(self._event(event)) for event in events]

    def _event(self, body: dict[str, Any]) -> dict[str, Any]:
        self._counts["event"] += 1
        return {"type": body["type"], "event_id": f"event_{self._prefix}{self._counts['event']:06d}", **body}

    def _new_item_id(self) -> str:
        self._counts["item"] += 1
        return f"item_{self._prefix}{self._counts['item']:06d}"

    def _session_object(self, *, beta: bool) -> dict[str, Any]:
        render = self._config.beta_session if beta else self._config.ga_session
        return render(f"sess_{self._prefix}", self._expires_at, self.session.model.name)

    def _named(self, action: FinishSession) -> FinishSession:
        """The archive document says the protocol and the session's configuration."""
        realtime = {
            "protocol": "beta" if not self._turns.ga else "ga",
            "session": self._config.ga_session(f"sess_{self._prefix}", self._expires_at, self.session.model.name),
            "client_errors": self.client_errors,
        }
        document = {**action.document, "source": "realtime", "realtime": realtime}
        document["params"] = {**document["params"], "encoding": self._format.encoding.value,
                              "sample_rate": self._format.sample_rate}  # fmt: skip
        return FinishSession(action.metadata, document)
