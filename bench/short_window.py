"""How short can Whisper's window be? Accuracy and cost of window rules against the 30 s window.

    .venv/bin/python -m bench.short_window [--min 8,10,12] [--pad 2,3,4,5] [--json PATH]

Every rule `max(min_s, audio + pad_s)` decodes the same real-speech sets as the
30 s window (faster-whisper's own `transcribe`, the yardstick), through the
server's adapter (`FasterWhisperTranscriber.transcribe`: quality checks,
temperature fallback, hallucination guard, word alignment), finals (beam 5)
and interims (greedy). For each set it prints WER, decode seconds per audio
second, the largest output (looping shows as far more words than the
reference) and, against the 30 s window, how far word times move.

Sets: LibriVox clips, JFK, long segments (LibriVox clips joined to 20-29 s),
the same speech as 8 kHz mu-law telephone audio, under -30 dBFS noise and cut
tight at the voice's onset and end, and very short ones (single words and digit
strings, espeak-ng).
"""

from __future__ import annotations

import argparse
import difflib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.config import Settings
from server.transcribe.model_files import resolve_model
from server.transcribe.short_window import WindowRule
from server.transcribe.whisper import DecodeSettings, FasterWhisperTranscriber
from streaming.jobs import JobKind, TranscribeOptions, Word
from testbed import audio, corpora


@dataclass(frozen=True)
class Clip:
    set: str
    audio: np.ndarray
    text: str


def telephone(pcm: np.ndarray) -> np.ndarray:
    return audio.resample(audio.from_mulaw(audio.to_mulaw_8k(pcm)), 8000, audio.RATE)


def noisy(pcm: np.ndarray, seed: int) -> np.ndarray:
    mixed = pcm.astype(np.int32) + audio.white_noise(len(pcm) / audio.RATE, 0.03, seed=seed)
    return np.clip(mixed, -32768, 32767).astype(np.int16)


def tight(pcm: np.ndarray) -> np.ndarray:
    """The speech with no silence before or after it, as a segment cut right at the voice's onset
    (a segmenter whose preroll ran into the previous segment) would hold it."""
    frames = pcm[: len(pcm) // 320 * 320].astype(np.float64).reshape(-1, 320)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > 0.1 * np.sqrt((frames**2).mean(axis=1)).max())
    return pcm[loud[0] * 320 : (loud[-1] + 1) * 320]


def speech_sets() -> list[Clip]:
    librivox, jfk = corpora.librivox_clips(), corpora.jfk()
    real = [*librivox, jfk]
    clips = [Clip("librivox", c.audio, c.text) for c in librivox] + [Clip("jfk", jfk.audio, jfk.text)]
    for order in ([0, 1, 2, 3], [1, 2, 3, 4], [4, 0, 2, 1], [3, 4, 0, 2]):
        chosen = [librivox[i] for i in order]
        pcm, _ = audio.conversation(chosen, gap_s=0.6, lead_s=0.2, tail_s=0.3)
        clips.append(Clip("long 20-29 s", pcm, " ".join(c.text for c in chosen)))
    clips += [Clip("telephone 8 kHz", telephone(c.audio), c.text) for c in real]
    clips += [Clip("noise -30 dBFS", noisy(c.audio, seed), c.text) for seed, c in enumerate(real)]
    clips += [Clip("tight cuts", tight(c.audio), c.text) for c in real]
    for text in ("Yes.", "Stop.", "Hello.", "Seven.", "4 2 7 9.", "Call 5 5 5, 0 1 9 9."):
        clips.append(Clip("one word, digits", corpora.espeak(text), text))
    return clips


def decode_all(
    transcriber: FasterWhisperTranscriber, clips: Sequence[Clip], kind: JobKind
) -> tuple[list[list[Word]], float]:
    started = time.process_time()
    words = [transcriber.transcribe(c.audio, TranscribeOptions(), kind) for c in clips]
    return words, time.process_time() - started


def text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def word_time_shift(a: Sequence[Word], b: Sequence[Word]) -> float:
    """Largest start/end difference of words both decodes agree on (same text, same position)."""
    blocks = difflib.SequenceMatcher(a=[w.text for w in a], b=[w.text for w in b], autojunk=False)
    pairs = [(a[m.a + k], b[m.b + k]) for m in blocks.get_matching_blocks() for k in range(m.size)]
    shifts = [max(abs(x.start - y.start), abs(x.end - y.end)) for x, y in pairs]
    return max(shifts, default=0.0)


def summarize(
    clips: Sequence[Clip], words: Sequence[list[Word]], seconds: float, yardstick: Sequence[list[Word]]
) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(c.set for c in clips):
        index = [i for i, c in enumerate(clips) if c.set == name]
        refs = " ".join(clips[i].text for i in index)
        hyps = " ".join(text(words[i]) for i in index)
        rows[name] = {
            "wer": audio.wer(refs, hyps),
            "max_words_over_ref": max(len(words[i]) / max(1, len(clips[i].text.split())) for i in index),
            "max_word_shift_s": max(word_time_shift(words[i], yardstick[i]) for i in index),
        }
    total_audio = sum(len(c.audio) for c in clips) / audio.RATE
    rows["all"] = {"cpu_s_per_audio_s": seconds / total_audio}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min", default="8,10,12", help="window floors to try, seconds")
    parser.add_argument("--pad", default="2,3,4,5", help="silence after the audio to try, seconds")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/short-window.json"))
    args = parser.parse_args()
    model = resolve_model("tiny.en", Settings().model_cache_dir)
    clips = speech_sets()
    rules: list[tuple[str, WindowRule | None]] = [("30 s window", None)]
    rules += [
        (f"max({m}, audio+{p})", WindowRule(float(m), float(p)))
        for m in args.min.split(",")
        for p in args.pad.split(",")
    ]
    report: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for kind in (JobKind.FINAL, JobKind.INTERIM):
        yardstick: list[list[Word]] = []
        for label, rule in rules:
            transcriber = FasterWhisperTranscriber(
                model, cpu_threads=1, decode=DecodeSettings(final_window=rule, interim_window=rule)
            )
            words, seconds = decode_all(transcriber, clips, kind)
            yardstick = yardstick or words
            report.setdefault(kind.value, {})[label] = summarize(clips, words, seconds, yardstick)
            rows = report[kind.value][label]
            rows["all"]["fallbacks"] = transcriber.window_fallbacks / len(clips)
            sets = "  ".join(f"{k}: {v['wer']:.3f}" for k, v in rows.items() if "wer" in v)
            cost = f"cpu/audio {rows['all']['cpu_s_per_audio_s']:.3f} fallbacks {rows['all']['fallbacks']:.0%}"
            print(f"{kind.value:7} {label:18} {cost}  {sets}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"clips": len(clips), "report": report}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
