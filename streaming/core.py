"""What the live socket's shell drives: a session core, sans I/O.

`ListenSession` (Deepgram's /v1/listen) is one; protocol adapters such as
`streaming.twilio.call.TwilioCall` wrap it and speak another protocol on the
same shell. The shell's duties are the same for all: hand every socket frame,
job result and tick to the core with the current monotonic time, carry out
the returned actions (streaming.actions) in order, hold client input while
`accepts_input` is False, and stop once `closed`.
"""

from __future__ import annotations

from typing import Protocol

from streaming.actions import Action
from streaming.jobs import JobResult
from streaming.pacing import WorkerLoad
from streaming.protocol import ListenParams
from streaming.session import ListenSession
from streaming.speculative import SpeculativeStats


class LiveCore(Protocol):
    @property
    def session_id(self) -> str: ...

    @property
    def params(self) -> ListenParams: ...

    @property
    def audio_seconds(self) -> float: ...

    @property
    def speculative(self) -> SpeculativeStats: ...

    @property
    def accepts_input(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def observe_load(self, load: WorkerLoad, now: float) -> None: ...

    def receive_bytes(self, data: bytes, now: float) -> list[Action]: ...

    def receive_text(self, text: str, now: float) -> list[Action]: ...

    def receive_result(self, result: JobResult, now: float) -> list[Action]: ...

    def tick(self, now: float) -> list[Action]: ...

    def shutdown(self, now: float) -> list[Action]: ...

    def disconnected(self, now: float) -> list[Action]: ...


class SessionAdapter:
    """Base of the cores that speak another protocol over a `ListenSession`
    (streaming.twilio, streaming.flux, streaming.realtime): what the shell reads
    is the wrapped session's. Subclasses translate the inputs and the actions."""

    def __init__(self, session: ListenSession) -> None:
        self.session = session

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @property
    def params(self) -> ListenParams:
        return self.session.params

    @property
    def audio_seconds(self) -> float:
        return self.session.audio_seconds

    @property
    def speculative(self) -> SpeculativeStats:
        return self.session.speculative

    @property
    def accepts_input(self) -> bool:
        return self.session.accepts_input

    @property
    def closed(self) -> bool:
        return self.session.closed

    def observe_load(self, load: WorkerLoad, now: float) -> None:
        self.session.observe_load(load, now)
