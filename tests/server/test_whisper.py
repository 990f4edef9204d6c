"""The faster-whisper adapter with the real tiny.en model: batched decoding gives each clip its own words."""

from __future__ import annotations

import itertools

import jiwer
import pytest

from server.config import Settings
from server.models import resolve_model
from server.whisper import FasterWhisperTranscriber
from streaming.transcript import JobKind, TranscribeOptions
from tests import audio


def same_text(a: str, b: str) -> bool:
    """At most 10% of characters differ once case, punctuation and spacing are set aside."""
    a, b = (audio.normalize_text(t).replace(" ", "") for t in (a, b))
    return bool(jiwer.cer(a, b) <= 0.1) if a else not b


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model("tiny.en", Settings().model_cache_dir), cpu_threads=2)


@pytest.mark.parametrize("kind", [JobKind.FINAL, JobKind.INTERIM])
def test_a_batch_transcribes_each_clip_like_a_call_of_its_own(
    transcriber: FasterWhisperTranscriber, kind: JobKind
) -> None:
    clips = audio.librivox_clips()
    batch = transcriber.transcribe_batch([clip.audio for clip in clips], TranscribeOptions(), kind)
    assert len(batch) == len(clips)
    said = " ".join(w.text for words in batch for w in words)
    assert audio.wer(" ".join(clip.text for clip in clips), said) <= 0.12
    for clip, words in zip(clips, batch, strict=True):
        alone = transcriber.transcribe(clip.audio, TranscribeOptions(), kind)
        # Same words, on the clip's own clock (not the offset inside the batch). Batched
        # int8 kernels round differently, so a word may come out hyphenated in one and
        # not the other ("cold-hearted"): compare characters, not words.
        assert same_text(" ".join(w.text for w in alone), " ".join(w.text for w in words))
        assert 0.0 <= words[0].start < 1.0
        assert all(a.start <= b.start for a, b in itertools.pairwise(words))
        assert words[-1].end <= clip.duration + 0.05
        assert abs(words[0].start - alone[0].start) < 0.2 and abs(words[-1].end - alone[-1].end) < 0.3


def test_a_batch_of_one_and_of_none(transcriber: FasterWhisperTranscriber) -> None:
    clip = audio.librivox_clips()[1]
    (words,) = transcriber.transcribe_batch([clip.audio], TranscribeOptions(), JobKind.FINAL)
    assert [w.text for w in words] == [
        w.text for w in transcriber.transcribe(clip.audio, TranscribeOptions(), JobKind.FINAL)
    ]
    assert transcriber.transcribe_batch([], TranscribeOptions(), JobKind.FINAL) == []
