"""The upload pipeline on the embedded runtime with a stand-in transcriber: segments
go through the gateway's queue as final jobs, a bounded number at a time, and come
back in order; the upload is archived like a live session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import tracemalloc
import wave
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from server.config import Settings
from server.runtime.embedded import Runtime, embedded_runtime
from server.uploads.pipeline import SegmentTranscript, UploadError, UploadOptions, prepare, transcribe_upload
from streaming.codecs import Int16Array
from streaming.jobs import Job, JobKind, TranscribeOptions, Word
from testbed import audio, corpora


@dataclass
class FakeTranscriber:
    """One word per call, named after the call; optionally slow on the first call, or failing."""

    delay_s: float = 0.01
    first_delay_s: float = 0.0
    fail: bool = False
    calls: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: threading.Event = field(default_factory=threading.Event)

    def warm_up(self) -> float:
        return 0.0

    def transcribe(
        self, samples: Int16Array, options: TranscribeOptions, kind: JobKind, *, hurried: bool = False
    ) -> list[Word]:
        with self.lock:
            self.calls.append(len(samples) / 16000)
            index = len(self.calls)
        self.started.set()
        time.sleep(self.first_delay_s if index == 1 and self.first_delay_s else self.delay_s)
        if self.fail:
            raise RuntimeError("model exploded")
        return [Word(f"word{index}.", 0.1, 0.5, 0.9)]

    def transcribe_batch(
        self, audios: Sequence[Int16Array], options: TranscribeOptions, kind: JobKind
    ) -> list[list[Word]]:
        return [self.transcribe(samples, options, kind) for samples in audios]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """About three minutes of real speech (LibriVox clips and JFK, 1 s pauses)."""
    clips = [*corpora.librivox_clips(), corpora.jfk()] * 4
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    path = tmp_path_factory.mktemp("pipeline") / "speech.wav"
    audio.write_wav(path, pcm)
    return path, len(pcm) / 16000


@contextlib.asynccontextmanager
async def running(settings: Settings, transcriber: FakeTranscriber) -> AsyncIterator[Runtime]:
    runtime = embedded_runtime(settings, transcriber_factory=lambda: transcriber)
    await runtime.startup()
    try:
        yield runtime
    finally:
        await runtime.shutdown()


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(archive_dir=tmp_path / "archive", **overrides)  # type: ignore[arg-type]


async def test_segments_go_through_the_queue_a_bounded_number_at_a_time(
    speech_wav: tuple[Path, float], tmp_path: Path
) -> None:
    path, seconds = speech_wav
    transcriber = FakeTranscriber(delay_s=0.02)
    async with running(settings_for(tmp_path, workers=1), transcriber) as runtime:
        gateway = runtime.gateway
        submitted: list[Job] = []
        outstanding: list[int] = []
        lookahead: list[float] = []
        original_submit = gateway.queue.submit
        with path.open("rb") as file:
            prepared = prepare(file, "speech.wav")

            async def submit(job: Job) -> None:
                depth = await gateway.queue.depth()
                outstanding.append(depth.finals + depth.running + 1)
                lookahead.append(prepared.decoder.seconds - job.start)
                submitted.append(job)
                assert gateway.active_sessions == 1
                await original_submit(job)

            gateway.queue.submit = submit  # type: ignore[method-assign]
            options = UploadOptions(endpoint="test", filename="speech.wav")
            transcript = await transcribe_upload(gateway, prepared, options)
            prepared.close()
        assert gateway.active_sessions == 0

    # One final job per segment, addressed to this gateway, none longer than one Whisper window.
    assert len(submitted) == len(transcriber.calls) >= seconds / 30
    assert all(job.kind is JobKind.FINAL and job.reply_to == gateway.gateway_id for job in submitted)
    assert not any(job.live for job in submitted)  # nobody watches an upload's clock: never hurried
    assert all(job.session_id == options.session_id for job in submitted)
    assert max(transcriber.calls) <= 28.0
    # Bounded: at most 2 jobs of the upload outstanding (1 warm worker), and decoding
    # never runs far ahead of the jobs: memory does not grow with the file.
    assert max(outstanding) <= 2
    assert max(lookahead) < 2 * 28 + 10
    # Results come back in order, and every segment's words are there.
    assert [w.text for w in transcript.words()] == [f"word{i}." for i in range(1, len(submitted) + 1)]
    assert transcript.duration == pytest.approx(seconds, abs=0.01)
    assert [s.start for s in transcript.segments] == sorted(s.start for s in transcript.segments)

    # Archived like a live session: 16 kHz audio and the transcript document.
    wav_path = Path(transcript.archive.location or "").with_suffix(".wav")
    with wave.open(str(wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        assert wav.getnframes() == round(seconds * 16000)
    document = json.loads(wav_path.with_suffix(".json").read_text())
    assert document["request_id"] == options.session_id and document["source"] == "upload"
    assert document["params"]["mime"] == "audio/x-wav" and document["params"]["endpoint"] == "test"
    assert len(document["results"]) == len(submitted) and document["errors"] == []


async def test_results_finishing_out_of_order_are_released_in_order(
    speech_wav: tuple[Path, float], tmp_path: Path
) -> None:
    path, _ = speech_wav
    transcriber = FakeTranscriber(delay_s=0.01, first_delay_s=0.5)
    released: list[SegmentTranscript] = []

    async def on_segment(segment: SegmentTranscript) -> None:
        released.append(segment)

    async with running(settings_for(tmp_path, workers=2), transcriber) as runtime:
        with path.open("rb") as file:
            prepared = prepare(file, "speech.wav")
            transcript = await transcribe_upload(runtime.gateway, prepared, UploadOptions(), on_segment)
            prepared.close()
    assert len(released) == len(transcript.segments) >= 4
    assert [s.start for s in released] == sorted(s.start for s in released)
    assert released[0].text == "word1."  # the slow first job held back the ones after it


async def test_silence_makes_no_jobs_and_an_empty_transcript(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    noise = audio.white_noise(20.0, 0.0005)
    audio.write_wav(path, np.concatenate([audio.silence(10.0), noise]))
    transcriber = FakeTranscriber()
    async with running(settings_for(tmp_path), transcriber) as runtime:
        with path.open("rb") as file:
            prepared = prepare(file, "silence.wav")
            transcript = await transcribe_upload(runtime.gateway, prepared, UploadOptions())
            prepared.close()
    assert transcriber.calls == []
    assert transcript.text() == "" and transcript.segments == ()
    assert transcript.duration == pytest.approx(30.0)


async def test_a_failed_job_fails_the_upload(speech_wav: tuple[Path, float], tmp_path: Path) -> None:
    path, _ = speech_wav
    async with running(settings_for(tmp_path), FakeTranscriber(fail=True)) as runtime:
        with path.open("rb") as file:
            prepared = prepare(file, "speech.wav")
            with pytest.raises(UploadError) as caught:
                await transcribe_upload(runtime.gateway, prepared, UploadOptions())
            prepared.close()
        assert runtime.gateway.active_sessions == 0
    assert caught.value.status == 500 and "model exploded" in caught.value.message


async def test_draining_server_stops_the_upload_with_503(speech_wav: tuple[Path, float], tmp_path: Path) -> None:
    path, _ = speech_wav
    transcriber = FakeTranscriber(delay_s=0.2)
    async with running(settings_for(tmp_path), transcriber) as runtime:
        gateway = runtime.gateway
        with path.open("rb") as file:
            prepared = prepare(file, "speech.wav")
            upload = asyncio.create_task(transcribe_upload(gateway, prepared, UploadOptions()))
            assert await asyncio.to_thread(transcriber.started.wait, 30)
            await gateway.drain(timeout_s=10)
            with pytest.raises(UploadError) as caught:
                await upload
            prepared.close()
    assert caught.value.status == 503 and "shutting down" in caught.value.message


async def test_multichannel_keeps_channels_apart(tmp_path: Path) -> None:
    speech = corpora.jfk().audio
    stereo = np.stack([speech, np.zeros_like(speech)], axis=1)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(stereo.astype("<i2").tobytes())
    async with running(settings_for(tmp_path), FakeTranscriber()) as runtime:
        with path.open("rb") as file:
            prepared = prepare(file, "stereo.wav", multichannel=True)
            options = UploadOptions(multichannel=True)
            transcript = await transcribe_upload(runtime.gateway, prepared, options)
            prepared.close()
    assert transcript.channels == transcript.output_channels == 2
    assert transcript.words(0) and not transcript.words(1)


async def test_thirty_minute_file_is_transcribed_in_bounded_memory(
    speech_wav: tuple[Path, float], tmp_path: Path
) -> None:
    """Half an hour of real speech: the Python heap (numpy arrays included) never
    holds more than a few segments, far below the 57.6 MB of decoded audio."""
    with wave.open(str(speech_wav[0])) as source:
        speech = source.readframes(source.getnframes())
    path = tmp_path / "thirty-minutes.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        while w.getnframes() < 30 * 60 * 16000:
            w.writeframes(speech)
    del speech
    transcriber = FakeTranscriber(delay_s=0.0)
    async with running(settings_for(tmp_path, archive=False), transcriber) as runtime:
        with path.open("rb") as file:
            prepared = prepare(file, "thirty-minutes.wav")
            tracemalloc.start()
            try:
                transcript = await transcribe_upload(runtime.gateway, prepared, UploadOptions())
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            prepared.close()
    assert transcript.duration >= 30 * 60
    assert len(transcript.segments) == len(transcriber.calls) >= 30 * 60 / 28
    assert peak < 12e6, f"heap peak {peak / 1e6:.1f} MB"
