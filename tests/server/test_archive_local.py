"""Local-directory archive: layout, content, and failures reported instead of raised."""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from server.archive.base import LocalArchive, recording_key

STARTED = datetime(2026, 11, 24, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200, "id with space", "é"])
def test_key_refuses_anything_but_a_plain_id(bad: str) -> None:
    with pytest.raises(ValueError):
        recording_key(bad, STARTED, "wav")


def test_key_layout() -> None:
    assert recording_key("abc-123", STARTED, "json") == "recordings/2026/11/24/abc-123.json"
    with pytest.raises(ValueError):
        recording_key("abc", STARTED, "exe")


async def test_audio_and_transcript_are_written(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path)
    recording = await archive.open("s1", STARTED, channels=2)
    blocks = [np.full((16000, 2), i, dtype=np.int16) for i in range(20)]  # 20 s: several flushes
    for block in blocks:
        await recording.write(block)
    outcome = await recording.finish({"request_id": "s1", "results": []})
    assert outcome.stored and outcome.error is None
    with wave.open(str(tmp_path / "recordings/2026/11/24/s1.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16000, 320000)
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    np.testing.assert_array_equal(data, np.concatenate(blocks))
    assert json.loads((tmp_path / "recordings/2026/11/24/s1.json").read_text())["request_id"] == "s1"


async def test_session_without_audio_still_archives_its_transcript(tmp_path: Path) -> None:
    recording = await LocalArchive(tmp_path).open("s2", STARTED, channels=1)
    assert (await recording.finish({"results": []})).stored
    with wave.open(str(tmp_path / "recordings/2026/11/24/s2.wav")) as wav:
        assert wav.getnframes() == 0


async def test_unwritable_root_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the archive directory should be")
    recording = await LocalArchive(blocker).open("s3", STARTED, channels=1)
    await recording.write(np.zeros((400000, 1), dtype=np.int16))
    outcome = await recording.finish({"results": []})
    assert outcome.stored is False
    assert outcome.error is not None and "not-a-directory" in outcome.error
