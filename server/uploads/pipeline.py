"""Uploaded files through the live path: the same segmenter, queue and workers.

A file is sniffed (libmagic), decoded as it is read (PyAV), cut into speech
segments by the live segmenter, and each closed segment becomes one final job
on the gateway's queue, so in distributed mode the segments of one long file
are transcribed in parallel by every worker. At most a few jobs of one upload
are outstanding at a time: decoding waits for results, so memory stays
bounded whatever the length of the file, and live sessions' finals never sit
behind a whole file's worth of upload jobs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import numpy as np

from server.archive.base import ArchiveOutcome, Recording
from server.policy import archive_for, finish_archive
from server.runtime.gateway import Gateway, Inbox, ShutdownRequested
from server.uploads.decode import AudioDecoder, AudioInfo, MediaError, MediaTooLong, wav_shortfall
from server.uploads.sniff import SNIFF_BYTES, Sniffed, sniff
from streaming.archive_document import archive_document
from streaming.audio_hold import ArchiveAudio, redactions_document, settled_until
from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.finals import FinalsInOrder, FinalSlot, JobFactory
from streaming.jobs import JobKind, JobResult, TranscribeOptions, Word
from streaming.protocol import MAX_CHANNELS, ModelInfo, results_message
from streaming.redaction import RedactedSpan, RedactionMode, Redactor
from streaming.segmenter import SegmentClosed, SegmentDropped, Segmenter, SegmenterEvent
from streaming.vad import WebRtcVoiceDetector

log = logging.getLogger("streamscribe.pipeline")
STEP_SAMPLES = 5 * SAMPLE_RATE
"""Audio decoded and segmented per step (per channel)."""
SUPPORTED = "wav, mp3, m4a, mp4, ogg/opus, webm, flac"
WAV_TRUNCATION_TOLERANCE_BYTES = 4096
"""A WAV a few samples short of its header is not worth refusing (some writers round)."""


class UploadError(Exception):
    """What the client gets: an HTTP status, a short code and a message that says what was wrong."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class UploadOptions:
    language: str | None = None
    prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    model: str | None = None
    multichannel: bool = False
    endpoint: str = "upload"
    """Which API received it, for the archive."""
    filename: str | None = None
    sha256: str | None = None
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    archive: bool = True
    """False: the client asked for archive=false (and the server allows it)."""
    owner: str = ""
    """The name of the key that sent it (per-key limits)."""
    tenant: str | None = None
    """Whose recording it is (None: a server without keys)."""
    redact: frozenset[RedactionMode] = frozenset()
    """What the transcript never shows (streaming.redaction); the archive keeps the redacted text."""
    redact_audio: bool = False
    """Silence the archived audio where words were redacted (with `redact`)."""


@dataclass(frozen=True, slots=True)
class SegmentTranscript:
    channel: int
    seq: int
    start: float
    end: float
    speech_final: bool
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True, slots=True)
class Transcript:
    request_id: str
    created: datetime
    duration: float
    channels: int
    """Channels in the file."""
    output_channels: int
    """1 when downmixed, else `channels`."""
    segments: tuple[SegmentTranscript, ...]
    """In (channel, time) order; segments without words are left out."""
    model: ModelInfo
    media: AudioInfo
    mime: str
    language: str | None
    sha256: str | None
    archive: ArchiveOutcome

    def words(self, channel: int = 0) -> list[Word]:
        return [word for segment in self.segments if segment.channel == channel for word in segment.words]

    def text(self, channel: int = 0) -> str:
        return " ".join(segment.text for segment in self.segments if segment.channel == channel and segment.words)


@dataclass
class Prepared:
    """A file that libmagic and FFmpeg both accepted, ready to decode."""

    decoder: AudioDecoder
    sniffed: Sniffed

    def close(self) -> None:
        self.decoder.close()


def prepare(file: BinaryIO, name: str, *, multichannel: bool = False, max_seconds: float | None = None) -> Prepared:
    """Sniff and open an upload (blocking: run it in a thread). Raises
    UploadError: 400 for a file that is not usable audio, 413 for one whose
    header declares more than `max_seconds`."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    size = file.seek(0, 2)
    file.seek(0)
    if not head:
        raise UploadError(400, "empty_file", f"{name} is empty (0 bytes): there is no audio to transcribe", "file")
    sniffed = sniff(head)
    if not sniffed.acceptable:
        raise UploadError(
            400,
            "unsupported_file_type",
            f"{name} is {sniffed.summary()}, not audio; upload an audio or video file ({SUPPORTED}, ...)",
            "file",
        )
    if (missing := wav_shortfall(head, size)) > WAV_TRUNCATION_TOLERANCE_BYTES:
        raise UploadError(
            400,
            "invalid_file",
            f"{name} is truncated: its WAV header declares {missing} more bytes of audio than the file has",
            "file",
        )
    try:
        decoder = AudioDecoder(file, name=name, keep_channels=multichannel, max_seconds=max_seconds)
    except MediaTooLong as error:
        raise UploadError(413, "file_too_long", str(error), "file") from error
    except MediaError as error:
        hint = "" if sniffed.is_media else f"; libmagic does not recognize it either ({sniffed.summary()})"
        raise UploadError(400, "invalid_file", f"{error}{hint}", "file") from error
    if decoder.channels > MAX_CHANNELS:
        decoder.close()
        raise UploadError(
            400, "too_many_channels", f"{name} has {decoder.channels} channels; multichannel takes at most 8", "file"
        )
    return Prepared(decoder, sniffed)


SegmentCallback = Callable[[SegmentTranscript], Awaitable[None]]


async def transcribe_upload(
    gateway: Gateway,
    prepared: Prepared,
    options: UploadOptions,
    on_segment: SegmentCallback | None = None,
) -> Transcript:
    """Run a prepared file through the segmenter and the workers.

    `on_segment` is called with each segment's transcript, in order, as soon
    as it and every segment before it are done (for streamed responses)."""
    return await _Run(gateway, prepared, options, on_segment).run()


class _Run:
    def __init__(
        self, gateway: Gateway, prepared: Prepared, options: UploadOptions, on_segment: SegmentCallback | None
    ) -> None:
        uploads = gateway.uploads
        self.gateway = gateway
        self.decoder = prepared.decoder
        self.prepared = prepared
        self.options = options
        self.on_segment = on_segment
        self.session_id = options.session_id
        self.created = datetime.now(UTC)
        channels = self.decoder.channels
        self.segmenters = [Segmenter(WebRtcVoiceDetector(uploads.vad_mode), uploads.segmenter) for _ in range(channels)]
        self.jobs = JobFactory(
            self.session_id,
            TranscribeOptions(
                language=options.language, prompt=options.prompt, hotwords=options.hotwords, model=options.model
            ),
            gateway.gateway_id,
        )
        self.finals = [FinalsInOrder() for _ in range(channels)]
        self.redactors = [Redactor(options.redact) for _ in range(channels)]
        self.redacted: list[tuple[int, RedactedSpan]] = []
        self.archive_audio = ArchiveAudio(
            channels, hold=bool(options.redact) and options.redact_audio, redacted=self.redacted
        )
        self.outstanding = 0
        """Final jobs submitted and not answered yet."""
        self.released: list[SegmentTranscript] = []
        self.errors: list[str] = []
        self.limit = uploads.jobs_in_flight
        self._stepping: asyncio.Future[tuple[Int16Array, list[tuple[int, SegmenterEvent]]]] | None = None

    async def run(self) -> Transcript:
        gateway = self.gateway
        inbox = gateway.register(self.session_id, self.options.owner)
        recording: Recording | None = None
        outcome = ArchiveOutcome(stored=False, error="not archived")
        try:
            state = await gateway.readiness()
            self.limit = min(self.limit, max(2, 2 * state.warm_workers))
            archive = archive_for(gateway, self.options.archive)
            recording = await archive.open(self.session_id, self.created, self.decoder.channels)
            try:
                await self._segment_and_submit(inbox, recording)
                while self.outstanding:
                    await self._receive(inbox)
            except UploadError as error:
                self.errors.append(error.message)
                raise
            except asyncio.CancelledError:
                self.errors.append("cancelled: the client went away before the transcript was done")
                raise
            except Exception as error:
                self.errors.append(f"internal error: {error!r}")
                raise
            finally:
                await self._record(recording)  # what redact_audio held back
                outcome = await self._finish_archive(recording)
        finally:
            if self._stepping is not None and not self._stepping.done():
                await asyncio.wait([self._stepping])
            gateway.unregister(self.session_id)
            gateway.metrics.audio_seconds.inc(self.decoder.seconds)
        if self.errors:
            raise UploadError(500, "transcription_failed", "; ".join(self.errors)[:500])
        return self._transcript(outcome)

    def _step(self) -> tuple[Int16Array, list[tuple[int, SegmenterEvent]]]:
        """Decode and segment the next few seconds (blocking: runs in a thread)."""
        block = self.decoder.read(STEP_SAMPLES)
        events: list[tuple[int, SegmenterEvent]] = []
        for channel, segmenter in enumerate(self.segmenters):
            if len(block):
                events.extend((channel, e) for e in segmenter.feed(np.ascontiguousarray(block[:, channel])))
            if self.decoder.finished:
                events.extend((channel, e) for e in segmenter.end_of_stream())
        return block, events

    async def _segment_and_submit(self, inbox: Inbox, recording: Recording) -> None:
        while not self.decoder.finished:
            # Shielded: a cancelled request must not close the decoder under a running step.
            self._stepping = asyncio.ensure_future(asyncio.to_thread(self._step))
            try:
                block, events = await asyncio.shield(self._stepping)
            except MediaTooLong as error:
                raise UploadError(413, "file_too_long", str(error), "file") from error
            except MediaError as error:
                raise UploadError(400, "invalid_file", str(error), "file") from error
            for channel, event in events:
                if isinstance(event, SegmentDropped):  # too little voiced audio to be speech
                    self.finals[channel].skip(event.seq, event.start, event.end, event.reason)
                    await self._release(channel)
                if not isinstance(event, SegmentClosed):
                    continue
                while self.outstanding >= self.limit:
                    await self._receive(inbox)
                await self._submit(channel, event)
            if len(block):
                # After the step's segments are submitted: with redact_audio, what they cover is held.
                await self._record(recording, block)
            while not inbox.empty():
                await self._receive(inbox)

    async def _record(self, recording: Recording, block: Int16Array | None = None) -> None:
        """Write decoded audio (None: the end); with `redact_audio`, only what every final covers,
        redacted spans silenced (streaming.audio_hold)."""
        ready = self.archive_audio.record(block) if block is not None else []
        if self.archive_audio.holding:
            until = math.inf if block is None else min(map(settled_until, self.segmenters, self.finals))
            ready += self.archive_audio.settled(until)
        for action in ready:
            await recording.write(action.samples)

    async def _submit(self, channel: int, event: SegmentClosed) -> None:
        job = self.jobs.new_job(channel, event.seq, JobKind.FINAL, event.start, event.audio)
        self.finals[channel].expect(FinalSlot(event.seq, event.start, event.end, event.reason, job.revision))
        self.outstanding += 1
        self.gateway.metrics.jobs_submitted.labels(JobKind.FINAL.value).inc()
        await self.gateway.queue.submit(job)

    async def _receive(self, inbox: Inbox) -> None:
        timeout = self.gateway.uploads.result_timeout_s
        try:
            message = await asyncio.wait_for(inbox.get(), timeout)
        except TimeoutError:
            raise UploadError(
                504,
                "transcription_timeout",
                f"no transcription result within {timeout:g} s ({self.outstanding} segment(s) outstanding): "
                "the workers are overloaded or down",
            ) from None
        if isinstance(message, ShutdownRequested):
            raise UploadError(503, "shutting_down", "the server is shutting down; send the file again")
        if not isinstance(message, JobResult) or message.kind is not JobKind.FINAL:
            return  # nothing else is sent to an upload's inbox but interim results of no one
        self.gateway.metrics.queue_wait.labels(message.kind.value).observe(message.queue_seconds)
        if not self.finals[message.channel].record(message):
            return  # a redelivered result: already handled
        self.outstanding -= 1
        await self._release(message.channel)

    async def _release(self, channel: int) -> None:
        for slot in self.finals[channel].release():
            if slot.error is not None:
                self.errors.append(f"segment {slot.start:.2f}-{slot.end:.2f} s: {slot.error}")
            redaction = self.redactors[channel].redact(slot.words, final=True)
            self.redacted.extend((channel, span) for span in redaction.spans)
            segment = SegmentTranscript(channel, slot.seq, slot.start, slot.end, slot.speech_final, redaction.words)
            self.released.append(segment)
            if self.on_segment is not None and segment.words:
                await self.on_segment(segment)

    def _results(self) -> list[dict[str, Any]]:
        return [
            results_message(
                request_id=self.session_id,
                model=self.gateway.model_info,
                channel=segment.channel,
                channels=self.decoder.channels,
                start=segment.start,
                duration=segment.end - segment.start,
                words=segment.words,
                is_final=True,
                speech_final=segment.speech_final,
                from_finalize=False,
            )
            for segment in sorted(self.released, key=lambda s: (s.channel, s.start))
            if segment.words
        ]

    async def _finish_archive(self, recording: Recording) -> ArchiveOutcome:
        info = self.decoder.info
        document = archive_document(
            request_id=self.session_id,
            created=self.created.isoformat(),
            source="upload",
            channels=info.channels,
            duration_s=self.decoder.seconds,
            params={
                "endpoint": self.options.endpoint,
                "filename": self.options.filename,
                "mime": self.prepared.sniffed.mime,
                "container": info.container,
                "codec": info.codec,
                "sample_rate": info.sample_rate,
                "sha256": self.options.sha256,
                "multichannel": self.options.multichannel,
                "language": self.options.language,
                "redact": sorted(mode.value for mode in self.options.redact),
                "redact_audio": self.archive_audio.holding,
            },
            model_info=self.gateway.model_info.as_dict(),
            results=self._results(),
            errors=self.errors,
            tenant=self.options.tenant,
            redactions=redactions_document(self.redacted),
        )
        return await finish_archive(self.gateway, recording, document, self.options.archive)

    def _transcript(self, outcome: ArchiveOutcome) -> Transcript:
        return Transcript(
            request_id=self.session_id,
            created=self.created,
            duration=self.decoder.seconds,
            channels=self.decoder.info.channels,
            output_channels=self.decoder.channels,
            segments=tuple(s for s in sorted(self.released, key=lambda s: (s.channel, s.start)) if s.words),
            model=self.gateway.model_info,
            media=self.decoder.info,
            mime=self.prepared.sniffed.mime,
            language=self.options.language,
            sha256=self.options.sha256,
            archive=outcome,
        )
