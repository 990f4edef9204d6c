"""Rendering of upload transcripts: SRT, WebVTT, OpenAI json/verbose_json, Deepgram JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from server.archive.base import ArchiveOutcome
from server.uploads.decode import AudioInfo
from server.uploads.formats import (
    bare_word,
    deepgram_response,
    group_words,
    language_name,
    openai_json,
    openai_verbose_json,
    render_srt,
    render_text,
    render_vtt,
    subtitle_cues,
)
from server.uploads.pipeline import SegmentTranscript, Transcript
from streaming.jobs import Word
from streaming.protocol import ModelInfo

MODEL = ModelInfo(name="tiny.en", version="faster-whisper", arch="whisper", uuid="abc123")


def words(spec: str, start: float = 0.0, step: float = 0.5) -> tuple[Word, ...]:
    """'Hello world.' -> words 0.5 s apart, each 0.4 s long, starting at `start`."""
    return tuple(Word(text, start + i * step, start + i * step + 0.4, 0.9) for i, text in enumerate(spec.split()))


def transcript(*segments: SegmentTranscript, duration: float = 60.0, channels: int = 1) -> Transcript:
    return Transcript(
        request_id="req-1",
        created=datetime(2026, 11, 24, 4, 0, tzinfo=UTC),
        duration=duration,
        channels=channels,
        output_channels=channels,
        segments=segments,
        model=MODEL,
        media=AudioInfo("wav", "pcm_s16le", channels, 16000, duration),
        mime="audio/x-wav",
        language=None,
        sha256="f" * 64,
        archive=ArchiveOutcome(stored=True, location="/archive/x"),
    )


def segment(spec: str, start: float, channel: int = 0, seq: int = 1) -> SegmentTranscript:
    ws = words(spec, start)
    return SegmentTranscript(channel, seq, start, ws[-1].end + 0.2, True, ws)


def test_groups_split_at_pauses_length_and_sentences() -> None:
    ws = [*words("one two three", 0.0), *words("four five", 5.0)]
    assert [c.text for c in group_words(ws, max_gap_s=1.0)] == ["one two three", "four five"]
    assert [c.text for c in group_words(ws, max_gap_s=10.0, max_chars=9)] == ["one two", "three", "four five"]
    assert [c.text for c in group_words(ws, max_gap_s=10.0, max_duration_s=1.0)] == [
        "one two",
        "three",
        "four five",
    ]
    sentences = words("Hi there. How are you? Fine")
    assert [c.text for c in group_words(sentences, max_gap_s=9, break_after_sentence=True)] == [
        "Hi there.",
        "How are you?",
        "Fine",
    ]
    cue = group_words(ws, max_gap_s=1.0)[1]
    assert (cue.start, cue.end) == (5.0, 5.9)
    assert group_words([], max_gap_s=1.0) == []


def test_subtitle_cues_stay_short() -> None:
    long_run = words(" ".join(f"word{i}" for i in range(60)), step=0.3)
    cues = subtitle_cues(long_run)
    assert all(cue.end - cue.start <= 7.0 and len(cue.text) <= 84 for cue in cues)
    assert " ".join(cue.text for cue in cues) == " ".join(w.text for w in long_run)


def test_srt_and_vtt_layout() -> None:
    ws = [*words("Ask not.", 1.0), *words("What you can do", 3661.5)]
    assert render_srt(ws) == (
        "1\n00:00:01,000 --> 00:00:01,900\nAsk not.\n\n2\n01:01:01,500 --> 01:01:03,400\nWhat you can do\n"
    )
    assert render_vtt(ws) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:01.900\nAsk not.\n\n01:01:01.500 --> 01:01:03.400\nWhat you can do\n"
    )
    assert render_srt([]) == ""
    assert render_vtt([]) == "WEBVTT\n\n"


def test_openai_json_and_text() -> None:
    t = transcript(segment("Hello there.", 0.0), segment("General Kenobi.", 10.0, seq=2), duration=12.2)
    assert openai_json(t) == {"text": "Hello there. General Kenobi.", "usage": {"type": "duration", "seconds": 13}}
    assert render_text(t) == "Hello there. General Kenobi.\n"
    assert render_text(transcript()) == "\n"


def test_verbose_json_segments_and_words() -> None:
    t = transcript(segment("Hello, there.", 0.0), segment("General Kenobi!", 10.0, seq=2), duration=12.0)
    body = openai_verbose_json(t, segments=True, words=True)
    assert body["task"] == "transcribe" and body["language"] == "english" and body["duration"] == 12.0
    assert [s["text"] for s in body["segments"]] == [" Hello, there.", " General Kenobi!"]
    first = body["segments"][0]
    assert (first["id"], first["start"], first["end"]) == (0, 0.0, 0.9)
    assert first["avg_logprob"] < 0 and first["no_speech_prob"] == 0.0
    assert [w["word"] for w in body["words"]] == ["Hello", "there", "General", "Kenobi"]
    assert body["words"][2] == {"word": "General", "start": 10.0, "end": 10.4}
    plain = openai_verbose_json(t, segments=False, words=False)
    assert "segments" not in plain and "words" not in plain


def test_deepgram_response_shape() -> None:
    t = transcript(segment("Hello there.", 0.0), segment("General Kenobi.", 10.0, seq=2))
    body = deepgram_response(t, utterances=True, utt_split=0.8)
    metadata = body["metadata"]
    assert metadata["request_id"] == "req-1" and metadata["models"] == ["abc123"]
    assert metadata["model_info"] == {"abc123": {"name": "tiny.en", "version": "faster-whisper", "arch": "whisper"}}
    assert re.fullmatch(r"2026-11-24T04:00:00Z", metadata["created"])
    assert metadata["archive"] == t.archive.as_dict()
    assert metadata["archive"]["stored"] is True and metadata["archive"]["location"] == "/archive/x"
    alternative = body["results"]["channels"][0]["alternatives"][0]
    assert alternative["transcript"] == "Hello there. General Kenobi."
    assert alternative["words"][1] == {
        "word": "there",
        "start": 0.5,
        "end": 0.9,
        "confidence": 0.9,
        "punctuated_word": "there.",
    }
    utterances = body["results"]["utterances"]
    assert [u["transcript"] for u in utterances] == ["Hello there.", "General Kenobi."]
    assert utterances[1]["start"] == 10.0 and utterances[1]["channel"] == 0 and utterances[1]["id"]
    assert "utterances" not in deepgram_response(t)["results"]


def test_deepgram_multichannel_keeps_channels_apart() -> None:
    t = transcript(segment("Left side.", 0.0, channel=0), segment("Right side.", 0.2, channel=1), channels=2)
    body = deepgram_response(t, utterances=True)
    assert [c["alternatives"][0]["transcript"] for c in body["results"]["channels"]] == ["Left side.", "Right side."]
    assert [(u["channel"], u["transcript"]) for u in body["results"]["utterances"]] == [
        (0, "Left side."),
        (1, "Right side."),
    ]


@pytest.mark.parametrize(
    ("text", "bare"), [("Hello,", "Hello"), ("“Quote”", "Quote"), ("don't", "don't"), ("...", "...")]
)
def test_bare_word(text: str, bare: str) -> None:
    assert bare_word(text) == bare


def test_language_names() -> None:
    assert language_name(None) == "english"
    assert language_name("de") == "german"
    assert language_name("xx") == "xx"
