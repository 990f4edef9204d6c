"""How short can Whisper's window be? Accuracy and cost of window rules against the 30 s window.

    .venv/bin/python -m bench.short_window [--min 10,15] [--pad 3] [--kinds final,interim] [--json PATH]

Every rule `max(min_s, audio + pad_s)` decodes the same real-speech sets as the
30 s window (faster-whisper's own `transcribe`, the yardstick), through the
server's adapter (`FasterWhisperTranscriber.transcribe`: quality checks,
temperature fallback, hallucination guard, word alignment), finals (beam 5)
and interims (greedy). For each set it prints WER, decode seconds per audio
second, the largest output (looping shows as far more words than the
reference) and, against the 30 s window, how far word times move.

Sets: LibriVox clips, JFK, long segments (LibriVox clips joined to 20-29 s),
the same speech as 8 kHz mu-law telephone audio, under -30 dBFS noise and cut
tight at the voice's onset and end, very short ones (single words and digit
strings, espeak-ng), and Asterisk's recorded prompts (testbed/asterisk.py: 459
real recordings of phone-menu phrases, single words and numbers, as 16 kHz
G.722 and as 8 kHz telephone WAV; `scripts/install-system-deps bench`).

WER is computed after Whisper's own English normalizer (PyPI
whisper-normalizer: "fourteenth" and "14th", "Mr." and "mister" agree) with
digits compared one by one ("555" = "5 5 5"). Every clip's output is kept in
the JSON, and bench/window_rules.py replays them to score rules that mix the
30 s and a short window (by audio length, by word confidence) without
decoding again.
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

from bench.window_rules import spoken_wer
from server.config import Settings
from server.transcribe.model_files import resolve_model
from server.transcribe.short_window import WindowRule
from server.transcribe.whisper import DecodeSettings, FasterWhisperTranscriber
from streaming.jobs import JobKind, TranscribeOptions, Word
from testbed import asterisk, audio, corpora


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


READ_SPEECH_SETS = ("librivox", "jfk", "long 20-29 s", "telephone 8 kHz", "noise -30 dBFS", "tight cuts")
"""The sets made of the LibriVox and JFK recordings: the speech of the live benchmarks."""


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
    return clips + prompt_sets()


def prompt_sets() -> list[Clip]:
    """Asterisk's prompts of at most 29 s, as words (one or two) and phrases, wideband and 8 kHz."""
    clips: list[Clip] = []
    for codec, suffix in (("g722", ""), ("wav", ", 8 kHz")):
        for prompt in asterisk.prompts(codec):
            if len(prompt.audio) <= 29 * audio.RATE:
                kind = "prompt words" if len(prompt.text.split()) <= 2 else "prompt phrases"
                clips.append(Clip(kind + suffix, prompt.audio, prompt.text))
    return clips


def decode_all(
    transcriber: FasterWhisperTranscriber, clips: Sequence[Clip], kind: JobKind
) -> tuple[list[list[Word]], list[float]]:
    """Every clip's words and the CPU seconds its decode took."""
    words: list[list[Word]] = []
    cpu: list[float] = []
    for clip in clips:
        started = time.process_time()
        # A withheld interim (the short window doubted it) shows nothing: scored as no words.
        words.append(transcriber.transcribe(clip.audio, TranscribeOptions(), kind) or [])
        cpu.append(time.process_time() - started)
    return words, cpu


def clip_rows(clips: Sequence[Clip], words: Sequence[list[Word]], cpu: Sequence[float]) -> list[dict[str, object]]:
    """What bench/window_rules.py replays: each clip's set, length, CPU time, text and word confidences."""
    return [
        {
            "set": c.set,
            "audio_s": round(len(c.audio) / audio.RATE, 3),
            "cpu_s": round(t, 4),
            "text": text(w),
            "confidences": [round(x.confidence, 3) for x in w],
        }
        for c, w, t in zip(clips, words, cpu, strict=True)
    ]


def text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def word_time_shift(a: Sequence[Word], b: Sequence[Word]) -> float:
    """Largest start/end difference of words both decodes agree on (same text, same position)."""
    blocks = difflib.SequenceMatcher(a=[w.text for w in a], b=[w.text for w in b], autojunk=False)
    pairs = [(a[m.a + k], b[m.b + k]) for m in blocks.get_matching_blocks() for k in range(m.size)]
    shifts = [max(abs(x.start - y.start), abs(x.end - y.end)) for x, y in pairs]
    return max(shifts, default=0.0)


def summarize(
    clips: Sequence[Clip], words: Sequence[list[Word]], cpu: Sequence[float], yardstick: Sequence[list[Word]]
) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(c.set for c in clips):
        index = [i for i, c in enumerate(clips) if c.set == name]
        rows[name] = {
            "wer": spoken_wer([clips[i].text for i in index], [text(words[i]) for i in index]),
            "max_words_over_ref": max(len(words[i]) / max(1, len(clips[i].text.split())) for i in index),
            "max_word_shift_s": max(word_time_shift(words[i], yardstick[i]) for i in index),
            "cpu_s_per_audio_s": sum(cpu[i] for i in index) * audio.RATE / sum(len(clips[i].audio) for i in index),
        }
    rows["all"] = {"cpu_s_per_audio_s": sum(cpu) * audio.RATE / sum(len(c.audio) for c in clips)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min", default="10,15", help="window floors to try, seconds")
    parser.add_argument("--pad", default="3", help="silence after the audio to try, seconds")
    parser.add_argument("--kinds", default="final,interim", help="final (beam 5), interim (greedy), or both")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/issue13/short-window-952.json"))
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
    outputs: dict[str, dict[str, list[dict[str, object]]]] = {}
    for kind in (JobKind(k) for k in args.kinds.split(",")):
        yardstick: list[list[Word]] = []
        for label, rule in rules:
            transcriber = FasterWhisperTranscriber(
                model, cpu_threads=1, decode=DecodeSettings(final_window=rule, interim_window=rule)
            )
            words, cpu = decode_all(transcriber, clips, kind)
            yardstick = yardstick or words
            rows = report.setdefault(kind.value, {})[label] = summarize(clips, words, cpu, yardstick)
            outputs.setdefault(kind.value, {})[label] = clip_rows(clips, words, cpu)
            rows["all"]["fallbacks"] = transcriber.window_fallbacks / len(clips)
            rows["all"]["withheld"] = transcriber.withheld_interims / len(clips)
            sets = "  ".join(f"{k}: {v['wer']:.3f}" for k, v in rows.items() if "wer" in v)
            checks = f"fallbacks {rows['all']['fallbacks']:.0%} withheld {rows['all']['withheld']:.0%}"
            cost = f"cpu/audio {rows['all']['cpu_s_per_audio_s']:.3f} {checks}"
            print(f"{kind.value:7} {label:18} {cost}  {sets}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    references = [{"set": c.set, "text": c.text} for c in clips]
    document = {"clips": references, "read_speech_sets": READ_SPEECH_SETS, "report": report, "outputs": outputs}
    args.json.write_text(json.dumps(document, indent=1))
    print(f"wrote {args.json}; score mixed rules with: .venv/bin/python -m bench.window_rules {args.json}")


if __name__ == "__main__":
    main()
