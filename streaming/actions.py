"""What a live session asks its I/O shell to do.

`ListenSession` never touches a socket, a queue or a disk: each of its inputs
returns a list of these actions, and the shell (server/http/live.py) carries them
out in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.codecs import Int16Array
from streaming.events import LiveEvent
from streaming.jobs import Job


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send this JSON message to the client."""

    payload: dict[str, Any]
    """The message of Deepgram's /v1/listen protocol (or of an adapter's own protocol)."""
    end_of_turn_s: float | None = None
    """For a final: seconds from its segment's close to now, for the shell's
    end-of-turn metric (the shell cannot see the close itself: a speculative
    final's job went out before it)."""
    final: bool = False
    """A final result (what webhooks receive); everything else is False."""
    event: LiveEvent | None = None
    """What the message says, typed (streaming.events), for adapters of other
    protocols to read instead of `payload`; set on every message a session
    sends. None: a message of an adapter's own protocol."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A typed event that has no message of its own in /v1/listen, for adapters
    of other protocols: a final without words (a segment that held no speech, or
    whose transcription failed), which closes a turn there; a segment's end; a
    speculative final's reading, or its abandonment. The /v1/listen shell
    ignores it."""

    event: LiveEvent


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this message on the client's socket only: an adapter's own protocol
    (streaming.realtime) answering in its own words. Subscribers and webhooks
    get the session's SendMessage payloads instead."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Queue this transcription job for the workers."""

    job: Job


@dataclass(frozen=True, slots=True)
class WithdrawJob:
    """A job submitted earlier is no longer wanted (an abandoned speculative
    final): its result, if one still comes, is ignored. The shell must stop
    tracking it (not wait for it, not send it again after a queue outage) and
    may drop it if no worker has started it."""

    job: Job


@dataclass(frozen=True, slots=True)
class RecordAudio:
    """16 kHz audio of every output channel, shape (samples, channels)."""

    samples: Int16Array = field(repr=False)


@dataclass(frozen=True, slots=True)
class FinishSession:
    """The session is over and every final it owes has been sent. The shell
    closes the session's recording with `document` (its archive document,
    streaming.archive_document), then sends `metadata` (the Metadata message)
    with the archive's outcome added under "archive". A CloseSocket follows."""

    metadata: dict[str, Any]
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close the WebSocket with this code and reason; always the last action."""

    code: int
    reason: str


Action = SendMessage | Notice | Reply | SubmitJob | WithdrawJob | RecordAudio | FinishSession | CloseSocket
