"""Render an upload's transcript: Deepgram pre-recorded JSON, OpenAI json /
verbose_json / text, SubRip (srt) and WebVTT. Pure functions of words."""

from __future__ import annotations

import math
import re
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.uploads.pipeline import Transcript
from streaming.jobs import Word

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
"""OpenAI's `response_format` values: the upload endpoint's and `streamscribe transcribe --format`."""

SENTENCE_END = (".", "?", "!", "…")
# A period after these ends a word, not a sentence ("Mr. Smith"): cues must not be cut there.
# The same list is in client-js/transcript.js (the page's cues).
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "rev", "hon", "gen", "col", "lt", "capt", "sgt", "st", "mt", "jr", "sr"}
    | {"vs", "etc"}
)
_INITIALS = re.compile(r"[A-Z]|[A-Za-z](?:\.[A-Za-z])+")
"""`J.` or `U.S.`, `e.g.`, `a.m.`: a capital letter, or single letters joined by dots."""
_CLOSERS = "\"')]\u201d\u2019"
_OPENERS = "\"'([\u201c\u2018"
_EDGE_PUNCTUATION = '.,!?;:"()[]{}…\u201c\u201d\u2018\u2019'

# Whisper's language codes -> the names OpenAI's verbose_json reports.
LANGUAGE_NAMES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "pl": "polish",
    "ru": "russian",
    "uk": "ukrainian",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "cs": "czech",
    "tr": "turkish",
    "ar": "arabic",
    "he": "hebrew",
    "hi": "hindi",
    "ja": "japanese",
    "ko": "korean",
    "zh": "chinese",
}


def language_name(code: str | None) -> str:
    if not code:
        return "english"
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


def ends_sentence(word: str) -> bool:
    """Whether a sentence ends with this word: `you.`, `Why?`, `"Go!"`, but not `Mr.`, `e.g.` or `J.`."""
    text = word.rstrip(_CLOSERS)
    if not text.endswith(SENTENCE_END):
        return False
    if not text.endswith(".") or text.endswith(".."):
        return True  # ? ! … and an ellipsis of dots
    body = text[:-1].lstrip(_OPENERS)
    return body.lower() not in ABBREVIATIONS and not _INITIALS.fullmatch(body)


def group_words(
    words: Sequence[Word],
    *,
    max_gap_s: float,
    max_duration_s: float = math.inf,
    max_chars: float = math.inf,
    break_after_sentence: bool = False,
) -> list[Cue]:
    """Consecutive words in groups: a new group starts after a pause longer than
    `max_gap_s`, before the group would outgrow `max_duration_s` or `max_chars`,
    and (optionally) after a word that ends a sentence."""
    cues: list[Cue] = []
    group: list[Word] = []
    chars = 0
    for word in words:
        if group:
            previous = group[-1]
            split = (
                word.start - previous.end > max_gap_s
                or word.end - group[0].start > max_duration_s
                or chars + 1 + len(word.text) > max_chars
                or (break_after_sentence and ends_sentence(previous.text))
            )
            if split:
                cues.append(Cue(group[0].start, group[-1].end, tuple(group)))
                group, chars = [], 0
        chars += len(word.text) + (1 if group else 0)
        group.append(word)
    if group:
        cues.append(Cue(group[0].start, group[-1].end, tuple(group)))
    return cues


def subtitle_cues(words: Sequence[Word]) -> list[Cue]:
    """Subtitle-sized cues: at most 7 s and two lines of 42 characters."""
    return group_words(words, max_gap_s=1.0, max_duration_s=7.0, max_chars=84, break_after_sentence=True)


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render_srt(words: Sequence[Word]) -> str:
    blocks = [
        f"{i}\n{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}\n{cue.text}\n"
        for i, cue in enumerate(subtitle_cues(words), start=1)
    ]
    return "\n".join(blocks)


def render_vtt(words: Sequence[Word]) -> str:
    blocks = [
        f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n{cue.text}\n" for cue in subtitle_cues(words)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_text(transcript: Transcript) -> str:
    return transcript.text() + "\n"


def _r(value: float) -> float:
    return round(value, 3)


def bare_word(text: str) -> str:
    """The word without the punctuation around it, case kept (OpenAI's `words[].word`)."""
    return text.strip(_EDGE_PUNCTUATION) or text


def openai_json(transcript: Transcript) -> dict[str, Any]:
    return {"text": transcript.text(), "usage": {"type": "duration", "seconds": math.ceil(transcript.duration)}}


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def openai_verbose_json(transcript: Transcript, *, segments: bool = True, words: bool = False) -> dict[str, Any]:
    all_words = transcript.words()
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language_name(transcript.language),
        "duration": _r(transcript.duration),
        "text": transcript.text(),
    }
    if segments:
        groups = group_words(all_words, max_gap_s=1.0, max_duration_s=15.0, break_after_sentence=True)
        body["segments"] = [
            {
                "id": i,
                "seek": round(cue.start * 100),
                "start": _r(cue.start),
                "end": _r(cue.end),
                "text": " " + cue.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": _r(sum(math.log(max(w.confidence, 1e-6)) for w in cue.words) / len(cue.words)),
                "compression_ratio": _r(_compression_ratio(cue.text)),
                "no_speech_prob": 0.0,
            }
            for i, cue in enumerate(groups)
        ]
    if words:
        body["words"] = [{"word": bare_word(w.text), "start": _r(w.start), "end": _r(w.end)} for w in all_words]
    body["usage"] = {"type": "duration", "seconds": math.ceil(transcript.duration)}
    return body


def _deepgram_words(words: Sequence[Word]) -> list[dict[str, Any]]:
    return [
        {
            "word": w.normalized or bare_word(w.text).lower(),
            "start": _r(w.start),
            "end": _r(w.end),
            "confidence": _r(w.confidence),
            "punctuated_word": w.text,
        }
        for w in words
    ]


def _confidence(words: Sequence[Word]) -> float:
    return _r(sum(w.confidence for w in words) / len(words)) if words else 0.0


def deepgram_response(transcript: Transcript, *, utterances: bool = False, utt_split: float = 0.8) -> dict[str, Any]:
    """Deepgram's pre-recorded response: `metadata` and `results.channels[].alternatives[]`
    (and `results.utterances[]` when asked)."""
    model = transcript.model
    channels = []
    for channel in range(transcript.output_channels):
        words = transcript.words(channel)
        channels.append(
            {
                "alternatives": [
                    {
                        "transcript": transcript.text(channel),
                        "confidence": _confidence(words),
                        "words": _deepgram_words(words),
                    }
                ]
            }
        )
    results: dict[str, Any] = {"channels": channels}
    if utterances:
        results["utterances"] = [
            {
                "start": _r(cue.start),
                "end": _r(cue.end),
                "confidence": _confidence(cue.words),
                "channel": channel,
                "transcript": cue.text,
                "words": _deepgram_words(cue.words),
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{transcript.request_id}/{channel}/{cue.start:.3f}")),
            }
            for channel in range(transcript.output_channels)
            for cue in group_words(transcript.words(channel), max_gap_s=utt_split)
        ]
        results["utterances"].sort(key=lambda u: (u["start"], u["channel"]))
    return {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": transcript.request_id,
            "sha256": transcript.sha256,
            "created": transcript.created.isoformat().replace("+00:00", "Z"),
            "duration": _r(transcript.duration),
            "channels": transcript.channels,
            "models": [model.uuid],
            "model_info": {model.uuid: model.as_dict()},
            "archive": transcript.archive.as_dict(),
        },
        "results": results,
    }
