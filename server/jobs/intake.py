"""Where the bodies of asynchronous uploads wait until their job has run: a local directory, or the object
store of the S3 archive (`intake/{request_id}` under the archive's prefix).

A body store's `location` names the set of gateways that can read its bodies: every gateway on the same
object store shares `objects`; a local directory is named by a random id written into it on first use
(`.volume`), so gateways share it only where they share the directory itself (a restarted gateway with
the same directory, or a shared volume). Distributed mode keeps one job queue per location
(server/jobs/redis_async.py), so a job is only ever taken by a gateway that can read its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from server.jobs.async_uploads import IntakeUnavailable

log = logging.getLogger("streamscribe.intake")
INTAKE_PREFIX = "intake/"
"""Bodies in the object store: `{archive prefix}intake/{request_id}`, deleted once their job is done."""
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_COPY_BUFFER = 1 << 20


class BodyMissing(Exception):
    """The body of a job is not in the store (deleted, or the directory was wiped)."""


def checked_id(request_id: str) -> str:
    """`request_id` if it can name a file or object (the server makes them: UUIDs), else ValueError."""
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"invalid request id {request_id!r}")
    return request_id


class BodyStore(Protocol):
    """Bodies by request id. The caller's duties: `start()` before the rest; ids from `checked_id`."""

    location: str

    async def start(self) -> None: ...

    async def put(self, request_id: str, file: BinaryIO) -> None:
        """Store `file` from its start (OSError or the store's error when it cannot)."""
        ...

    def open(self, request_id: str) -> contextlib.AbstractAsyncContextManager[BinaryIO]:
        """The body, readable and seekable, while the context lasts. Raises BodyMissing, IntakeUnavailable."""
        ...

    async def delete(self, request_id: str) -> None:
        """Gone (no error when it was already)."""
        ...


class LocalBodyStore:
    """`{directory}/{request_id}.body`, written under a temporary name and renamed when complete."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.location = ""

    async def start(self) -> None:
        """Create the directory and read (or make) its volume id. OSError when it cannot."""
        self.location = "dir-" + await asyncio.to_thread(self._volume)

    def _volume(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self.directory / ".volume"
        try:
            with marker.open("x", encoding="ascii") as file:
                file.write(secrets.token_hex(8))
        except FileExistsError:
            pass
        volume = marker.read_text(encoding="ascii").strip()
        if not re.fullmatch(r"[0-9a-f]{16}", volume):
            raise OSError(f"{marker} does not hold a volume id (16 hex digits): remove it")
        return volume

    def path(self, request_id: str) -> Path:
        return self.directory / f"{checked_id(request_id)}.body"

    async def put(self, request_id: str, file: BinaryIO) -> None:
        await asyncio.to_thread(self._copy, file, self.path(request_id))

    @staticmethod
    def _copy(file: BinaryIO, path: Path) -> None:
        partial = path.with_suffix(".part")
        file.seek(0)
        try:
            with partial.open("wb") as out:
                shutil.copyfileobj(file, out, _COPY_BUFFER)
                out.flush()
                os.fsync(out.fileno())
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    @contextlib.asynccontextmanager
    async def open(self, request_id: str) -> AsyncIterator[BinaryIO]:
        try:
            file = await asyncio.to_thread(self.path(request_id).open, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise BodyMissing(f"the uploaded file of {request_id} is no longer in {self.directory}") from None
        try:
            yield file
        finally:
            file.close()

    async def delete(self, request_id: str) -> None:
        await asyncio.to_thread(self.path(request_id).unlink, missing_ok=True)


class ObjectStore(Protocol):
    """What ObjectBodyStore needs of the S3 archive (server/archive/s3.py S3Archive)."""

    def key(self, relative: str) -> str: ...

    async def put_file(self, key: str, file: BinaryIO) -> None: ...

    async def get_file(self, key: str, file: BinaryIO) -> bool:
        """False: no such object."""
        ...

    async def delete(self, key: str) -> None: ...


class ObjectBodyStore:
    """Bodies in the object store; a job's runner reads its body into a temporary file first (the decoder
    seeks)."""

    location = "objects"

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def start(self) -> None:
        return None

    def key(self, request_id: str) -> str:
        return self.store.key(INTAKE_PREFIX + checked_id(request_id))

    async def put(self, request_id: str, file: BinaryIO) -> None:
        await self.store.put_file(self.key(request_id), file)

    @contextlib.asynccontextmanager
    async def open(self, request_id: str) -> AsyncIterator[BinaryIO]:
        file = cast(BinaryIO, await asyncio.to_thread(tempfile.TemporaryFile, prefix="streamscribe-intake-"))
        try:
            try:
                found = await self.store.get_file(self.key(request_id), file)
            except Exception as error:  # the object store's errors
                raise IntakeUnavailable(f"the object store cannot be read: {type(error).__name__}: {error}") from error
            if not found:
                raise BodyMissing(f"the uploaded file of {request_id} is no longer in the object store")
            await asyncio.to_thread(file.seek, 0)
            yield file
        finally:
            file.close()

    async def delete(self, request_id: str) -> None:
        await self.store.delete(self.key(request_id))
