"""The live session driven as the shell drives it: a harness that sends audio and
text at real-time pace and answers jobs, and helpers that read the actions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from streaming.actions import Action, CloseSocket, FinishSession, SendMessage, SubmitJob
from streaming.codecs import ALAW_TABLE, MULAW_TABLE, Encoding, Int16Array
from streaming.config import SessionConfig
from streaming.jobs import Job, JobKind, JobResult, Word
from streaming.protocol import ModelInfo, parse_listen_params
from streaming.session import ListenSession
from tests.unit.configs import session_config

MODEL = ModelInfo(name="general", version="test", arch="whisper-tiny", uuid="model-uuid-1")
FRAME = 320  # 20 ms at 16 kHz


class EnergyDetector:
    """Voiced when the frame's RMS is above a threshold."""

    def __init__(self, threshold: float = 500.0) -> None:
        self.threshold = threshold

    @property
    def frame_samples(self) -> int:
        return FRAME

    def is_speech(self, frame: Int16Array) -> bool:
        return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > self.threshold


class ScriptedDetector:
    """Voiced according to a per-frame script (False past its end)."""

    def __init__(self, pattern: Sequence[bool]) -> None:
        self.pattern = list(pattern)
        self.calls = 0

    @property
    def frame_samples(self) -> int:
        return FRAME

    def is_speech(self, frame: Int16Array) -> bool:
        verdict = self.pattern[self.calls] if self.calls < len(self.pattern) else False
        self.calls += 1
        return verdict


# -- audio -------------------------------------------------------------------------


def speech(seconds: float, rate: int = 16_000, seed: int = 0) -> Int16Array:
    """Loud noise: 'speech' to the energy detector."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 3000, round(seconds * rate)), -32768, 32767).astype(np.int16)


def silence(seconds: float, rate: int = 16_000) -> Int16Array:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def track(*parts: tuple[str, float], rate: int = 16_000) -> Int16Array:
    pieces = [speech(s, rate, seed=i) if kind == "speech" else silence(s, rate) for i, (kind, s) in enumerate(parts)]
    return np.concatenate(pieces)


def g711_encode(samples: Int16Array, table: Int16Array) -> bytes:
    """Nearest code for each sample (a reference-free encoder built on the decode table)."""
    order = np.argsort(table, kind="stable")
    values = table[order].astype(np.int32)
    x = samples.astype(np.int32)
    hi = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    lo = hi - 1
    best = np.where(np.abs(values[hi] - x) < np.abs(values[lo] - x), hi, lo)
    return order[best].astype(np.uint8).tobytes()


# -- harness -----------------------------------------------------------------------


class Harness:
    def __init__(
        self,
        query: Iterable[tuple[str, str]] = (),
        config: SessionConfig | None = None,
        detectors: Sequence[Any] | None = None,
    ) -> None:
        self.params = parse_listen_params(list(query))
        queue = list(detectors) if detectors is not None else None

        def factory() -> Any:
            return queue.pop(0) if queue is not None else EnergyDetector()

        self.session = ListenSession(
            session_id="sess-1",
            params=self.params,
            model=MODEL,
            detector_factory=factory,
            # The expected segment times in these tests assume a 500 ms endpoint.
            config=config or session_config(default_endpointing_ms=500),
            reply_to="gateway-7",
            created="2024-05-01T00:00:00Z",
            now=0.0,
        )
        self.now = 0.0
        self.sent = bytearray()
        self.log: list[Action] = []

    # inputs
    def encode(self, samples: Int16Array) -> bytes:
        if self.params.encoding is Encoding.MULAW:
            return g711_encode(samples.reshape(-1), MULAW_TABLE)
        if self.params.encoding is Encoding.ALAW:
            return g711_encode(samples.reshape(-1), ALAW_TABLE)
        return samples.astype("<i2").tobytes()

    def send_bytes(self, data: bytes, seconds: float = 0.0) -> list[Action]:
        self.now = round(self.now + seconds, 9)
        self.sent += data
        actions = self.session.receive_bytes(data, self.now)
        self.log.extend(actions)
        return actions

    def send(self, samples: Int16Array, chunk_bytes: int | None = None) -> list[Action]:
        """Send (samples,) or (samples, channels) audio at real-time pace."""
        data = self.encode(samples)
        bytes_per_second = len(data) / max(1, len(samples)) * self.params.sample_rate
        if chunk_bytes is None:
            chunk_bytes = round(bytes_per_second * 0.02)
        actions: list[Action] = []
        for offset in range(0, len(data), chunk_bytes):
            piece = data[offset : offset + chunk_bytes]
            actions.extend(self.send_bytes(piece, len(piece) / bytes_per_second))
        return actions

    def text(self, text: str) -> list[Action]:
        actions = self.session.receive_text(text, self.now)
        self.log.extend(actions)
        return actions

    def answer(
        self,
        job: Job,
        texts: Sequence[str] | None = None,
        *,
        error: str | None = None,
        revision: int | None = None,
        words: Sequence[Word] | None = None,
        withheld: bool = False,
    ) -> list[Action]:
        if words is None:
            words = words_for(job, texts if texts is not None else [f"w{job.seq}"])
        result = JobResult(
            session_id=job.session_id,
            channel=job.channel,
            seq=job.seq,
            kind=job.kind,
            revision=job.revision if revision is None else revision,
            words=() if withheld else tuple(words),
            error=error,
            withheld=withheld,
        )
        actions = self.session.receive_result(result, self.now)
        self.log.extend(actions)
        return actions

    def tick(self, now: float) -> list[Action]:
        self.now = now
        actions = self.session.tick(now)
        self.log.extend(actions)
        return actions


def words_for(job: Job, texts: Sequence[str]) -> list[Word]:
    """Words spread over the job's audio, on the stream clock."""
    if not texts:
        return []
    step = job.duration / (len(texts) + 1)
    return [Word(t, job.start + step * (i + 0.5), job.start + step * (i + 1), 0.9) for i, t in enumerate(texts)]


def jobs(actions: Iterable[Action], kind: JobKind | None = None) -> list[Job]:
    return [a.job for a in actions if isinstance(a, SubmitJob) and (kind is None or a.job.kind is kind)]


def finals(actions: Iterable[Action]) -> list[Job]:
    return jobs(actions, JobKind.FINAL)


def interims(actions: Iterable[Action]) -> list[Job]:
    return jobs(actions, JobKind.INTERIM)


def payload(action: Action) -> dict[str, Any] | None:
    """What the client receives for this action (Metadata: without the shell's archive outcome)."""
    if isinstance(action, SendMessage):
        return action.payload
    return action.metadata if isinstance(action, FinishSession) else None


def messages(actions: Iterable[Action], type_: str | None = None) -> list[dict[str, Any]]:
    sent = (payload(a) for a in actions)
    return [m for m in sent if m is not None and (type_ is None or m["type"] == type_)]


def results(actions: Iterable[Action]) -> list[dict[str, Any]]:
    return messages(actions, "Results")


def transcript(message: dict[str, Any]) -> str:
    text: str = message["channel"]["alternatives"][0]["transcript"]
    return text


def kinds(actions: Iterable[Action]) -> list[str]:
    """A compact trace: message types, 'Job:kind', 'Close:code' (RecordAudio left out)."""
    out: list[str] = []
    for action in actions:
        if (message := payload(action)) is not None:
            out.append(message["type"])
        elif isinstance(action, SubmitJob):
            out.append(f"Job:{action.job.kind.value}")
        elif isinstance(action, CloseSocket):
            out.append(f"Close:{action.code}")
    return out


UTTERANCE = (("silence", 1.0), ("speech", 1.0), ("silence", 1.0))


def three_utterances(h: Harness) -> list[Job]:
    parts = [("silence", 0.5), ("speech", 0.6), ("silence", 0.8)] * 3
    jobs_ = finals(h.send(track(*parts)))
    assert [j.seq for j in jobs_] == [1, 2, 3]
    return jobs_
