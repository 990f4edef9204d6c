"""One Flux stream (`/v2/listen`) as a live session, sans I/O.

`FluxStream` wraps a mono `ListenSession` whose parameters come from
streaming.flux.params (interims and SpeechStarted on, the endpointing and
speculative silences the thresholds map to). The shell (server/http/flux.py)
drives it like any `streaming.core.LiveCore`, with these duties besides:
send `opening()` first (Connected, then a Warning per ignored parameter);
send `Reply` payloads on the socket and nothing else there (the session's
own messages, still passed through, go to subscribers and webhooks only).

What the client's messages do:
- audio (binary frames): the session's input;
- `CloseStream`: the rest is transcribed, an open turn ends, the socket closes (1000);
- `ForceEndTurn`: the open turn ends on what was said so far (the session's
  Finalize), `EndOfTurn` with `trigger: "manual"`; ignored without a turn;
- `Configure`: thresholds (and keyterms) change now; `ConfigureSuccess` with
  the active ones, or `ConfigureFailure` (a value out of range: nothing changes);
- `KeepAlive`: keeps an idle stream open, as on /v1/listen;
- an unknown `type`: a Warning, nothing else;
- a text frame that is not a JSON object with a `type`, a malformed Configure,
  an oversized frame: an `Error`, then the session drains and closes (1007, 1009).

Every server message carries `sequence_id`, counted from 0 (Connected). A
fatal `Error` is sent last, just before the close; a segment whose
transcription failed is a Warning (the stream goes on).
"""

from __future__ import annotations

from typing import Any

from streaming.actions import Action, CloseSocket, FinishSession, Notice, Reply, SendMessage
from streaming.core import SessionAdapter
from streaming.events import (
    ErrorEvent,
    SpeculationAbandonedEvent,
    SpeculativeFinalEvent,
    SpeechStartedEvent,
    TranscriptEvent,
)
from streaming.flux import messages as out
from streaming.flux.messages import Configure, ForceEndTurn, UnknownMessage, parse_client_message
from streaming.flux.params import FluxOptions, ThresholdError
from streaming.flux.turns import FinalizeRequest, TurnEvent, TurnOutput, TurnTracker
from streaming.jobs import JobResult
from streaming.protocol import CloseCode, CloseStream, KeepAlive, ProtocolError
from streaming.session import ListenSession

ERROR_CODES: dict[int, str] = {
    CloseCode.UNSUPPORTED_DATA: "UNSUPPORTED_DATA",
    CloseCode.INVALID_DATA: "INVALID_MESSAGE",
    CloseCode.POLICY_VIOLATION: "POLICY_VIOLATION",
    CloseCode.MESSAGE_TOO_BIG: "MESSAGE_TOO_BIG",
    CloseCode.INTERNAL_ERROR: "INTERNAL_SERVER_ERROR",
    CloseCode.TRY_AGAIN_LATER: "TOO_MANY_REQUESTS",
}
"""Flux's Error `code` for a session closed with this WebSocket code."""
_QUIET_CLOSES = (CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART)
_KEEP_ALIVE = '{"type": "KeepAlive"}'


def error_code(close_code: int) -> str:
    return ERROR_CODES.get(close_code, "INTERNAL_SERVER_ERROR")


class FluxStream(SessionAdapter):
    """A `/v2/listen` stream: Flux's messages around a live session."""

    def __init__(self, session: ListenSession, options: FluxOptions) -> None:
        if session.params.output_channels != 1:
            raise ValueError("a Flux stream is one channel")
        endpointing_ms = session.config.endpointing_ms(session.params)
        if endpointing_ms is None:
            raise ValueError("a Flux stream's session needs endpointing")
        super().__init__(session)
        self.options = options
        self._turns = TurnTracker(options.thresholds, endpointing_s=endpointing_ms / 1000)
        self._keyterms = session.params.keyterms
        self._sequence = 0
        self._fatal: tuple[str, str] | None = None
        self.ignored_messages: list[str] = []
        """Unknown message types received, for the shell's log."""
        self.configured = 0

    # -- what the shell reads ---------------------------------------------------------------
    @property
    def turn_index(self) -> int:
        return self._turns.turn_index

    def opening(self) -> list[dict[str, Any]]:
        """Connected, then a Warning for each parameter accepted and ignored: the first messages."""
        messages = [out.connected(self.session_id, self._next())]
        for code, description in self.options.warnings:
            messages.append(out.warning(self.session_id, self._next(), code, description))
        return messages

    # -- inputs -------------------------------------------------------------------------------
    def receive_bytes(self, data: bytes, now: float) -> list[Action]:
        return self._translate(self.session.receive_bytes(data, now), now)

    def receive_text(self, text: str, now: float) -> list[Action]:
        if self.session.closed:
            return []
        try:
            message = parse_client_message(text)
        except ProtocolError as error:
            return self._translate(self.session.fail(error.code, error.reason, now), now)
        match message:
            case CloseStream():
                return self._translate(self.session.end_stream(now), now)
            case ForceEndTurn():
                forced = self._turns.force_end(self._clock, segment_open=self.session.segment_open)
                return [*self._outputs(forced, now), *self._advance(now)]
            case KeepAlive():
                return self._translate(self.session.receive_text(_KEEP_ALIVE, now), now)
            case Configure():
                return self._configure(message, now)
            case UnknownMessage(type=kind):
                self.ignored_messages.append(kind)
                description = f"unknown message type {kind!r}; expected CloseStream, ForceEndTurn or Configure"
                return [self._reply(out.warning(self.session_id, self._next(), "UNKNOWN_MESSAGE_TYPE", description))]

    def receive_result(self, result: JobResult, now: float) -> list[Action]:
        return self._translate(self.session.receive_result(result, now), now)

    def tick(self, now: float) -> list[Action]:
        return self._translate(self.session.tick(now), now)

    def shutdown(self, now: float) -> list[Action]:
        return self._translate(self.session.shutdown(now), now)

    def disconnected(self, now: float) -> list[Action]:
        return self._translate(self.session.disconnected(now), now)

    # -- internals -------------------------------------------------------------------------------
    @property
    def _clock(self) -> float:
        return self.session.audio_seconds

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence - 1

    def _reply(self, payload: dict[str, Any]) -> Reply:
        return Reply(payload)

    def _configure(self, message: Configure, now: float) -> list[Action]:
        try:
            thresholds = self._turns.thresholds.changed(message.thresholds)
        except ThresholdError as error:
            failure = out.configure_failure(self.session_id, self._next(), "INVALID_THRESHOLD", str(error))
            return [self._reply(failure)]
        self.configured += 1
        self._turns.thresholds = thresholds
        if message.keyterms is not None:
            self._keyterms = message.keyterms
            self.session.set_keyterms(message.keyterms)
        success = out.configure_success(self.session_id, self._next(), thresholds.as_dict(), self._keyterms)
        actions: list[Action] = [self._reply(success)]
        for name in message.ignored:
            description = f"Configure: {name} is accepted and ignored by this server"
            warning = out.warning(self.session_id, self._next(), "UNSUPPORTED_PARAMETER", description)
            actions.append(self._reply(warning))
        return [*actions, *self._advance(now)]

    def _translate(self, actions: list[Action], now: float) -> list[Action]:
        """The session's actions with Flux's messages among them; then the turn decisions now due."""
        translated: list[Action] = []
        clock = self._clock
        for action in actions:
            match action:
                case SendMessage(event=SpeechStartedEvent(timestamp=timestamp)):
                    translated.extend(self._outputs(self._turns.speech_started(timestamp, clock), now))
                case (
                    SendMessage(event=TranscriptEvent(is_final=True) as event)
                    | Notice(event=TranscriptEvent(is_final=True) as event)
                ):  # a Notice: a segment that ended without words
                    translated.extend(self._outputs(self._turns.final(event, clock), now))
                case SendMessage(event=TranscriptEvent() as event):
                    translated.extend(self._outputs(self._turns.interim(event, clock), now))
                case Notice(event=SpeculativeFinalEvent() as event):
                    translated.extend(self._outputs(self._turns.speculative(event, clock), now))
                case Notice(event=SpeculationAbandonedEvent()):
                    translated.extend(self._outputs(self._turns.abandoned(clock), now))
                case SendMessage(event=ErrorEvent(code="TRANSCRIPTION_FAILED", description=description)):
                    warning = out.warning(self.session_id, self._next(), "TRANSCRIPTION_FAILED", description)
                    translated.append(self._reply(warning))
                case SendMessage(event=ErrorEvent(code=code, description=description)):
                    self._fatal = self._fatal or (code, description)
                case FinishSession():
                    translated.extend(self._outputs(self._turns.finish(clock), now))
                    action = self._named(action)
                case CloseSocket(code=code, reason=reason):
                    translated.extend(self._closing_error(code, reason))
            if not isinstance(action, Notice):
                translated.append(action)
        if not self.session.closed:
            translated.extend(self._advance(now))
        return translated

    def _advance(self, now: float) -> list[Action]:
        session = self.session
        if session.closed:
            return []
        outputs = self._turns.advance(self._clock, segment_open=session.segment_open, finals_owed=session.finals_owed)
        return self._outputs(outputs, now)

    def _outputs(self, outputs: list[TurnOutput], now: float) -> list[Action]:
        actions: list[Action] = []
        for output in outputs:
            if isinstance(output, FinalizeRequest):
                actions.extend(self._translate(self.session.finalize(now), now))
            else:
                actions.append(self._reply(self._turn_info(output)))
        return actions

    def _turn_info(self, turn: TurnEvent) -> dict[str, Any]:
        return out.turn_info(
            request_id=self.session_id,
            sequence_id=self._next(),
            event=turn.event,
            turn_index=turn.turn_index,
            window=turn.window,
            words=turn.words,
            confidence=turn.confidence,
            trigger=turn.trigger,
        )

    def _closing_error(self, code: int, reason: str) -> list[Action]:
        """Flux's Error for a session that ends badly: the session's own error, or the close's reason."""
        if self._fatal is not None:
            variant, description = self._fatal
            name = error_code(code) if variant == "BAD_REQUEST" else variant
            return [self._reply(out.error(self._next(), name, description))]
        if code in _QUIET_CLOSES:
            return []
        return [self._reply(out.error(self._next(), error_code(code), reason))]

    def _named(self, action: FinishSession) -> FinishSession:
        """The archive document says the protocol and the stream's Flux settings."""
        options = self.options
        flux = {
            "model": options.model,
            "tags": list(options.tags),
            "mip_opt_out": options.mip_opt_out,
            "thresholds": self._turns.thresholds.as_dict(),
            "keyterms": list(self._keyterms),
            "turns": self._turns.turn_index,
            "configured": self.configured,
            "ignored_messages": sorted(set(self.ignored_messages)),
        }
        return FinishSession(action.metadata, {**action.document, "source": "flux", "flux": flux})
