"""faster-whisper adapter: the only module that imports faster_whisper."""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from server.transcribe import short_window
from server.transcribe.model_files import ResolvedModel
from server.transcribe.short_window import DEFAULT_WINDOW, DecodeRequest, WindowRule
from streaming.codecs import SAMPLE_RATE, Int16Array
from streaming.jobs import JobKind, TranscribeOptions, Word

# Whisper's stock phrases on silence and noise: dropped when the model itself
# doubted there was speech.
_STOCK_PHRASES = {
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "thanks for listening",
    "you",
    "bye",
    "subtitles by the amaraorg community",
}
_NON_WORD = re.compile(r"[^a-z ]+")


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    final_beam_size: int = 5
    interim_beam_size: int = 1
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    doubt_log_prob: float = -0.5
    """A segment with no_speech_prob above the threshold and avg_logprob below this is dropped."""
    compression_ratio_threshold: float = 2.4
    final_window: WindowRule | None = None
    """Size each final's window from its audio (short_window.py); None: faster-whisper's 30 s window."""
    interim_window: WindowRule | None = None
    """The same for interims."""
    hurried_window: WindowRule | None = None
    """The window of a hurried final (server/jobs/hurry.py); None: its usual window."""

    def window(self, kind: JobKind, *, hurried: bool = False) -> WindowRule | None:
        if kind is JobKind.INTERIM:
            return self.interim_window
        return (self.hurried_window or self.final_window) if hurried else self.final_window


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """Where this process runs Whisper, decided once from the settings and the machine."""

    device: Literal["cpu", "cuda"]
    compute_type: str
    max_batch: int


def plan_device(device: str, compute_type: str | None, max_batch: int | None) -> DevicePlan:
    """`auto` picks CUDA when CTranslate2 sees a GPU; unset compute type and batch follow the device."""
    chosen: Literal["cpu", "cuda"] = "cuda" if device == "cuda" or (device == "auto" and _cuda_devices()) else "cpu"
    gpu = chosen == "cuda"
    return DevicePlan(chosen, compute_type or ("float16" if gpu else "int8"), max_batch or (8 if gpu else 1))


def _cuda_devices() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # a CUDA build without a driver
        return 0


def _plain(text: str) -> str:
    return " ".join(_NON_WORD.sub("", text.lower()).split())


def is_hallucination(segment: Any, settings: DecodeSettings) -> bool:
    """Decide from Whisper's own signals whether a decoded segment is not speech."""
    if segment.compression_ratio > settings.compression_ratio_threshold:
        return True  # repetition loops
    doubted = segment.no_speech_prob > settings.no_speech_threshold
    if doubted and segment.avg_logprob < settings.doubt_log_prob:
        return True
    return bool(_plain(segment.text) in _STOCK_PHRASES and (doubted or segment.avg_logprob < -0.8))


class FasterWhisperTranscriber:
    """A warm WhisperModel. `transcribe` is thread-safe up to `workers` concurrent calls."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        workers: int = 1,
        decode: DecodeSettings | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model = model
        self.decode = decode or DecodeSettings()
        self.window_fallbacks = 0
        """Short-window finals decoded again on the 30 s window (see `short_window.decode_checked`)."""
        self.withheld_interims = 0
        """Short-window interims whose reading was doubtful (see `short_window.decode_unless_doubtful`)."""
        try:
            self._whisper = WhisperModel(
                str(model.path),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=workers,
            )
        except Exception as error:  # CTranslate2 raises RuntimeError/ValueError with its own text
            raise RuntimeError(f"could not load Whisper model from {model.path}: {error}") from error

    def warm_up(self) -> float:
        """One call on a second of quiet noise so the first real job is not slow."""
        started = time.perf_counter()
        noise = (np.random.default_rng(0).standard_normal(SAMPLE_RATE) * 30).astype(np.int16)
        self.transcribe(noise, TranscribeOptions(), JobKind.FINAL)
        return time.perf_counter() - started

    def _language(self, options: TranscribeOptions) -> str | None:
        return options.language if self.model.multilingual else "en"

    def _beam(self, kind: JobKind) -> int:
        return self.decode.final_beam_size if kind is JobKind.FINAL else self.decode.interim_beam_size

    @staticmethod
    def _hotwords(options: TranscribeOptions) -> str | None:
        return ", ".join(options.hotwords) if options.hotwords and not options.prompt else None

    def _temperatures(self, kind: JobKind) -> tuple[float, ...]:
        return (0.0,) if kind is JobKind.INTERIM else (0.0, 0.2, 0.4)

    def transcribe(
        self, audio: Int16Array, options: TranscribeOptions, kind: JobKind, *, hurried: bool = False
    ) -> list[Word] | None:
        """Words of `audio` with times relative to its first sample. None: an interim on a short
        window whose reading was doubtful, withheld (`JobResult.withheld`). `hurried`: a late final,
        on `DecodeSettings.hurried_window`."""
        samples = audio.astype(np.float32) / 32768.0
        window = self.decode.window(kind, hurried=hurried)
        if window is not None:
            request = DecodeRequest(
                language=self._language(options),
                beam_size=self._beam(kind),
                temperatures=self._temperatures(kind),
                prompt=options.prompt,
                hotwords=self._hotwords(options),
                log_prob_threshold=self.decode.log_prob_threshold,
                no_speech_threshold=self.decode.no_speech_threshold,
                compression_ratio_threshold=self.decode.compression_ratio_threshold,
            )
            if kind is JobKind.INTERIM:
                found = short_window.decode_unless_doubtful(self._whisper, samples, request, window)
                self.withheld_interims += found is None
                return None if found is None else self._words(found)
            segments, fell_back = short_window.decode_checked(self._whisper, samples, request, window)
            self.window_fallbacks += fell_back
            return self._words(segments)
        segments, _info = self._whisper.transcribe(
            samples,
            language=self._language(options),
            beam_size=self._beam(kind),
            best_of=1,
            temperature=list(self._temperatures(kind)),
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=options.prompt,
            hotwords=self._hotwords(options),
            no_speech_threshold=self.decode.no_speech_threshold,
            log_prob_threshold=self.decode.log_prob_threshold,
            compression_ratio_threshold=self.decode.compression_ratio_threshold,
            # Looping audio (tones, one syllable over and over) stops at a length speech could have.
            max_new_tokens=self._token_cap(len(audio), kind),
        )
        return self._words(segments)

    def _token_cap(self, samples: int, kind: JobKind) -> int:
        return (self.decode.window(kind) or DEFAULT_WINDOW).max_new_tokens(samples / SAMPLE_RATE)

    def transcribe_batch(
        self, audios: Sequence[Int16Array], options: TranscribeOptions, kind: JobKind
    ) -> list[list[Word] | None]:
        """Words of each clip, decoded as one CTranslate2 batch (encoder, decoder and word alignment).

        Each clip must fit Whisper's 30 s window. A clip whose batched decode
        fails Whisper's own quality checks is decoded again alone, so it gets the
        temperature fallback that `transcribe` has.
        """
        if len(audios) <= 1 or (kind is JobKind.INTERIM and self.decode.interim_window is not None):
            return [self.transcribe(audio, options, kind) for audio in audios]
        from faster_whisper import BatchedInferencePipeline

        starts = np.cumsum([0] + [len(audio) for audio in audios])
        samples = np.concatenate(audios).astype(np.float32) / 32768.0
        clips = [{"start": float(a) / SAMPLE_RATE, "end": float(b) / SAMPLE_RATE} for a, b in pairwise(starts)]
        segments, _info = BatchedInferencePipeline(self._whisper).transcribe(
            samples,
            language=self._language(options),
            beam_size=self._beam(kind),
            best_of=1,
            temperature=0.0,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            clip_timestamps=clips,
            batch_size=len(audios),
            max_new_tokens=self._token_cap(max(len(audio) for audio in audios), kind),
            initial_prompt=options.prompt,
            hotwords=self._hotwords(options),
            no_speech_threshold=self.decode.no_speech_threshold,
            log_prob_threshold=self.decode.log_prob_threshold,
            compression_ratio_threshold=self.decode.compression_ratio_threshold,
        )
        per_clip: list[list[Any]] = [[] for _ in audios]
        start_seconds = [float(a) / SAMPLE_RATE for a in starts[:-1]]
        for segment in segments:
            # A segment starts at or after its clip's start; the half-frame margin absorbs rounding.
            per_clip[bisect_right(start_seconds, segment.start + 0.005) - 1].append(segment)
        results: list[list[Word] | None] = []
        for audio, offset, clip_segments in zip(audios, start_seconds, per_clip, strict=True):
            if any(self._needs_fallback(segment) for segment in clip_segments):
                results.append(self.transcribe(audio, options, kind))
                continue
            words = self._words(clip_segments)
            results.append(
                [Word(w.text, max(0.0, w.start - offset), max(0.0, w.end - offset), w.confidence) for w in words]
            )
        return results

    def _needs_fallback(self, segment: Any) -> bool:
        """Whisper's rule for decoding again at a higher temperature."""
        if segment.compression_ratio > self.decode.compression_ratio_threshold:
            return True
        silent = segment.no_speech_prob > self.decode.no_speech_threshold
        return bool(segment.avg_logprob < self.decode.log_prob_threshold and not silent)

    def _words(self, segments: Iterable[Any]) -> list[Word]:
        words: list[Word] = []
        for segment in segments:
            if is_hallucination(segment, self.decode):
                continue
            for word in segment.words or ():
                text = word.word.strip()
                if not text:
                    continue
                if words and not word.word.startswith(" "):
                    # A piece without a leading space continues the previous word ("cold" + "-hearted").
                    last = words[-1]
                    words[-1] = Word(
                        last.text + text, last.start, float(word.end), min(last.confidence, word.probability)
                    )
                else:
                    words.append(Word(text, float(word.start), float(word.end), float(word.probability)))
        return words
