"""The S3 archive's spool on disk: what start-up does with what a previous process left, locking, reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.archive.spool import Spool, SpoolReader
from server.metrics import Metrics

SESSION = "0b9a7c1e-2f4d-4a6b-8c3d-5e7f9a1b2c3d"


def manifest(state: str, session_id: str = SESSION, **extra: object) -> dict[str, object]:
    return {"state": state, "session_id": session_id, "created": "2026-03-09T10:00:00+00:00", "channels": 2, **extra}


def make_entry(root: Path, state: str, session_id: str = SESSION, head: bytes | None = None, **extra: object) -> Path:
    path = root / session_id
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps(manifest(state, session_id, **extra)))
    if head is not None:
        (path / "head.pcm").write_bytes(head)
    return path


def test_start_up_seals_what_a_dead_process_left_and_counts_it(tmp_path: Path) -> None:
    make_entry(tmp_path, "spooling", head=b"\x01\x00" * 64000)
    (tmp_path / SESSION / "tail.pcm").write_bytes(b"\x02\x00" * 64000)
    make_entry(tmp_path, "open", "1b9a7c1e-2f4d-4a6b-8c3d-5e7f9a1b2c3d", head=b"\x00" * 1000, upload_id="u1")
    make_entry(tmp_path, "open", "2b9a7c1e-2f4d-4a6b-8c3d-5e7f9a1b2c3d", upload_id="u2")  # part 1 never on disk
    make_entry(tmp_path, "ready", "3b9a7c1e-2f4d-4a6b-8c3d-5e7f9a1b2c3d", head=b"")
    make_entry(tmp_path, "bogus", "not a session id")
    metrics = Metrics()
    spool = Spool(tmp_path, metrics)
    spool.open()
    try:
        states = {entry.session_id[:2]: entry.state for entry in spool.entries.values()}
        assert states == {"0b": "ready", "1b": "ready", "2b": "orphan", "3b": "ready"}
        transcript = spool.entries[SESSION].transcript()
        assert transcript is not None and transcript["results"] == []
        assert "first 4.0 s of audio were kept" in transcript["errors"][0]  # 256000 bytes of 2-channel audio
        assert (tmp_path / "broken" / "not a session id").is_dir()
        assert len(spool.pending()) == 4
        assert metrics.spool_recordings._value.get() == 3
    finally:
        spool.close()


def test_one_process_per_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path, Metrics())
    first.open()
    with pytest.raises(RuntimeError, match="in use"):
        Spool(tmp_path, Metrics()).open()
    first.close()
    second = Spool(tmp_path, Metrics())
    second.open()
    second.close()


def test_entry_appends_flushes_and_seals(tmp_path: Path) -> None:
    spool = Spool(tmp_path, Metrics())
    spool.open()
    entry = spool.create(SESSION, manifest("spooling"))
    entry.write_head(bytearray(b"head"))
    assert entry.append(b"a" * 1000) is False
    assert entry.append(b"b" * (300 * 1024)) is True
    entry.flush()
    entry.append(b"c")
    entry.seal({"results": [1]})
    assert entry.tail_path.read_bytes() == b"a" * 1000 + b"b" * (300 * 1024) + b"c"
    assert json.loads((entry.path / "manifest.json").read_text())["state"] == "ready"
    assert entry.transcript() == {"results": [1]}
    spool.remove(entry)
    assert not entry.path.exists() and not spool.entries
    with pytest.raises(ValueError):
        spool.create("../escape", manifest("spooling"))
    spool.close()


def test_reader_streams_a_prefix_and_files_in_chunks(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"0123456789")
    (tmp_path / "b").write_bytes(b"abcdef")
    reader = SpoolReader(b"HDR", [tmp_path / "a", tmp_path / "missing", tmp_path / "b"])
    chunks = []
    while chunk := reader.read(7):
        chunks.append(chunk)
    reader.close()
    assert chunks == [b"HDR0123", b"456789a", b"bcdef"]
