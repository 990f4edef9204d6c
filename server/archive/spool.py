"""The S3 archive's local spool: recordings wait here while the object store is unreachable.

One directory per recording, named by its session id (server-generated, checked
by `valid_session_id`): `manifest.json`, and where it applies `head.pcm` (the
PCM of multipart part 1, uploaded last with the final WAV header), `tail.pcm`
(the PCM after the last part the store acknowledged) and `transcript.json`.

States in the manifest:

* `open`: a live session streams to the store; the entry is its journal: part
  1's audio (uploaded last, with the final WAV header), the upload id and the
  parts the store acknowledged.
* `spooling`: the store failed during the session; its audio now goes to disk.
* `ready`: the session ended; the drainer uploads it and removes the entry.
* `orphan`: an `open` entry without part 1, found at start-up: its upload
  cannot be completed and is aborted.

An `open` or `spooling` entry found at start-up (the process died
mid-session) is sealed with a transcript that says so and uploaded with the
audio it holds. The directory is locked (flock) so that two processes never
drain the same spool.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import IO, Any

from server.archive.base import valid_session_id
from server.metrics import Metrics
from streaming.archive_document import archive_document
from streaming.codecs import SAMPLE_RATE

log = logging.getLogger("streamscribe.archive")
FLUSH_BYTES = 256 * 1024
_MANIFEST = "manifest.json"


def _write_atomic(path: Path, data: bytes | bytearray) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


class SpoolEntry:
    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    @property
    def session_id(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        return str(self.manifest["state"])

    @property
    def head_path(self) -> Path:
        return self.path / "head.pcm"

    @property
    def tail_path(self) -> Path:
        return self.path / "tail.pcm"

    @property
    def transcript_path(self) -> Path:
        return self.path / "transcript.json"

    def save(self) -> None:
        _write_atomic(self.path / _MANIFEST, json.dumps(self.manifest, indent=1).encode())

    def write_head(self, data: bytes | bytearray) -> None:
        _write_atomic(self.head_path, data)

    def append(self, data: bytes) -> bool:
        """Buffer `data` for tail.pcm; True when the buffer should be flushed (`flush`, in a thread)."""
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
        return self._pending_bytes >= FLUSH_BYTES

    def flush(self) -> None:
        data, self._pending, self._pending_bytes = b"".join(self._pending), [], 0
        with self.tail_path.open("ab") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    def seal(self, transcript: dict[str, Any]) -> None:
        """The session ended: keep the last audio and its transcript, and mark the entry ready."""
        self.flush()
        _write_atomic(self.transcript_path, json.dumps(transcript, ensure_ascii=False, indent=1).encode())
        self.manifest["state"] = "ready"
        self.save()

    def transcript(self) -> dict[str, Any] | None:
        try:
            document: dict[str, Any] = json.loads(self.transcript_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document

    def file_size(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def size_bytes(self) -> int:
        return sum(self.file_size(p) for p in (self.head_path, self.tail_path, self.transcript_path))


class SpoolReader:
    """The bytes of several files (and a leading bytes object) read as one stream; blocking."""

    def __init__(self, first: bytes, paths: list[Path]) -> None:
        self._first = first
        self._paths = [p for p in paths if p.exists()]
        self._file: IO[bytes] | None = None

    def read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        wanted = size
        if self._first:
            chunks.append(self._first[:wanted])
            self._first = self._first[wanted:]
            wanted -= len(chunks[-1])
        while wanted > 0:
            if self._file is None:
                if not self._paths:
                    break
                self._file = self._paths.pop(0).open("rb")
            data = self._file.read(wanted)
            if not data:
                self._file.close()
                self._file = None
                continue
            chunks.append(data)
            wanted -= len(data)
        return b"".join(chunks)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Spool:
    def __init__(self, root: Path, metrics: Metrics) -> None:
        self.root = root
        self.metrics = metrics
        self.entries: dict[str, SpoolEntry] = {}
        """By session id; changed from worker threads (the blocking methods), so only under `_mutex`."""
        self._mutex = threading.Lock()
        self._lock: IO[bytes] | None = None

    def open(self) -> None:
        """Lock the directory and take over what a previous process left (blocking; at start-up)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = (self.root / ".lock").open("ab")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(f"spool directory {self.root} is in use by another streamscribe process") from None
        self._lock = lock
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or path.name == "broken":
                continue
            try:
                manifest = json.loads((path / _MANIFEST).read_text(encoding="utf-8"))
                if not valid_session_id(path.name) or manifest.get("state") not in ("open", "spooling", "ready"):
                    raise ValueError(f"unexpected manifest {manifest!r:.200}")
            except (OSError, ValueError) as error:
                self.quarantine(path, f"unreadable: {error}")
                continue
            entry = SpoolEntry(path, manifest)
            if entry.state == "open" and not entry.head_path.exists():
                entry.manifest["state"] = "orphan"
            elif entry.state in ("open", "spooling"):
                log.warning("archive: session %s was cut off by a restart; uploading the audio it left", path.name)
                entry.seal(entry.transcript() or _cut_off_transcript(entry))
            with self._mutex:
                self.entries[path.name] = entry
        self.refresh()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def create(self, session_id: str, manifest: dict[str, Any]) -> SpoolEntry:
        """A new entry (blocking: run it in a thread). Replaces an `open` journal of the same session."""
        if not valid_session_id(session_id):
            raise ValueError(f"invalid session id {session_id!r}")
        path = self.root / session_id
        path.mkdir(parents=True, exist_ok=True)
        entry = SpoolEntry(path, manifest)
        entry.save()
        with self._mutex:
            self.entries[session_id] = entry
        return entry

    def pending(self) -> list[SpoolEntry]:
        """Entries the drainer should handle, oldest first."""
        with self._mutex:
            ready = [e for e in self.entries.values() if e.state in ("ready", "orphan")]
        return sorted(ready, key=lambda e: (str(e.manifest.get("created", "")), e.session_id))

    def remove(self, entry: SpoolEntry) -> None:
        with self._mutex:
            self.entries.pop(entry.session_id, None)
        shutil.rmtree(entry.path, ignore_errors=True)
        self.refresh()

    def quarantine(self, path: Path, reason: str) -> None:
        """Move an entry that cannot be handled to broken/, where it is kept for a person to look at."""
        log.error("archive: spool entry %s %s; moved to %s", path.name, reason, self.root / "broken")
        with self._mutex:
            self.entries.pop(path.name, None)
        (self.root / "broken").mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(path, self.root / "broken" / path.name)
        self.refresh()

    def refresh(self) -> None:
        with self._mutex:
            waiting = [e for e in self.entries.values() if e.state in ("spooling", "ready")]
        self.metrics.spool_recordings.set(len(waiting))
        self.metrics.spool_bytes.set(sum(e.size_bytes() for e in waiting))


def _cut_off_transcript(entry: SpoolEntry) -> dict[str, Any]:
    manifest = entry.manifest
    kept = entry.file_size(entry.head_path) + int(manifest.get("middle_bytes") or 0)
    kept += entry.file_size(entry.tail_path)
    seconds = kept / (2 * SAMPLE_RATE * int(manifest.get("channels") or 1))
    error = (
        f"the gateway stopped before the session ended: its transcript was lost; "
        f"its first {seconds:.1f} s of audio were kept"
    )
    return archive_document(
        request_id=str(manifest.get("session_id")),
        created=str(manifest.get("created")),
        source="cut_off",
        channels=int(manifest.get("channels") or 1),
        duration_s=seconds,
        params={},
        model_info=None,
        results=[],
        errors=[error],
    )
