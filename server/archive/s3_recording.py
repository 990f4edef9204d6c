"""One session's recording on the S3 archive: a WAV streamed with a multipart upload.

A WAV header states the data size, known only at the end. So part 1 (the
44-byte header and the first part size - 44 bytes of audio) is uploaded last,
once the size is known: S3 assembles parts by number, not by upload order.
While the session runs part 1's audio waits in the spool directory on local
disk (its "open" journal entry, with the upload id and the parts acknowledged
so far), and every later part is uploaded in the background as soon as it
fills. Memory per session is thus the part being filled plus the one in flight,
whatever the length of the call. A recording shorter than part 1 is one PUT at
the end and never touches the disk.

Any failure of the store moves the recording to the spool: what is in memory is
written there, later audio follows, and the drainer (server/archive/drain.py)
resumes the upload when the store answers. Nothing here raises into the session.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from server.archive.base import WAV_HEADER_BYTES, ArchiveOutcome, index_key, recording_key, wav_header
from server.archive.spool import SpoolEntry
from streaming.codecs import Int16Array

if TYPE_CHECKING:
    from server.archive.s3 import S3Archive

log = logging.getLogger("streamscribe.archive")


class S3Recording:
    def __init__(self, archive: S3Archive, session_id: str, started: datetime, channels: int) -> None:
        self._s3 = archive
        self.session_id = session_id
        self.started = started
        self.channels = channels
        self.wav_key = archive.key(recording_key(session_id, started, "wav"))
        self.json_key = archive.key(recording_key(session_id, started, "json"))
        self._head = bytearray()
        self._head_bytes = 0
        self._journal: SpoolEntry | None = None
        """The spool entry holding part 1's audio (head.pcm) while the session runs."""
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._middle = 0
        """Audio bytes in parts 2..n that the store acknowledged."""
        self._data = 0
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_part = b""
        self._audio_done = False
        self._entry: SpoolEntry | None = None
        """Set once the store failed: the rest of the session goes to this spool entry."""
        self._reason = ""
        self._lost: str | None = None

    def manifest(self, state: str) -> dict[str, Any]:
        return {
            "state": state,
            "session_id": self.session_id,
            "created": self.started.isoformat(),
            "channels": self.channels,
            "bucket": self._s3.bucket,
            "wav_key": self.wav_key,
            "json_key": self.json_key,
            "index_key": self._s3.key(index_key(self.session_id)),
            "upload_id": self._upload_id,
            "parts": list(self._parts),
            "middle_bytes": self._middle,
            "audio_done": self._audio_done,
            "reason": self._reason,
        }

    async def write(self, samples: Int16Array) -> None:
        data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        if not data or self._lost is not None:
            return
        self._data += len(data)
        if self._entry is not None:
            await self._spool(data)
            return
        room = self._s3.part_size - WAV_HEADER_BYTES - self._head_bytes
        if room > 0:
            self._head += data[:room]
            self._head_bytes += min(room, len(data))
            data = data[room:]
            if self._head_bytes == self._s3.part_size - WAV_HEADER_BYTES:
                await self._park_head()
        self._buf += data
        if len(self._buf) >= self._s3.part_size:
            await self._ship()

    async def _park_head(self) -> None:
        """Part 1's audio is complete: keep it on disk, not in memory, until the end."""
        try:
            journal = await asyncio.to_thread(self._s3.spool.create, self.session_id, self.manifest("open"))
            await asyncio.to_thread(journal.write_head, self._head)
        except OSError as error:
            log.warning("archive: session %s: part 1 stays in memory (spool: %s)", self.session_id, error)
            return
        self._journal, self._head = journal, bytearray()

    async def _ship(self) -> None:
        await self._settle()
        if self._entry is not None or self._lost is not None:
            return
        part, self._buf = bytes(self._buf), bytearray()
        self._inflight_part = part
        self._inflight = asyncio.create_task(self._upload(part), name=f"archive-part-{self.session_id}")

    async def _upload(self, part: bytes) -> None:
        s3 = self._s3
        if self._upload_id is None:
            self._upload_id = await s3.create_upload(self.wav_key)
        self._parts.append(await s3.upload_part(self.wav_key, self._upload_id, len(self._parts) + 2, part))
        self._middle += len(part)
        try:  # the journal follows, so that a crash leaves an upload that start-up can complete or abort
            journal = self._journal
            if journal is None:
                journal = await asyncio.to_thread(s3.spool.create, self.session_id, self.manifest("open"))
            journal.manifest.update(upload_id=self._upload_id, parts=list(self._parts), middle_bytes=self._middle)
            await asyncio.to_thread(journal.save)
            self._journal = journal
        except OSError as error:
            log.warning("archive: session %s: cannot update its spool journal: %s", self.session_id, error)

    async def _settle(self) -> None:
        """Wait for the part in flight; if it failed, move to the spool (with that part)."""
        task = self._inflight
        if task is None:
            return
        await asyncio.wait([task])  # not cancelled along with a cancelled session
        self._inflight = None
        part, self._inflight_part = self._inflight_part, b""
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            if error is not None and not isinstance(error, self._s3.store_errors):
                log.error("archive: session %s: part upload failed", self.session_id, exc_info=error)
            await self._to_spool(self._s3.describe(error) if error else "the upload was cancelled", part)

    async def _to_spool(self, reason: str, pending: bytes) -> None:
        self._reason = reason
        spool = self._s3.spool
        log.warning("archive: session %s: the store failed (%s); spooling to %s", self.session_id, reason, spool.root)
        head, tail = self._head, pending + bytes(self._buf)
        self._head, self._buf = bytearray(), bytearray()
        try:
            entry = await asyncio.to_thread(spool.create, self.session_id, self.manifest("spooling"))
            if self._journal is None and not self._audio_done:
                await asyncio.to_thread(entry.write_head, head)
            entry.append(tail)
            await asyncio.to_thread(entry.flush)
        except OSError as error:
            self._spool_failed(error)
            return
        self._entry = entry
        spool.refresh()

    async def _spool(self, data: bytes) -> None:
        assert self._entry is not None
        if self._entry.append(data):
            try:
                await asyncio.to_thread(self._entry.flush)
            except OSError as error:
                self._spool_failed(error)
            self._s3.spool.refresh()

    def _spool_failed(self, error: OSError) -> None:
        self._lost = f"the object store failed ({self._reason}) and so did the spool ({error.strerror or error})"
        log.error("archive: session %s: %s; its recording is lost", self.session_id, self._lost)
        self._head, self._buf, self._entry = bytearray(), bytearray(), None
        self._s3.metrics.errors.labels("archive_lost").inc()

    async def finish(self, transcript: dict[str, Any]) -> ArchiveOutcome:
        s3, location = self._s3, self._s3.url(self.wav_key).removesuffix(".wav")
        if self._entry is None and self._lost is None:
            await self._settle()
        if self._entry is None and self._lost is None:
            try:
                await self._complete(transcript)
            except Exception as error:  # whatever it is, the session must get its Metadata
                if not isinstance(error, s3.store_errors):
                    log.error("archive: session %s: upload failed", self.session_id, exc_info=error)
                await self._to_spool(s3.describe(error), b"")
            else:
                s3.metrics.archive_recordings.labels("stored").inc()
                if self._journal is not None:
                    await asyncio.to_thread(s3.spool.remove, self._journal)
                return ArchiveOutcome(stored=True, location=location)
        if self._entry is not None:
            try:
                await asyncio.to_thread(self._entry.seal, transcript)
            except OSError as error:
                self._spool_failed(error)
            else:
                s3.spool.refresh()
                s3.metrics.archive_recordings.labels("spooled").inc()
                s3.drainer.wake()
                reason = f"object store unavailable ({self._reason}): spooled, uploaded when it answers again"
                return ArchiveOutcome(stored=False, spooled=True, location=location, error=reason)
        s3.metrics.archive_recordings.labels("lost").inc()
        return ArchiveOutcome(stored=False, error=self._lost)

    async def _complete(self, transcript: dict[str, Any]) -> None:
        s3 = self._s3
        header = wav_header(self.channels, self._data)
        if self._journal is None and self._upload_id is None:
            await s3.put(self.wav_key, header + self._head + self._buf, "audio/wav")
        else:
            if self._upload_id is None:
                self._upload_id = await s3.create_upload(self.wav_key)
            if self._buf:
                number = len(self._parts) + 2
                self._parts.append(await s3.upload_part(self.wav_key, self._upload_id, number, bytes(self._buf)))
                self._middle += len(self._buf)
                self._buf = bytearray()
            head = self._head if self._journal is None else await asyncio.to_thread(self._journal.head_path.read_bytes)
            first = await s3.upload_part(self.wav_key, self._upload_id, 1, header + head)
            await s3.complete(self.wav_key, self._upload_id, [first, *self._parts])
        self._audio_done = True
        self._head, self._buf = bytearray(), bytearray()
        await s3.put_transcript(self.manifest("done"), transcript)
