"""Whisper on a window sized from the audio instead of a fixed 30 s one.

faster-whisper pads every mel input to 3000 frames (30 s), so a call costs the
same for one word as for 29 s of speech. CTranslate2's Whisper encoder takes
shorter inputs; a window that ends right at the audio makes Whisper loop or drop
words, but one with a few seconds of silence after the speech and no shorter
than about 10 s gives the 30 s window's words (README "Short windows" has the
measurements behind :class:`WindowRule`'s defaults).

This module decodes one segment the way ``WhisperModel.generate_segments``
does (prompt, temperature fallback, the no-speech check, splitting at timestamp
tokens, word alignment, seeking past an unfinished last sentence), on windows
of its own size. It uses ``WhisperModel``'s building blocks (``encode``,
``generate_with_fallback``, ``add_word_timestamps``): together with
server/transcribe/whisper.py, the only importers of faster_whisper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from streaming.codecs import SAMPLE_RATE

if TYPE_CHECKING:  # imported when decoding: the settings below must not pull in faster_whisper
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import Segment, TranscriptionOptions

MAX_NEW_TOKENS = 200
FULL_WINDOW_FRAMES = 3000
"""Whisper's own window: 30 s of 10 ms mel frames."""

# faster-whisper's defaults for attaching punctuation to words (CJK forms included).
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"  # noqa: RUF001


@dataclass(frozen=True, slots=True)
class WindowRule:
    """How long a window is for a given length of audio: ``max(min_s, audio + pad_s)``, at most 30 s."""

    min_s: float = 10.0
    """Shorter windows lose or repeat words (measured: README "Short windows")."""
    pad_s: float = 3.0
    """Silence after the speech: Whisper ends a sentence with a timestamp only when it hears its end."""
    tokens_per_s: float = 8.0
    """Cap on generated tokens per second of audio (speech runs at about 3-5 text tokens a second,
    plus timestamps): a looping decode stops there instead of filling 448 tokens."""
    min_tokens: int = 24

    def frames(self, content_frames: int) -> int:
        """Mel frames of the window for `content_frames` of audio (even: the encoder halves them)."""
        wanted = max(self.min_s * 100, content_frames + self.pad_s * 100)
        frames = min(FULL_WINDOW_FRAMES, math.ceil(wanted))
        return frames + frames % 2  # 3000 is even: rounding up stays within Whisper's window

    def max_new_tokens(self, seconds: float) -> int:
        # At most 200: with the longest prompt Whisper allows (223 tokens) the whole
        # sequence stays within its 448 positions (faster-whisper refuses more).
        return min(MAX_NEW_TOKENS, self.min_tokens + math.ceil(self.tokens_per_s * seconds))


DEFAULT_WINDOW = WindowRule()
FULL_WINDOW = WindowRule(min_s=30.0, pad_s=0.0)
"""Whisper's own 30 s window through this decoder: the same output as faster-whisper's `transcribe`."""

DOUBT_NO_SPEECH_PROB = 0.35
"""Above this, a short window's no-speech probability is checked on the 30 s window: short windows
raise it (0.63 against 0.24 on a clipped "what your country"), so Whisper's doubt guard could drop words."""
MAX_WORDS_PER_S = 4.0
"""Faster than anyone speaks: more words than this per second of audio is a loop ("4 2 7 9 4 2 7 9")."""


@dataclass(frozen=True, slots=True)
class DecodeRequest:
    """One segment's decoding parameters (the ones :class:`TranscriptionOptions` needs from us)."""

    language: str | None
    beam_size: int
    temperatures: tuple[float, ...]
    prompt: str | None
    hotwords: str | None
    log_prob_threshold: float
    no_speech_threshold: float
    compression_ratio_threshold: float


def _options(tokenizer: Tokenizer, request: DecodeRequest, max_new_tokens: int) -> TranscriptionOptions:
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    return TranscriptionOptions(
        beam_size=request.beam_size,
        best_of=1,
        patience=1,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        log_prob_threshold=request.log_prob_threshold,
        no_speech_threshold=request.no_speech_threshold,
        compression_ratio_threshold=request.compression_ratio_threshold,
        condition_on_previous_text=False,
        prompt_reset_on_temperature=0.5,
        temperatures=list(request.temperatures),
        initial_prompt=request.prompt,
        prefix=None,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        without_timestamps=False,
        max_initial_timestamp=1.0,
        word_timestamps=True,
        prepend_punctuations=PREPEND_PUNCTUATIONS,
        append_punctuations=APPEND_PUNCTUATIONS,
        multilingual=False,
        max_new_tokens=max_new_tokens,
        clip_timestamps="0",
        hallucination_silence_threshold=None,
        hotwords=request.hotwords,
    )


def decode_checked(
    whisper: Any, samples: npt.NDArray[np.float32], request: DecodeRequest, rule: WindowRule
) -> tuple[list[Segment], bool]:
    """:func:`decode` on `rule`'s window; a :func:`doubtful` result is decoded again on the 30 s
    window (the mel features are computed once for both). Returns the segments and whether it
    fell back."""
    # padding=160 as faster-whisper does; no chunk_length: that would change the shared extractor.
    features = whisper.feature_extractor(samples)
    segments = decode(whisper, features, request, rule)
    if rule == FULL_WINDOW or not doubtful(segments, len(samples) / SAMPLE_RATE, request):
        return segments, False
    return decode(whisper, features, request, FULL_WINDOW), True


def decode_unless_doubtful(
    whisper: Any, samples: npt.NDArray[np.float32], request: DecodeRequest, rule: WindowRule
) -> list[Segment] | None:
    """:func:`decode` on `rule`'s window; None when the result is :func:`doubtful`.

    For interims, which their final replaces: a doubtful reading is withheld
    instead of decoded again on the 30 s window. Most doubtful readings are an
    utterance's first half second (too little speech to be sure of, on any window:
    the 30 s window mostly guesses there too), and the second decode made them
    the most expensive interims: measured at 8 streams on two cores, a third of
    the interims and of the workers' time (README "Doubtful interims")."""
    segments = decode(whisper, whisper.feature_extractor(samples), request, rule)
    return None if doubtful(segments, len(samples) / SAMPLE_RATE, request) else segments


def decode(whisper: Any, features: npt.NDArray[np.float32], request: DecodeRequest, rule: WindowRule) -> list[Segment]:
    """Segments of one segment's mel `features` (``whisper.feature_extractor`` of at most 30 s of
    16 kHz audio), with word times from its first sample.

    `whisper` is a loaded ``faster_whisper.WhisperModel``; it is only read, so
    concurrent calls are as safe as concurrent ``transcribe`` calls."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    content_frames = features.shape[-1] - 1
    tokenizer: Tokenizer | None = None
    prompt_tokens: list[int] = []
    segments: list[Segment] = []
    seek = 0
    while seek < content_frames:
        size = content_frames - seek
        window = rule.frames(size)
        if size > window:  # more than 30 s left: Whisper's own window, then seek on
            size = window
        encoder_output = whisper.encode(pad_or_trim(features[:, seek : seek + size], window))
        if tokenizer is None:
            tokenizer = Tokenizer(
                whisper.hf_tokenizer,
                whisper.model.is_multilingual,
                task="transcribe",
                language=request.language or _detect_language(whisper, encoder_output),
            )
            if request.prompt:
                prompt_tokens = tokenizer.encode(" " + request.prompt.strip())
        options = _options(tokenizer, request, rule.max_new_tokens(size / 100))
        found, seek = _decode_window(whisper, tokenizer, options, encoder_output, prompt_tokens, seek, size)
        segments.extend(found)
    return segments


def _detect_language(whisper: Any, encoder_output: Any) -> str:
    token: str = whisper.model.detect_language(encoder_output)[0][0][0]
    return token[2:-2]


def _decode_window(
    whisper: Any,
    tokenizer: Tokenizer,
    options: TranscriptionOptions,
    encoder_output: Any,
    prompt_tokens: list[int],
    seek: int,
    size: int,
) -> tuple[list[Segment], int]:
    """Decode one window that starts at frame `seek` and holds `size` frames of audio; returns
    its segments and where the next window starts (after the last complete sentence)."""
    prompt = whisper.get_prompt(tokenizer, prompt_tokens, without_timestamps=False, hotwords=options.hotwords)
    result, avg_logprob, temperature, compression_ratio = whisper.generate_with_fallback(
        encoder_output, prompt, tokenizer, options
    )
    if result.no_speech_prob > options.no_speech_threshold and avg_logprob <= options.log_prob_threshold:
        return [], seek + size  # Whisper's no-speech rule: this window is silence
    if seek > 0 and avg_logprob < options.log_prob_threshold:
        # A window after an unfinished sentence holds the segment's last moments, mostly the
        # silence that ended it: a decode that failed the quality check at every temperature
        # there is a hallucination ("So, that's what I'm going to do"), not words.
        return [], seek + size
    time_offset = seek / 100
    pieces, next_seek, single_timestamp_ending = whisper._split_segments_by_timestamps(
        tokenizer=tokenizer,
        tokens=result.sequences_ids[0],
        time_offset=time_offset,
        segment_size=size,
        segment_duration=size / 100,
        seek=seek,
    )
    whisper.add_word_timestamps(
        [pieces],
        tokenizer,
        encoder_output,
        size,
        options.prepend_punctuations,
        options.append_punctuations,
        last_speech_timestamp=time_offset,
    )
    if not single_timestamp_ending:
        ends = [word["end"] for piece in pieces for word in piece.get("words") or ()]
        if ends and ends[-1] > time_offset:
            next_seek = round(ends[-1] * 100)
    next_seek = max(next_seek, seek + 1)  # always move on: a window never decodes twice
    return _segments(
        tokenizer, pieces, seek, result.no_speech_prob, avg_logprob, temperature, compression_ratio
    ), next_seek


def _segments(
    tokenizer: Tokenizer,
    pieces: list[dict[str, Any]],
    seek: int,
    no_speech_prob: float,
    avg_logprob: float,
    temperature: float,
    compression_ratio: float,
) -> list[Segment]:
    """faster-whisper's Segments from one window's pieces, skipping empty ones as it does."""
    from faster_whisper.transcribe import Segment, Word

    return [
        Segment(
            id=index,
            seek=seek,
            start=piece["start"],
            end=piece["end"],
            text=tokenizer.decode(piece["tokens"]),
            tokens=piece["tokens"],
            temperature=temperature,
            avg_logprob=avg_logprob,
            compression_ratio=compression_ratio,
            no_speech_prob=no_speech_prob,
            words=[Word(**word) for word in piece.get("words") or ()],
        )
        for index, piece in enumerate(pieces)
        if piece["start"] != piece["end"] and tokenizer.decode(piece["tokens"]).strip()
    ]


def doubtful(segments: list[Segment], seconds: float, request: DecodeRequest) -> bool:
    """Whether a short window's result should be checked on the 30 s window.

    Short windows are cheaper but less robust: on short or repetitive audio they
    can loop, and they raise the no-speech probability. A result is doubted when
    it is empty, failed Whisper's quality checks, doubts there was speech, talks
    faster than a person can, or repeats itself."""
    if not segments:
        return True
    words = [w.word.strip().lower() for s in segments for w in s.words or ()]
    if any(
        s.avg_logprob < request.log_prob_threshold
        or s.compression_ratio > request.compression_ratio_threshold
        or s.no_speech_prob > DOUBT_NO_SPEECH_PROB
        for s in segments
    ):
        return True
    return (len(words) >= 4 and len(words) > MAX_WORDS_PER_S * seconds) or _repeats(words)


def _repeats(words: list[str], times: int = 3) -> bool:
    """An n-gram (n <= 4) said `times` times in a row."""
    for n in range(1, 5):
        for start in range(len(words) - n * times + 1):
            gram = words[start : start + n]
            if all(words[start + k * n : start + (k + 1) * n] == gram for k in range(1, times)):
                return True
    return False
