"""An OpenAI Realtime transcription session driven as the shell drives it: client
events in (audio at real-time pace, base64 in `input_audio_buffer.append`),
jobs answered, and the server events that go on the socket read back."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import soxr

from streaming.actions import Action, Reply, SendMessage, SubmitJob
from streaming.codecs import ALAW_TABLE, MULAW_TABLE, Int16Array
from streaming.config import SessionConfig
from streaming.jobs import Job, JobKind, JobResult
from streaming.protocol import ListenParams
from streaming.realtime.session import RealtimeTranscription
from streaming.session import ListenSession
from tests.unit.configs import session_config
from tests.unit.session_harness import MODEL, EnergyDetector, g711_encode, words_for

RATES = {"pcm16": 24_000, "g711_ulaw": 8_000, "g711_alaw": 8_000}


def encode(samples: Int16Array, audio_format: str) -> bytes:
    """16 kHz samples in the session's wire format."""
    rate = RATES[audio_format]
    floats = soxr.resample(samples.astype(np.float32) / 32768, 16_000, rate)
    wire = np.clip(np.rint(floats * 32768), -32768, 32767).astype(np.int16)
    if audio_format == "g711_ulaw":
        return g711_encode(wire, MULAW_TABLE)
    if audio_format == "g711_alaw":
        return g711_encode(wire, ALAW_TABLE)
    return wire.astype("<i2").tobytes()


class Realtime:
    def __init__(self, *, beta: bool = False, config: SessionConfig | None = None, base: ListenParams | None = None):
        self.now = 0.0
        self.made: list[ListenParams] = []
        self.log: list[Action] = []
        self.format = "pcm16"

        def new_session(params: ListenParams) -> ListenSession:
            self.made.append(params)
            return ListenSession(
                session_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                params=params,
                model=MODEL,
                detector_factory=EnergyDetector,
                config=config or session_config(default_endpointing_ms=500),
                reply_to="gateway-7",
                created="2024-05-01T00:00:00Z",
                now=self.now,
            )

        self.core = RealtimeTranscription(
            new_session=new_session, base=base or ListenParams(), beta=beta, created_at=1_700_000_000.0
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every server event sent so far (after `session.created`)."""
        return replies(self.log)

    def _keep(self, actions: list[Action]) -> list[Action]:
        self.log.extend(actions)
        return actions

    def send(self, event: dict[str, Any] | str) -> list[Action]:
        text = event if isinstance(event, str) else json.dumps(event)
        return self._keep(self.core.receive_text(text, self.now))

    def update(self, session: dict[str, Any], *, beta: bool = False) -> list[dict[str, Any]]:
        kind = "transcription_session.update" if beta else "session.update"
        return replies(self.send({"type": kind, "session": session}))

    def append(self, samples: Int16Array, *, chunk_s: float = 0.02) -> list[Action]:
        """16 kHz samples, sent in the session's format at real-time pace."""
        actions: list[Action] = []
        step = round(16_000 * chunk_s)
        for offset in range(0, len(samples), step):
            piece = samples[offset : offset + step]
            self.now = round(self.now + len(piece) / 16_000, 9)
            audio = base64.b64encode(encode(piece, self.format)).decode()
            actions.extend(self.send({"type": "input_audio_buffer.append", "audio": audio}))
        return actions

    def answer(self, job: Job, texts: Sequence[str], *, error: str | None = None) -> list[Action]:
        words = words_for(job, texts) if error is None else []
        result = JobResult(job.session_id, job.channel, job.seq, job.kind, job.revision, tuple(words), error=error)
        return self._keep(self.core.receive_result(result, self.now))

    def tick(self, now: float) -> list[Action]:
        self.now = now
        return self._keep(self.core.tick(now))


def replies(actions: list[Action]) -> list[dict[str, Any]]:
    return [action.payload for action in actions if isinstance(action, Reply)]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def jobs(actions: list[Action], kind: JobKind) -> list[Job]:
    return [a.job for a in actions if isinstance(a, SubmitJob) and a.job.kind is kind]


def session_messages(actions: list[Action]) -> list[dict[str, Any]]:
    """What subscribers and webhooks get: the wrapped session's own messages."""
    return [a.payload for a in actions if isinstance(a, SendMessage)]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]
