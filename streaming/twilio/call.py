"""One Twilio Media Stream as a live session, sans I/O.

`TwilioCall` wraps a `ListenSession` whose parameters say G.711 at 8 kHz, one
channel per track, multichannel: Twilio's JSON messages become that session's
input, and the session's actions come back unchanged except that the archive
document and the Metadata message also name the call. The shell
(server/http/twilio.py) drives it like any `streaming.core.LiveCore`; it
never sends the session's messages to Twilio (Twilio does not read them):
they go to the call's subscribers and webhooks.

What the messages do:
- `media`: placed on the call clock by its timestamp (streaming.twilio.tracks);
  a gap or a late track is silence, so result times are call time;
- `dtmf`: a `Dtmf` message at the call time it came (redacted when the
  session redacts: keypad digits are what callers type card numbers with);
- `mark`, `connected`, unknown events: nothing;
- `stop`: the rest of the audio, then the session drains and closes (1000);
- a second `start`, media of a track `start` did not announce, a timestamp
  jump beyond the clock's bound, any binary frame: an error and a close.
"""

from __future__ import annotations

from typing import Any

from streaming.actions import Action, FinishSession, SendMessage
from streaming.archive_document import dialogue
from streaming.core import SessionAdapter
from streaming.events import DtmfEvent
from streaming.jobs import JobResult
from streaming.protocol import CloseCode, ProtocolError
from streaming.redaction import redaction_marker
from streaming.session import ListenSession
from streaming.twilio.messages import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
    parse_twilio_message,
)
from streaming.twilio.tracks import SILENCE, CallClock, TimestampJump

TRACK_NAMES = ("inbound", "outbound")


def dtmf_message(channel: int, channels: int, timestamp: float, digit: str) -> dict[str, Any]:
    """A keypad press on a call, in the style of the other event messages."""
    return {"type": "Dtmf", "channel": [channel, channels], "timestamp": round(timestamp, 3), "digit": digit}


class TwilioCall(SessionAdapter):
    """A Twilio Media Stream after its `start`: the call's clock and its session."""

    def __init__(self, start: Start, session: ListenSession, *, max_skew_ms: int = 500) -> None:
        if session.params.output_channels != len(start.tracks):
            raise ValueError("the session needs one output channel per track")
        super().__init__(session)
        self.start = start
        self._channel_of = {track: index for index, track in enumerate(start.tracks)}
        self._clock = CallClock(
            len(start.tracks),
            sample_rate=start.sample_rate,
            silence=SILENCE[start.encoding.value],
            max_skew_ms=max_skew_ms,
        )
        self.ignored_events: list[str] = []
        """Unknown events received (names), for the shell's log."""
        self.marks = 0

    # -- what the shell reads -------------------------------------------------
    @property
    def filled_seconds(self) -> float:
        """Silence the call clock inserted for gaps and late tracks, all tracks together."""
        return self._clock.filled_samples / self.start.sample_rate

    # -- inputs ---------------------------------------------------------------
    def receive_bytes(self, data: bytes, now: float) -> list[Action]:
        reason = "Twilio Media Streams send JSON text messages; binary frames are not part of the protocol"
        return self._wrap(self.session.fail(CloseCode.UNSUPPORTED_DATA, reason, now))

    def receive_text(self, text: str, now: float) -> list[Action]:
        if self.session.closed:
            return []
        try:
            message = parse_twilio_message(text)
        except ProtocolError as error:
            return self._wrap(self.session.fail(error.code, error.reason, now))
        match message:
            case Media():
                return self._wrap(self._media(message, now))
            case Dtmf(track=track, digit=digit):
                channel = self._channel_of.get(track, 0)
                pressed = DtmfEvent(
                    channel, self._clock.latest_seconds, redaction_marker(self.session.params.redact) or digit
                )
                payload = dtmf_message(channel, len(self.start.tracks), pressed.timestamp, pressed.digit)
                return [SendMessage(payload, event=pressed)]
            case Stop():
                actions = self.session.receive_bytes(self._clock.flush(), now)
                return self._wrap([*actions, *self.session.end_stream(now)])
            case Start():
                return self._wrap(self.session.fail(CloseCode.POLICY_VIOLATION, "a second start message", now))
            case Mark():
                self.marks += 1
                return []
            case Connected():
                return []
            case UnknownEvent(event=event):
                self.ignored_events.append(event)
                return []

    def receive_result(self, result: JobResult, now: float) -> list[Action]:
        return self._wrap(self.session.receive_result(result, now))

    def tick(self, now: float) -> list[Action]:
        return self._wrap(self.session.tick(now))

    def shutdown(self, now: float) -> list[Action]:
        return self._wrap(self.session.receive_bytes(self._clock.flush(), now) + self.session.shutdown(now))

    def disconnected(self, now: float) -> list[Action]:
        """The socket closed without `stop`: the audio received is still transcribed and archived."""
        return self._wrap(self.session.receive_bytes(self._clock.flush(), now) + self.session.disconnected(now))

    # -- internals ------------------------------------------------------------
    def _media(self, media: Media, now: float) -> list[Action]:
        channel = self._channel_of.get(media.track)
        if channel is None:
            reason = f"media of the {TRACK_NAMES[media.track]} track, which start did not announce"
            return self.session.fail(CloseCode.INVALID_DATA, reason, now)
        try:
            audio = self._clock.push(channel, media.timestamp_ms, media.payload)
        except TimestampJump as jump:
            return self.session.fail(CloseCode.INVALID_DATA, str(jump), now)
        return self.session.receive_bytes(audio, now) if audio else []

    def _wrap(self, actions: list[Action]) -> list[Action]:
        """The session's actions, its archive document and Metadata naming the call."""
        return [self._named(action) if isinstance(action, FinishSession) else action for action in actions]

    def _named(self, action: FinishSession) -> FinishSession:
        start = self.start
        call = {
            "callSid": start.call_sid,
            "streamSid": start.stream_sid,
            "accountSid": start.account_sid,
            "tracks": [TRACK_NAMES[track] for track in start.tracks],
            "filled_seconds": round(self.filled_seconds, 3),
            "late_seconds": round(self._clock.late_bytes / start.sample_rate, 3),
        }
        document = {**action.document, "source": "twilio", "twilio": call}
        names = [TRACK_NAMES[track] for track in start.tracks]
        document["dialogue"] = dialogue(document["results"], names)
        return FinishSession({**action.metadata, "callSid": start.call_sid, "streamSid": start.stream_sid}, document)
