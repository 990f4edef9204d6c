"""Receive an upload without holding it in memory: the raw body or a multipart
form, streamed to a temporary file, with the size limit enforced as it arrives."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from server.uploads.pipeline import UploadError

WRITE_BATCH_BYTES = 1 << 20
DRAIN_LIMIT_BYTES = 64 << 20
"""After the limit is passed, read and discard up to this much more so the client
is still reading when the 413 comes (a client still sending would see a reset)."""


class _Spooled(MultiPartParser):
    # Small files stay in memory, anything larger goes to a temporary file on disk.
    spool_max_size = 256 * 1024


@dataclass
class RawBody:
    file: BinaryIO
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()


def too_large(limit: int, size: int | None = None) -> UploadError:
    got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return UploadError(
        413,
        "file_too_large",
        f"the upload is too large: {got}; this server accepts at most {limit} bytes (max_upload_bytes)",
        "file",
    )


def _declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _drain(body: AsyncIterator[bytes]) -> None:
    drained = 0
    async for chunk in body:
        drained += len(chunk)
        if drained > DRAIN_LIMIT_BYTES:
            return


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How much a request body may carry and how slowly it may arrive."""

    max_bytes: int
    read_timeout_s: float
    """No byte for this long: 408."""
    min_bytes_per_s: float
    """After `grace_s`, a body arriving slower than this on average: 408 (a slow-loris client
    holds a connection and a session slot while sending next to nothing)."""
    grace_s: float = 10.0


def too_slow(message: str) -> UploadError:
    return UploadError(408, "request_timeout", f"the upload {message}; send the file at a steady pace", "file")


async def _limited(request: Request, limits: BodyLimits) -> AsyncGenerator[bytes, None]:
    """The request body, raising 413 (after draining a bounded tail) once it passes the size
    limit, and 408 when it stalls or trickles."""
    body = request.stream()
    limit = limits.max_bytes
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        await _drain(body)
        raise too_large(limit, declared)
    total = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(body), limits.read_timeout_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise too_slow(f"stalled: no data for {limits.read_timeout_s:g} s (upload_read_timeout_s)") from None
        total += len(chunk)
        if total > limit:
            await _drain(body)
            raise too_large(limit)
        elapsed = loop.time() - started
        if elapsed > limits.grace_s and total < limits.min_bytes_per_s * elapsed:
            rate = f"{total / elapsed:.0f} bytes/s"
            raise too_slow(f"arrives too slowly: {rate}, under {limits.min_bytes_per_s:g} (upload_min_bytes_per_s)")
        yield chunk


async def receive_body(request: Request, limits: BodyLimits) -> RawBody:
    """The raw request body in an anonymous temporary file (gone when closed)."""
    file = cast(BinaryIO, await asyncio.to_thread(tempfile.TemporaryFile, prefix="streamscribe-upload-"))
    digest = hashlib.sha256()
    size = 0
    batch: list[bytes] = []
    batched = 0
    try:
        async for chunk in _limited(request, limits):
            digest.update(chunk)
            size += len(chunk)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= WRITE_BATCH_BYTES:
                await asyncio.to_thread(file.write, b"".join(batch))
                batch, batched = [], 0
        if batch:
            await asyncio.to_thread(file.write, b"".join(batch))
        await asyncio.to_thread(file.flush)
    except BaseException:
        file.close()
        raise
    return RawBody(file, size, digest.hexdigest())


async def receive_form(request: Request, limits: BodyLimits, max_fields: int = 64) -> FormData:
    """A multipart form whose file parts are spooled to disk; the whole body is held to `limits`.
    The caller closes it (`await form.close()`)."""
    parser = _Spooled(request.headers, _limited(request, limits), max_files=4, max_fields=max_fields)
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise UploadError(400, "invalid_multipart", f"malformed multipart/form-data body: {error.message}") from None


def file_of(upload: object) -> BinaryIO:
    """The binary file behind a Starlette UploadFile."""
    file = getattr(upload, "file", None)
    if file is None:
        raise TypeError("not an upload")
    return cast(BinaryIO, file)
