"""streaming.session: the sans-I/O live session, driven with arrays and hand-made results."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.actions import Action, CloseSocket, FinishSession, RecordAudio, SendMessage, SubmitJob
from streaming.codecs import ALAW_TABLE, MULAW_TABLE, Encoding, Int16Array
from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word
from streaming.protocol import CloseCode, ModelInfo, parse_listen_params
from streaming.resample import StreamResampler
from streaming.session import ListenSession, SessionConfig, State
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
    ) -> list[Action]:
        if words is None:
            words = words_for(job, texts if texts is not None else [f"w{job.seq}"])
        result = JobResult(
            session_id=job.session_id,
            channel=job.channel,
            seq=job.seq,
            kind=job.kind,
            revision=job.revision if revision is None else revision,
            words=tuple(words),
            error=error,
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


# -- one utterance -----------------------------------------------------------------


def test_endpointed_utterance_gives_one_final_job_and_speech_final_result() -> None:
    h = Harness()
    actions = h.send(track(*UTTERANCE))
    assert kinds(actions) == ["Job:final"]
    (job,) = finals(actions)
    assert job.session_id == "sess-1"
    assert job.reply_to == "gateway-7"
    assert (job.channel, job.seq, job.kind) == (0, 1, JobKind.FINAL)
    # 250 ms of pre-roll (12 frames of 20 ms) before the speech at 1.0 s; 500 ms endpoint after 2.0 s
    assert job.start == pytest.approx(0.76)
    assert job.duration == pytest.approx(2.5 - 0.76)
    assert job.audio.dtype == np.int16
    assert np.array_equal(job.audio, track(*UTTERANCE)[round(0.76 * 16000) : 40000])

    out = h.answer(job, ["Hello,", "world."])
    assert kinds(out) == ["Results"]
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["speech_final"] is True
    assert message["from_finalize"] is False
    assert message["channel_index"] == [0, 1]
    assert message["start"] == pytest.approx(0.76)
    assert message["duration"] == pytest.approx(1.74)
    assert transcript(message) == "Hello, world."
    assert [w["word"] for w in message["channel"]["alternatives"][0]["words"]] == ["hello", "world"]
    assert message["metadata"]["request_id"] == "sess-1"
    assert h.session.finals == [message]


def test_silence_only_gives_nothing() -> None:
    h = Harness()
    actions = h.send(silence(3.0))
    assert kinds(actions) == []
    assert sum(len(a.samples) for a in actions if isinstance(a, RecordAudio)) == 48_000


def test_job_options_come_from_params() -> None:
    h = Harness([("language", "de-DE"), ("keyterm", "Kubernetes"), ("keywords", "Redis:3"), ("model", "base")])
    (job,) = finals(h.send(track(*UTTERANCE)))
    assert job.options == TranscribeOptions(language="de", hotwords=("Kubernetes", "Redis"), model="base")


def test_revisions_increase_across_jobs() -> None:
    h = Harness([("interim_results", "true")])
    h.send(track(*UTTERANCE, *UTTERANCE))
    revisions = [j.revision for j in jobs(h.log)]
    assert len(revisions) >= 3
    assert revisions == sorted(set(revisions))


# -- finals ------------------------------------------------------------------------


def three_utterances(h: Harness) -> list[Job]:
    parts = [("silence", 0.5), ("speech", 0.6), ("silence", 0.8)] * 3
    jobs_ = finals(h.send(track(*parts)))
    assert [j.seq for j in jobs_] == [1, 2, 3]
    return jobs_


def test_finals_are_sent_in_segment_order_when_results_arrive_out_of_order() -> None:
    h = Harness()
    one, two, three = three_utterances(h)
    assert h.answer(three, ["three"]) == []
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, ["one"])
    assert [transcript(m) for m in results(out)] == ["one", "two", "three"]
    starts = [m["start"] for m in results(out)]
    assert starts == sorted(starts)
    assert all(m["is_final"] and m["speech_final"] for m in results(out))


def test_redelivered_final_is_ignored() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(two, ["two"]) == []
    assert h.answer(two, ["two again"]) == []  # redelivered before release
    out = h.answer(one, ["one"])
    assert [transcript(m) for m in results(out)] == ["one", "two"]
    assert h.answer(one, ["one again"]) == []  # redelivered after release
    assert h.answer(two, ["two a third time"]) == []
    assert len(h.session.finals) == 2


def test_result_for_unknown_seq_or_channel_is_ignored() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    bogus = JobResult("sess-1", 0, 7, JobKind.FINAL, 99, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(bogus, h.now) == []
    other_channel = JobResult("sess-1", 3, 1, JobKind.FINAL, job.revision, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(other_channel, h.now) == []
    negative = JobResult("sess-1", -1, 1, JobKind.FINAL, job.revision, (Word("x", 0, 1, 1),))
    assert h.session.receive_result(negative, h.now) == []
    assert len(results(h.answer(job))) == 1


def test_final_without_words_sends_nothing_but_does_not_block() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(one, []) == []
    assert [transcript(m) for m in results(h.answer(two, ["two"]))] == ["two"]


def test_failed_final_reports_error_and_keeps_order() -> None:
    h = Harness()
    one, two, _ = three_utterances(h)
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, [], error="model crashed")
    assert kinds(out) == ["Error", "Results"]
    error = messages(out, "Error")[0]
    assert error["description"] == "model crashed"
    assert error["variant"] == "TRANSCRIPTION_FAILED"
    assert transcript(results(out)[0]) == "two"
    assert h.session.errors == ["model crashed"]


def test_short_blip_is_dropped_without_a_job_and_does_not_block() -> None:
    h = Harness()
    # 160 ms of speech opens a segment (>= 120 ms) but is below min_speech_ms (200 ms)
    actions = h.send(track(("silence", 0.5), ("speech", 0.16), ("silence", 1.0), ("speech", 1.0), ("silence", 1.0)))
    (job,) = finals(actions)
    assert job.seq == 2
    out = h.answer(job, ["real"])
    assert [transcript(m) for m in results(out)] == ["real"]


def test_max_length_cut_is_final_but_not_speech_final() -> None:
    h = Harness(config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 5.0), ("silence", 1.0)))
    jobs_ = finals(actions)
    assert len(jobs_) >= 3
    assert all(j.duration <= 2.0 + 1e-9 for j in jobs_)
    # consecutive pieces of one utterance touch: nothing is lost at the cuts
    for a, b in itertools.pairwise(jobs_):
        assert b.start == pytest.approx(a.start + a.duration)
    out: list[Action] = []
    for job in jobs_:
        out += h.answer(job)
    finals_ = results(out)
    assert len(finals_) == len(jobs_)
    assert [m["speech_final"] for m in finals_] == [False] * (len(jobs_) - 1) + [True]
    assert all(m["is_final"] and not m["from_finalize"] for m in finals_)


# -- interim results ----------------------------------------------------------------


def open_segment_with_interim(h: Harness, seconds: float = 2.0) -> Job:
    actions = h.send(track(("silence", 0.5), ("speech", seconds)))
    (job,) = interims(actions)
    return job


def test_no_interim_jobs_without_interim_results() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 3.0)))
    assert jobs(h.log) == []


def test_at_most_one_interim_job_in_flight() -> None:
    h = Harness([("interim_results", "true")])
    job = open_segment_with_interim(h, seconds=5.0)  # five seconds, still one job
    assert job.kind is JobKind.INTERIM
    assert job.seq == 1
    assert job.start == pytest.approx(0.26)
    assert 0.5 <= job.duration < 0.6
    out = h.answer(job, ["hel"])
    assert kinds(out) == ["Results", "Job:interim"]  # the answer frees the slot at once
    message = results(out)[0]
    assert message["is_final"] is False
    assert message["speech_final"] is False
    assert message["start"] == pytest.approx(0.26)
    assert message["duration"] == pytest.approx(job.duration, abs=1e-3)
    assert transcript(message) == "hel"
    (second,) = interims(out)
    assert second.seq == 1
    assert second.duration == pytest.approx(5.5 - 0.26)
    assert second.revision > job.revision
    assert interims(h.send(speech(2.0, seed=9))) == []


def test_interims_wait_for_enough_new_audio() -> None:
    h = Harness([("interim_results", "true")])
    (job,) = interims(h.send(track(("silence", 0.5), ("speech", 0.3))))
    assert job.duration == pytest.approx(0.5)  # segment opened at 0.26 s; first interim at 0.5 s of audio
    assert interims(h.answer(job, ["a"])) == []  # only 40 ms more audio since
    assert interims(h.send(speech(0.44, seed=3))) == []  # 0.48 s more
    (more,) = interims(h.send(speech(0.04, seed=4)))  # due after the next 20 ms: 0.5 s more
    assert more.duration == pytest.approx(1.0)


def test_one_interim_in_flight_per_channel() -> None:
    h = Harness([("interim_results", "true"), ("channels", "2"), ("multichannel", "true")])
    stereo = np.stack([track(("silence", 0.5), ("speech", 4.0)), track(("silence", 1.0), ("speech", 3.5))], axis=1)
    actions = h.send(stereo)
    assert sorted(j.channel for j in interims(actions)) == [0, 1]


def test_interim_after_its_final_is_dropped() -> None:
    h = Harness([("interim_results", "true")])
    interim = open_segment_with_interim(h, seconds=1.0)
    (final,) = finals(h.send(silence(1.0)))
    assert final.seq == interim.seq
    assert h.answer(interim, ["late", "interim"]) == []
    out = h.answer(final, ["final"])
    assert kinds(out) == ["Results"]
    assert results(out)[0]["is_final"] is True


def test_interim_arriving_after_final_result_is_dropped() -> None:
    h = Harness([("interim_results", "true")])
    interim = open_segment_with_interim(h, seconds=1.0)
    (final,) = finals(h.send(silence(1.0)))
    h.answer(final, ["final"])
    assert h.answer(interim, ["late"]) == []


def test_older_interim_after_newer_is_dropped() -> None:
    h = Harness([("interim_results", "true")], config=session_config(interim_stall_s=1.0))
    old = open_segment_with_interim(h, seconds=1.0)
    # unanswered for over 1 s: a newer job may go out
    (new,) = interims(h.send(speech(1.2, seed=5)))
    assert new.revision > old.revision
    assert new.duration > old.duration
    out = h.answer(new, ["newer", "words"])
    assert [transcript(m) for m in results(out)] == ["newer words"]
    assert h.answer(old, ["older"]) == []
    # the same interim delivered twice is shown once
    assert results(h.answer(new, ["newer", "words"])) == []


def test_failed_interim_shows_nothing_but_frees_the_slot() -> None:
    h = Harness([("interim_results", "true")])
    job = open_segment_with_interim(h, seconds=2.0)
    out = h.answer(job, [], error="busy")
    assert results(out) == []
    assert len(interims(out)) == 1


def test_empty_first_interim_is_not_shown_but_a_later_empty_one_clears() -> None:
    h = Harness([("interim_results", "true")])
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    out = h.answer(first, [])
    assert results(out) == []
    (second,) = interims(out)
    h.send(speech(0.6, seed=2))
    out = h.answer(second, ["hi"])
    assert [transcript(m) for m in results(out)] == ["hi"]
    (third,) = interims(out)
    out = h.answer(third, [])
    assert [(transcript(m), m["is_final"]) for m in results(out)] == [("", False)]


def test_interim_words_are_stabilized() -> None:
    h = Harness([("interim_results", "true")])
    first = open_segment_with_interim(h, seconds=1.0)
    h.send(speech(0.6, seed=1))
    (second,) = interims(h.answer(first, ["hello", "word"]))
    h.send(speech(0.6, seed=2))
    out = h.answer(second, ["Hello,", "world", "again"])
    assert transcript(results(out)[0]) == "Hello, world again"
    (third,) = interims(out)
    out = h.answer(third, ["HELLO", "world", "again", "more"])
    # "Hello," was committed by two agreeing readings: later readings do not re-spell it
    (message,) = results(out)
    assert transcript(message) == "Hello, world again more"
    words = message["channel"]["alternatives"][0]["words"]
    assert [w["punctuated_word"] for w in words] == ["Hello,", "world", "again", "more"]
    expected = words_for(third, ["a", "b", "c", "d"])
    assert [w["start"] for w in words] == pytest.approx([w.start for w in expected], abs=1e-3)
    assert message["start"] == pytest.approx(third.start)


def test_forced_cut_opens_next_segment_for_interims() -> None:
    h = Harness([("interim_results", "true")], config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 1.0)))
    (first,) = interims(actions)
    actions = h.send(speech(1.5, seed=4))
    (final,) = finals(actions)
    assert final.seq == 1
    later = interims(actions)
    assert all(j.seq == 2 for j in later)
    assert h.answer(first, ["stale"]) == []


# -- Finalize ----------------------------------------------------------------------


def test_finalize_flushes_open_segment_with_from_finalize() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    actions = h.text('{"type": "Finalize"}')
    (job,) = finals(actions)
    assert job.duration == pytest.approx(1.5 - 0.26)
    out = h.answer(job, ["done"])
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["from_finalize"] is True
    assert message["speech_final"] is False
    assert transcript(message) == "done"
    assert h.session.state is State.ACTIVE


def test_finalize_with_nothing_open_sends_empty_from_finalize_final() -> None:
    h = Harness()
    h.send(silence(1.5))
    out = h.text('{"type": "Finalize"}')
    (message,) = results(out)
    assert message["is_final"] is True
    assert message["from_finalize"] is True
    assert message["speech_final"] is False
    assert transcript(message) == ""
    assert message["start"] == pytest.approx(1.5)
    assert message["duration"] == 0.0


def test_finalize_waits_for_pending_finals() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    assert h.text('{"type": "Finalize"}') == []
    out = h.answer(job, ["pending"])
    first, second = results(out)
    assert (transcript(first), first["speech_final"], first["from_finalize"]) == ("pending", True, False)
    assert (transcript(second), second["from_finalize"]) == ("", True)


def test_finalize_of_dropped_blip_still_answers() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 0.16)))
    out = h.text('{"type": "Finalize"}')
    assert finals(out) == []
    (message,) = results(out)
    assert message["from_finalize"] is True
    assert transcript(message) == ""


def test_speech_after_finalize_continues_normally() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (one,) = finals(h.text('{"type": "Finalize"}'))
    (two,) = finals(h.send(track(("speech", 1.0), ("silence", 1.0))))
    assert two.seq == 2
    assert two.start == pytest.approx(one.start + one.duration)
    out = h.answer(two, ["two"]) + h.answer(one, ["one"])
    assert [(transcript(m), m["from_finalize"], m["speech_final"]) for m in results(out)] == [
        ("one", True, False),
        ("two", False, True),
    ]


# -- closing -----------------------------------------------------------------------


def test_close_stream_sends_all_finals_then_metadata_then_closes() -> None:
    h = Harness()
    audio = track(*UTTERANCE, ("speech", 1.0))
    (one,) = finals(h.send(audio))
    actions = h.text('{"type": "CloseStream"}')
    (two,) = finals(actions)
    assert kinds(actions) == ["Job:final"]
    assert h.session.state is State.DRAINING
    assert h.answer(two, ["two"]) == []
    out = h.answer(one, ["one"])
    assert kinds(out) == ["Results", "Results", "Metadata", "Close:1000"]
    r1, r2 = results(out)
    assert (transcript(r1), r1["speech_final"]) == ("one", True)
    assert (transcript(r2), r2["speech_final"], r2["from_finalize"]) == ("two", False, False)
    metadata = messages(out, "Metadata")[0]
    assert metadata["request_id"] == "sess-1"
    assert metadata["duration"] == pytest.approx(4.0)
    assert metadata["channels"] == 1
    assert metadata["sha256"] == hashlib.sha256(bytes(h.sent)).hexdigest()
    assert metadata["created"] == "2024-05-01T00:00:00Z"
    assert metadata["models"] == ["model-uuid-1"]
    assert metadata["model_info"]["model-uuid-1"]["arch"] == "whisper-tiny"
    close = out[-1]
    assert close == CloseSocket(1000, "")
    assert h.session.closed
    assert h.session.close_code == 1000
    # nothing more after the close
    assert h.send(speech(0.5)) == []
    assert h.text('{"type": "KeepAlive"}') == []
    assert h.tick(h.now + 100) == []
    assert h.answer(two, ["again"]) == []


def test_close_stream_with_nothing_pending_closes_at_once() -> None:
    h = Harness()
    h.send(silence(1.0))
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["Metadata", "Close:1000"]


def test_close_stream_twice_is_harmless() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (job,) = finals(h.text('{"type": "CloseStream"}'))
    assert h.text('{"type": "CloseStream"}') == []
    assert h.text('{"type": "Finalize"}') == []
    assert kinds(h.answer(job)) == ["Results", "Metadata", "Close:1000"]


def test_transcript_document() -> None:
    h = Harness([("language", "en")])
    one, two, three = three_utterances(h)
    h.text('{"type": "CloseStream"}')
    for job, text in ((one, "one"), (two, ""), (three, "three")):
        h.answer(job, [text] if text else [])
    document = h.session.transcript_document()
    assert document["request_id"] == "sess-1"
    assert document["transcript"] == "one three"
    assert len(document["results"]) == 2
    assert document["close"] == {"code": 1000, "reason": ""}
    assert document["params"]["language"] == "en"
    assert document["errors"] == []


def test_audio_is_recorded_at_16k_including_resampler_tail() -> None:
    h = Harness([("sample_rate", "8000"), ("channels", "2"), ("multichannel", "true")])
    stereo = np.stack([speech(1.0, 8000, seed=1), silence(1.0, 8000)], axis=1)
    h.send(stereo)
    h.text('{"type": "CloseStream"}')
    recorded = [a.samples for a in h.log if isinstance(a, RecordAudio)]
    assert all(r.shape[1] == 2 and r.dtype == np.int16 for r in recorded)
    total = np.concatenate(recorded)
    assert abs(len(total) - 16_000) <= 1
    assert not total[:, 1].any()
    assert np.sqrt(np.mean(total[:, 0].astype(np.float64) ** 2)) == pytest.approx(3000, rel=0.1)


# -- events --------------------------------------------------------------------------


def test_speech_started_only_with_vad_events() -> None:
    h = Harness([("vad_events", "true")])
    actions = h.send(track(*UTTERANCE))
    assert kinds(actions) == ["SpeechStarted", "Job:final"]
    (started,) = messages(actions, "SpeechStarted")
    assert started == {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 1.0}
    # sent when the speech is detected: within 120 ms (6 voiced frames) of its start
    index = next(i for i, a in enumerate(h.log) if isinstance(a, SendMessage))
    audio_before = sum(len(a.samples) for a in h.log[:index] if isinstance(a, RecordAudio))
    assert audio_before / 16_000 == pytest.approx(1.12, abs=0.021)

    quiet = Harness([("vad_events", "false")])
    assert messages(quiet.send(track(*UTTERANCE)), "SpeechStarted") == []
    assert messages(Harness().send(track(*UTTERANCE)), "SpeechStarted") == []


def test_speech_started_is_not_repeated_after_a_forced_cut() -> None:
    h = Harness([("vad_events", "true")], config=session_config(max_segment_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 5.0), ("silence", 1.0)))
    assert len(messages(actions, "SpeechStarted")) == 1
    assert len(finals(actions)) >= 3


def test_utterance_end_after_the_gap() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6))))
    word = Word("hi", 1.0, 1.4, 0.9)
    out = h.answer(job, words=[word])
    assert kinds(out) == ["Results"]  # clock at 2.1 s: gap not over yet
    assert messages(h.send(silence(0.2)), "UtteranceEnd") == []  # 2.3 s
    out = h.send(silence(0.2))  # 2.5 s >= 1.4 + 1.0
    assert messages(out, "UtteranceEnd") == [{"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 1.4}]
    assert messages(h.send(silence(2.0)), "UtteranceEnd") == []  # once per utterance


def test_utterance_end_follows_a_late_final_at_once() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 2.0))))
    out = h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])
    assert kinds(out) == ["Results", "UtteranceEnd"]


def test_no_utterance_end_while_speech_continues_or_without_param() -> None:
    h = Harness([("utterance_end_ms", "1000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6), ("speech", 3.0))))
    assert kinds(h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])) == ["Results"]
    assert messages(h.log, "UtteranceEnd") == []

    plain = Harness()
    (job,) = finals(plain.send(track(*UTTERANCE)))
    plain.answer(job)
    plain.send(silence(3.0))
    assert messages(plain.log, "UtteranceEnd") == []


def test_utterance_end_is_sent_before_closing() -> None:
    h = Harness([("utterance_end_ms", "2000")])
    (job,) = finals(h.send(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.6))))
    h.answer(job, words=[Word("hi", 1.0, 1.4, 0.9)])
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["UtteranceEnd", "Metadata", "Close:1000"]


# -- control messages and errors -----------------------------------------------------


def test_keep_alive_does_nothing_but_counts_as_activity() -> None:
    h = Harness()
    h.send(silence(1.0))
    assert h.tick(5.0) == []
    assert h.text('{"type": "KeepAlive"}') == []
    assert h.tick(14.9) == []
    out = h.tick(15.0)
    assert kinds(out) == ["Metadata", "Close:1011"]


def test_idle_timeout() -> None:
    h = Harness()
    h.send(silence(1.0))
    assert h.tick(10.99) == []
    out = h.tick(11.0)
    assert kinds(out) == ["Metadata", "Close:1011"]
    close = out[-1]
    assert isinstance(close, CloseSocket)
    assert "NET-0001" in close.reason
    assert "10 s" in close.reason


def test_idle_timeout_flushes_open_segment_first() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    out = h.tick(h.now + 10)
    (job,) = finals(out)
    assert kinds(out) == ["Job:final"]
    out = h.answer(job, ["tail"])
    assert kinds(out) == ["Results", "Metadata", "Close:1011"]
    assert results(out)[0]["speech_final"] is False


def test_results_do_not_count_as_activity() -> None:
    h = Harness()
    (job,) = finals(h.send(track(*UTTERANCE)))
    h.now = 12.0
    h.answer(job)
    assert kinds(h.tick(13.0)) == ["Metadata", "Close:1011"]


def test_oversized_frame_errors_then_drains_then_closes_1009() -> None:
    h = Harness(config=session_config(max_frame_bytes=1000))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    h.send_bytes(b"\x00" * 1000, 0.03)  # exactly at the limit: accepted
    assert h.session.state is State.ACTIVE
    assert h.session.errors == []
    out = h.send_bytes(b"\x00" * 1001)
    assert kinds(out) == ["Error", "Job:final"]
    error = messages(out, "Error")[0]
    assert "1001" in error["description"]
    assert "max_frame_bytes" in error["description"]
    assert h.session.state is State.DRAINING
    assert h.send_bytes(b"\x00" * 10) == []  # nothing accepted while draining
    (job,) = finals(out)
    out = h.answer(job, ["cut", "short"])
    assert kinds(out) == ["Results", "Metadata", "Close:1009"]
    assert out[-1] == CloseSocket(1009, error["description"])
    assert h.session.errors == [error["description"]]


def test_oversized_frame_with_nothing_open_closes_at_once() -> None:
    h = Harness(config=session_config(max_frame_bytes=640))
    out = h.send_bytes(b"\x00" * 641)
    assert kinds(out) == ["Error", "Metadata", "Close:1009"]


@pytest.mark.parametrize("text", ["hello", "{", "[]", '{"type": 3}', "null", "[" * 100_000])
def test_garbage_text_closes_1007(text: str) -> None:
    h = Harness()
    h.send(silence(0.5))
    out = h.text(text)
    assert kinds(out) == ["Error", "Metadata", "Close:1007"]
    assert h.session.close_code == 1007


def test_unknown_control_type_is_an_error_message_but_the_session_continues() -> None:
    h = Harness()
    out = h.text('{"type": "Configure", "features": {}}')
    assert kinds(out) == ["Error"]
    assert "Configure" in messages(out, "Error")[0]["description"]
    assert h.session.state is State.ACTIVE
    (job,) = finals(h.send(track(*UTTERANCE)))
    h.answer(job)
    assert kinds(h.text('{"type": "CloseStream"}')) == ["Metadata", "Close:1000"]


def test_disconnect_drains_with_going_away() -> None:
    h = Harness()
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    out = h.session.disconnected(h.now)
    (job,) = finals(out)
    out = h.answer(job)
    assert kinds(out) == ["Results", "Metadata", f"Close:{int(CloseCode.GOING_AWAY)}"]
    assert h.session.disconnected(h.now) == []


def test_max_session_length_drains_with_1008() -> None:
    h = Harness(config=session_config(max_session_s=2.0))
    actions = h.send(track(("silence", 0.5), ("speech", 2.0)))
    (job,) = finals(actions)
    assert h.session.state is State.DRAINING
    out = h.answer(job)
    assert kinds(out) == ["Results", "Metadata", "Close:1008"]
    close = out[-1]
    assert isinstance(close, CloseSocket)
    assert "max_session_seconds" in close.reason
    assert h.session.audio_seconds == pytest.approx(2.0)


def test_drain_timeout_when_results_never_arrive() -> None:
    h = Harness(config=session_config(drain_timeout_s=60.0))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    (job,) = finals(h.text('{"type": "CloseStream"}'))
    start = h.now
    assert h.tick(start + 59.9) == []
    out = h.tick(start + 60.0)
    assert kinds(out) == ["Error", "Metadata", "Close:1011"]
    error = messages(out, "Error")[0]
    assert error["variant"] == "TRANSCRIPTION_TIMEOUT"
    assert "1 final result" in error["description"]
    assert h.session.close_code == CloseCode.INTERNAL_ERROR
    assert h.session.closed
    assert h.answer(job) == []


def test_drain_timeout_keeps_a_client_error_code() -> None:
    h = Harness(config=session_config(max_frame_bytes=1000, drain_timeout_s=5.0))
    h.send(track(("silence", 0.5), ("speech", 1.0)))
    h.send_bytes(b"\x00" * 2000)
    out = h.tick(h.now + 5.0)
    assert kinds(out) == ["Error", "Metadata", "Close:1009"]


# -- audio formats -------------------------------------------------------------------


def test_odd_byte_counts_are_carried_over() -> None:
    audio = track(*UTTERANCE)
    whole = Harness()
    (expected,) = finals(whole.send(audio))
    odd = Harness()
    actions = odd.send(audio, chunk_bytes=333)
    actions += odd.send_bytes(b"")
    (job,) = finals(actions)
    assert job.start == expected.start
    assert np.array_equal(job.audio, expected.audio)
    assert odd.session.audio_seconds == pytest.approx(3.0)
    single = Harness()
    single.send(audio[:2000], chunk_bytes=1)
    assert single.session.audio_seconds == pytest.approx(2000 / 16000)


def test_odd_byte_counts_multichannel() -> None:
    stereo = np.stack([track(*UTTERANCE), silence(3.0)], axis=1)
    h = Harness([("channels", "2"), ("multichannel", "true")])
    (job,) = finals(h.send(stereo, chunk_bytes=777))
    assert job.channel == 0
    assert job.start == pytest.approx(0.76)


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_g711_8k_input(encoding: str) -> None:
    h = Harness([("encoding", encoding), ("sample_rate", "8000")])
    audio = track(*UTTERANCE, rate=8000)
    data = h.encode(audio)
    assert len(data) == len(audio)  # one byte per sample
    actions = h.send(audio)
    (job,) = finals(actions)
    assert job.start == pytest.approx(0.76, abs=0.021)
    assert job.duration == pytest.approx(2.5 - 0.76, abs=0.041)
    assert len(job.audio) == round(job.duration * 16_000)
    # the 16 kHz audio is the 8 kHz speech, resampled: loud in the middle, silent at the edges
    body = job.audio[round((1.1 - job.start) * 16000) : round((1.9 - job.start) * 16000)].astype(np.float64)
    assert np.sqrt(np.mean(body**2)) == pytest.approx(3000, rel=0.1)
    assert np.abs(job.audio[:1000]).max() <= 8  # G.711 silence: 0 (mu-law) or +-8 (A-law)
    out = h.answer(job, ["hello"])
    assert results(out)[0]["speech_final"] is True
    assert h.session.audio_seconds == pytest.approx(3.0)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampled_input_keeps_the_stream_clock(rate: int) -> None:
    h = Harness([("sample_rate", str(rate))])
    (job,) = finals(h.send(track(*UTTERANCE, rate=rate)))
    assert job.start == pytest.approx(0.76, abs=0.021)
    assert job.start + job.duration == pytest.approx(2.5, abs=0.021)


def test_multichannel_results_carry_channel_index() -> None:
    h = Harness([("channels", "2"), ("multichannel", "true"), ("vad_events", "true")])
    left = track(("silence", 0.5), ("speech", 1.0), ("silence", 2.5))
    right = track(("silence", 2.0), ("speech", 1.0), ("silence", 1.0))
    actions = h.send(np.stack([left, right], axis=1))
    assert [m["channel"] for m in messages(actions, "SpeechStarted")] == [[0, 2], [1, 2]]
    jobs_ = finals(actions)
    assert [(j.channel, j.seq) for j in jobs_] == [(0, 1), (1, 1)]
    j0, j1 = jobs_
    assert j0.start == pytest.approx(0.26)
    assert j1.start == pytest.approx(1.76)
    # channels are transcribed independently: the right channel's audio holds no left speech
    assert not j1.audio[: round(0.24 * 16000)].any()
    recorded = [a.samples for a in actions if isinstance(a, RecordAudio)]
    assert all(r.shape[1] == 2 for r in recorded)
    r1 = results(h.answer(j1, ["right"]))
    r0 = results(h.answer(j0, ["left"]))
    assert [(m["channel_index"], transcript(m)) for m in r1 + r0] == [([1, 2], "right"), ([0, 2], "left")]
    out = h.text('{"type": "CloseStream"}')
    assert messages(out, "Metadata")[0]["channels"] == 2


def test_multichannel_finalize_answers_every_channel() -> None:
    h = Harness([("channels", "2"), ("multichannel", "true")])
    left = track(("silence", 0.5), ("speech", 1.0))
    h.send(np.stack([left, silence(1.5)], axis=1))
    out = h.text('{"type": "Finalize"}')
    (job,) = finals(out)
    assert [(m["channel_index"], m["from_finalize"]) for m in results(out)] == [([1, 2], True)]
    out = h.answer(job, ["left"])
    assert [(m["channel_index"], m["from_finalize"]) for m in results(out)] == [([0, 2], True)]


def test_channels_are_downmixed_without_multichannel() -> None:
    h = Harness([("channels", "2")])
    left = track(*UTTERANCE)
    actions = h.send(np.stack([left, np.zeros_like(left)], axis=1))
    (job,) = finals(actions)
    assert job.channel == 0
    assert all(a.samples.shape[1] == 1 for a in actions if isinstance(a, RecordAudio))
    # averaged: half the level of the left channel
    body = job.audio[round(0.5 * 16000) : round(1.1 * 16000)].astype(np.float64)
    assert np.sqrt(np.mean(body**2)) == pytest.approx(1500, rel=0.1)
    assert results(h.answer(job))[0]["channel_index"] == [0, 1]
    assert messages(h.text('{"type": "CloseStream"}'), "Metadata")[0]["channels"] == 2


def test_multichannel_drain_flushes_every_channel_before_closing() -> None:
    # Channel 0 holds a blip that is dropped at the end of the stream; channel
    # 1 has speech whose last frames reach the segmenter only from the
    # resampler's delay line when the stream ends. The session must not close
    # before channel 1's final.
    rate = 8000
    n = 3 * rate
    k = len(StreamResampler(rate).process(np.zeros(n, dtype=np.int16))) // FRAME  # frames before the flush
    left = [False] * (k + 10)
    for i in range(k - 8, k - 2):
        left[i] = True  # 6 voiced: opens, but under min_speech_ms (10 frames)
    right = [False] * (k + 10)
    for i in [k - 17, k - 16, *range(k - 5, k + 3)]:
        right[i] = True  # 5 voiced in the window until the tail brings the 6th; 10 in all
    h = Harness(
        [("sample_rate", str(rate)), ("channels", "2"), ("multichannel", "true")],
        detectors=[ScriptedDetector(left), ScriptedDetector(right)],
    )
    assert jobs(h.send(np.zeros((n, 2), dtype=np.int16))) == []
    out = h.text('{"type": "CloseStream"}')
    assert kinds(out) == ["Job:final"]
    (job,) = finals(out)
    assert job.channel == 1
    assert kinds(h.answer(job, ["late"])) == ["Results", "Metadata", "Close:1000"]


@settings(max_examples=25, deadline=None)
@given(
    encoding=st.sampled_from(["linear16", "mulaw", "alaw"]),
    rate=st.sampled_from([8000, 16000, 44100]),
    channels=st.integers(1, 2),
    multichannel=st.booleans(),
    chunk_sizes=st.lists(st.integers(17, 4000), min_size=1, max_size=5),  # 1-byte frames: see above
)
def test_any_chunking_gives_the_same_jobs_and_recording(
    encoding: str, rate: int, channels: int, multichannel: bool, chunk_sizes: list[int]
) -> None:
    query = [
        ("encoding", encoding),
        ("sample_rate", str(rate)),
        ("channels", str(channels)),
        ("multichannel", str(multichannel).lower()),
    ]
    mono = track(("silence", 0.4), ("speech", 0.8), ("silence", 0.7), ("speech", 0.5), rate=rate)
    audio = np.stack([mono, np.roll(mono, rate // 10)], axis=1)[:, :channels]

    def play(sizes: list[int]) -> tuple[list[tuple[int, int, float, bytes]], Int16Array]:
        h = Harness(query)
        data = h.encode(audio)
        offset, i = 0, 0
        while offset < len(data):
            size = sizes[i % len(sizes)]
            h.send_bytes(data[offset : offset + size], 0.01)
            offset += size
            i += 1
        h.text('{"type": "CloseStream"}')
        recorded = np.concatenate([a.samples for a in h.log if isinstance(a, RecordAudio)])
        # the order across channels follows the chunking; within a channel it is fixed
        return sorted((j.channel, j.seq, j.start, j.audio.tobytes()) for j in finals(h.log)), recorded

    expected_jobs, expected_audio = play([len(audio) * channels * 2])
    got_jobs, got_audio = play(chunk_sizes)
    assert len(expected_jobs) >= 2
    assert got_jobs == expected_jobs
    assert np.array_equal(got_audio, expected_audio)
    assert expected_audio.shape[1] == (channels if multichannel else 1)
    assert abs(len(expected_audio) - len(audio) * 16_000 / rate) <= 1
