"""Score rules that mix the 30 s window and a short one, from bench/short_window.py's outputs.

    .venv/bin/python -m bench.window_rules docs/benchmarks/issue13/short-window-952.json [--short "max(10, audio+3)"]

A mixed rule decodes a clip on the short window only when its audio is at
least `from_s` long, and decodes it again on the 30 s window when the short
result has a word whose confidence is under `confidence` (a check that costs
both decodes). Replaying the per-clip outputs and CPU times that
bench/short_window.py kept scores every such rule without decoding again: WER
per set against the 30 s window (in points), and CPU time relative to it, on
all clips and on the read-speech sets that the live benchmarks stream (named
in the JSON as `read_speech_sets`).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jiwer


@cache
def _normalizer() -> Any:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def spoken_form(text: str) -> str:
    """Whisper's English normalizer, then digits one by one and no tokens without a letter or digit
    (it keeps a lone "." for "...")."""
    tokens = [token for token in _normalizer()(text).split() if re.search(r"\w", token)]
    return " ".join(" ".join(token) if token.isdigit() else token for token in tokens)


def spoken_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER over all clips together, after :func:`spoken_form` (a clip that normalizes to nothing
    counts its hypothesis words as insertions)."""
    pairs = [(spoken_form(r), spoken_form(h)) for r, h in zip(references, hypotheses, strict=True)]
    words = sum(len(r.split()) for r, _ in pairs)
    errors = sum(_errors(r, h) for r, h in pairs)
    return errors / max(1, words)


def _errors(reference: str, hypothesis: str) -> int:
    if not reference:
        return len(hypothesis.split())
    out = jiwer.process_words(reference, hypothesis)
    return int(out.substitutions + out.deletions + out.insertions)


@dataclass(frozen=True)
class MixedRule:
    from_s: float
    """Clips shorter than this go to the 30 s window only."""
    confidence: float
    """A short-window result with a word under this confidence is decoded again on 30 s (0: never)."""

    def label(self) -> str:
        parts = [f"short from {self.from_s:g} s"]
        if self.confidence:
            parts.append(f"30 s again under confidence {self.confidence:g}")
        return ", ".join(parts)


def replay(rule: MixedRule, full: Sequence[dict[str, Any]], short: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    """Each clip's text and CPU seconds under `rule`."""
    picked: list[tuple[str, float]] = []
    for whole, cut in zip(full, short, strict=True):
        if whole["audio_s"] < rule.from_s:
            picked.append((whole["text"], whole["cpu_s"]))
        elif min(cut["confidences"], default=0.0) < rule.confidence:
            picked.append((whole["text"], whole["cpu_s"] + cut["cpu_s"]))
        else:
            picked.append((cut["text"], cut["cpu_s"]))
    return picked


def score(
    rule: MixedRule,
    clips: Sequence[dict[str, str]],
    read_speech: Sequence[str],
    full: Sequence[dict[str, Any]],
    short: Sequence[dict[str, Any]],
) -> dict[str, float]:
    """WER change per set in points against the 30 s window, the worst of them, and relative CPU."""
    picked = replay(rule, full, short)
    row: dict[str, float] = {}
    for name in dict.fromkeys(c["set"] for c in clips):
        index = [i for i, c in enumerate(clips) if c["set"] == name]
        refs = [clips[i]["text"] for i in index]
        before = spoken_wer(refs, [full[i]["text"] for i in index])
        row[name] = 100 * (spoken_wer(refs, [picked[i][0] for i in index]) - before)
    row["worst"] = max(row.values())
    read = [i for i, c in enumerate(clips) if c["set"] in read_speech]
    row["cpu all"] = sum(p[1] for p in picked) / sum(f["cpu_s"] for f in full)
    row["cpu read speech"] = sum(picked[i][1] for i in read) / sum(full[i]["cpu_s"] for i in read)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path)
    parser.add_argument("--kind", default="final")
    parser.add_argument("--short", default="max(10, audio+3)", help="the short-window rule's label in the JSON")
    parser.add_argument("--from-s", default="0,1.5,2,3", help="audio lengths from which the short window is used")
    parser.add_argument("--confidence", default="0,0.2,0.3,0.4,0.5")
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    outputs = data["outputs"][args.kind]
    full, short = outputs["30 s window"], outputs[args.short]
    rules = [MixedRule(float(f), float(c)) for f in args.from_s.split(",") for c in args.confidence.split(",")]
    sets = list(dict.fromkeys(c["set"] for c in data["clips"]))
    print(f"{args.kind}s, {args.short} against the 30 s window: WER change in points, CPU relative to 30 s")
    print("| rule | " + " | ".join(sets) + " | worst | CPU, all | CPU, read speech |")
    print("|---" * (len(sets) + 4) + "|")
    for rule in rules:
        row = score(rule, data["clips"], data["read_speech_sets"], full, short)
        cells = [f"{row[name]:+.1f}" for name in sets] + [f"{row['worst']:+.1f}"]
        cells += [f"{row['cpu all']:.2f}", f"{row['cpu read speech']:.2f}"]
        print(f"| {rule.label()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
