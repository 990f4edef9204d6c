"""The S3 archive's drainer: uploads what waits in the spool, with backoff, until the spool is empty.

Runs from start-up (so a spool left by a previous process is drained first)
to shutdown. Each round goes through the waiting entries oldest first; when the
store fails as a whole (unreachable, refusing our credentials, missing bucket)
the round stops and the next one waits `retry_min_s`, doubling to
`retry_max_s`; a new spooled recording wakes it at once. A multipart upload
that a spooled recording had started is resumed, not restarted: its parts stay
in the store while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from server.archive.base import WAV_HEADER_BYTES, wav_header
from server.archive.spool import SpoolEntry, SpoolReader
from streaming.codecs import SAMPLE_RATE

if TYPE_CHECKING:
    from server.archive.s3 import S3Archive

log = logging.getLogger("streamscribe.archive")
# Errors that say the store as a whole cannot take anything now: stop the round, back off.
STORE_WIDE = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "ServiceUnavailable"}


class SpoolDrainer:
    def __init__(self, archive: S3Archive, retry_min_s: float, retry_max_s: float) -> None:
        self.archive = archive
        self.retry_min_s = retry_min_s
        self.retry_max_s = max(retry_min_s, retry_max_s)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="archive-spool-drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        delay = self.retry_min_s
        while True:
            self._wake.clear()
            entries = self.archive.spool.pending()
            if not entries:
                await self._wake.wait()
                continue
            failure = await self._round(entries)
            if failure is None:
                delay = self.retry_min_s
                continue
            left = len(self.archive.spool.pending())
            log.warning(
                "archive: %d recording(s) wait in the spool; the store failed (%s); next try in %.1f s",
                left,
                failure,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(2 * delay, self.retry_max_s)

    async def _round(self, entries: list[SpoolEntry]) -> str | None:
        """Upload what can be; the reason of the first failure, None when everything went."""
        archive = self.archive
        failure: str | None = None
        for entry in entries:
            try:
                await self._upload(entry)
            except archive.store_errors as error:
                failure = failure or archive.describe(error)
                code = archive.error_code(error)
                if not code or code in STORE_WIDE or code.startswith("5"):
                    return failure
            except Exception:
                log.exception("archive: spooled recording %s cannot be uploaded", entry.session_id)
                await asyncio.to_thread(self.archive.spool.quarantine, entry.path, "cannot be uploaded")
        return failure

    async def _upload(self, entry: SpoolEntry) -> None:
        archive = self.archive
        manifest = entry.manifest
        if entry.state == "orphan":
            if manifest.get("upload_id"):
                await archive.abort(manifest["wav_key"], manifest["upload_id"])
            log.error(
                "archive: session %s was cut off by a restart while streaming to the store: the start of its audio "
                "was only in memory, so its incomplete upload was aborted",
                entry.session_id,
            )
            await asyncio.to_thread(archive.spool.remove, entry)
            return
        if not manifest.get("audio_done"):
            await self._upload_audio(entry)
            manifest["audio_done"] = True
            await asyncio.to_thread(entry.save)
        transcript = await asyncio.to_thread(entry.transcript) or {"request_id": entry.session_id}
        if manifest.get("lost"):
            transcript["audio_lost"] = manifest["lost"]
        await archive.put_transcript(manifest, transcript)
        await asyncio.to_thread(archive.spool.remove, entry)
        archive.metrics.archive_recordings.labels("drained").inc()
        log.info(
            "archive: uploaded spooled recording %s to %s (it was spooled because: %s)",
            entry.session_id,
            archive.url(manifest["wav_key"]),
            manifest.get("reason") or "unknown",
        )

    async def _upload_audio(self, entry: SpoolEntry) -> None:
        manifest = entry.manifest
        head = entry.file_size(entry.head_path)
        tail = entry.file_size(entry.tail_path)
        middle = int(manifest.get("middle_bytes") or 0)
        if manifest.get("upload_id"):
            try:
                await self._resume(entry, head + middle + tail)
                return
            except Exception as error:
                if self.archive.error_code(error) != "NoSuchUpload":
                    raise
            if await self.archive.size(manifest["wav_key"]) == WAV_HEADER_BYTES + head + middle + tail:
                return  # completed before, only the answer was lost
            bytes_per_s = 2 * SAMPLE_RATE * int(manifest["channels"])
            manifest["lost"] = {
                "from_s": round(head / bytes_per_s, 3),
                "seconds": round(middle / bytes_per_s, 3),
                "reason": "the store no longer had the multipart upload that held this audio",
            }
            log.error("archive: session %s: its multipart upload is gone; %s", entry.session_id, manifest["lost"])
            manifest.update(upload_id=None, parts=[], middle_bytes=0)
            await asyncio.to_thread(entry.save)
        await self._upload_fresh(entry, head + tail)

    async def _resume(self, entry: SpoolEntry, data_bytes: int) -> None:
        archive, manifest = self.archive, entry.manifest
        key, upload_id = manifest["wav_key"], manifest["upload_id"]
        parts: list[dict[str, Any]] = list(manifest["parts"])
        reader = SpoolReader(b"", [entry.tail_path])
        try:
            while chunk := await asyncio.to_thread(reader.read, archive.part_size):
                parts.append(await archive.upload_part(key, upload_id, len(parts) + 2, chunk))
        finally:
            reader.close()
        head = await asyncio.to_thread(entry.head_path.read_bytes)
        first = await archive.upload_part(key, upload_id, 1, wav_header(int(manifest["channels"]), data_bytes) + head)
        await archive.complete(key, upload_id, [first, *parts])

    async def _upload_fresh(self, entry: SpoolEntry, data_bytes: int) -> None:
        """All the audio is in the spool: one PUT, or a new multipart upload (aborted if it fails)."""
        archive, manifest = self.archive, entry.manifest
        key = manifest["wav_key"]
        header = wav_header(int(manifest["channels"]), data_bytes)
        reader = SpoolReader(header, [entry.head_path, entry.tail_path])
        try:
            if WAV_HEADER_BYTES + data_bytes <= archive.part_size:
                await archive.put(key, await asyncio.to_thread(reader.read, archive.part_size), "audio/wav")
                return
            upload_id = await archive.create_upload(key)
            try:
                parts: list[dict[str, Any]] = []
                while chunk := await asyncio.to_thread(reader.read, archive.part_size):
                    parts.append(await archive.upload_part(key, upload_id, len(parts) + 1, chunk))
                await archive.complete(key, upload_id, parts)
            except BaseException:
                with contextlib.suppress(Exception):
                    await archive.abort(key, upload_id)
                raise
        finally:
            reader.close()
