"""How often do interims commit a wrong word? LocalAgreement by opening agreement.

    .venv/bin/python -m bench.interim_commits [--opening 2,3,4] [--json PATH] [--replay PATH]

An interim reads its open segment from the start every half second or so;
LocalAgreement (streaming/stabilizer.py) commits the words consecutive
readings agree on, and committed words never change until the final: a wrong
one stays on screen (and in the OpenAI `delta` stream, which only appends)
until then. The first readings of an utterance hear a second or two of it,
and two of them can guess it alike ("And so my fellow" read twice as "And so
am I"); `opening_readings` makes the segment's first commit wait for that many
agreeing readings.

Each clip of the read-speech sets (LibriVox, JFK, their telephone, noisy and
tight-cut versions) and Asterisk's prompt phrases is read the way a live
segment is: prefixes every 0.5 s (at two phases, 0 and 0.25 s), each decoded
by the server's own interim decoder (the embedded server's settings: short
window, greedy, doubtful readings withheld and skipped as the session skips
them); the final is the server's final decode of the whole clip. The readings
are decoded once (kept in the JSON; `--replay` scores them again without
decoding) and replayed through LocalAgreement for every setting. Per setting
and group it prints the committed words, how many the reference text does not
have where they stand (difflib alignment of normalized words; digits and
numbers written out differ, alike for every setting), the same against the
server's final, the mean audio seconds from a word's end to its commit, and
the share of the reference committed before the final.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.short_window import Clip, speech_sets
from server.config import Settings
from server.jobs.worker import Transcriber
from server.runtime.embedded import default_transcriber_factory, device_plan
from server.transcribe.model_files import resolve_model
from streaming.jobs import JobKind, TranscribeOptions, Word
from streaming.stabilizer import LocalAgreement, normalize_word
from testbed import audio

SETS = ("librivox", "jfk", "telephone 8 kHz", "noise -30 dBFS", "tight cuts", "prompt phrases")
GROUPS = {"read speech": SETS[:-1], "prompt phrases": SETS[-1:]}
STEP_S = 0.5
PHASES_S = (0.0, 0.25)


@dataclass
class Tally:
    committed: int = 0
    wrong: int = 0
    wrong_vs_final: int = 0
    lag_s: float = 0.0
    reference_words: int = 0
    right: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self) -> dict[str, float]:
        return {
            "committed": self.committed,
            "wrong": self.wrong,
            "wrong_share": self.wrong / max(1, self.committed),
            "wrong_vs_final": self.wrong_vs_final,
            "mean_commit_lag_s": self.lag_s / max(1, self.committed),
            "reference_share_committed": self.right / max(1, self.reference_words),
        }


@dataclass
class Series:
    """One clip read at one phase: the readings (None: withheld), the final, the reference."""

    set: str
    reference: str
    final: list[str]
    readings: list[tuple[float, list[tuple[str, float]] | None]] = field(default_factory=list)
    """(audio seconds read, [(word, end)]) per reading."""


def _matched(committed: Sequence[str], words: Sequence[str]) -> int:
    matcher = difflib.SequenceMatcher(a=list(committed), b=list(words), autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def replay(series: Series, opening_readings: int) -> Tally:
    """LocalAgreement over one series, as streaming/interims.py feeds it."""
    stabilizer = LocalAgreement(opening_readings)
    lag = 0.0
    for audio_s, words in series.readings:
        if words is None:
            continue  # withheld: the session shows nothing new and feeds nothing
        before = len(stabilizer.committed)
        stabilizer.update([text for text, _end in words])
        lag += sum(audio_s - end for _text, end in words[before : len(stabilizer.committed)])
    committed = [normalize_word(w) for w in stabilizer.committed]
    reference = [normalize_word(w) for w in series.reference.split()]
    right = _matched(committed, reference)
    final = [normalize_word(w) for w in series.final]
    return Tally(
        len(committed), len(committed) - right, len(committed) - _matched(committed, final), lag, len(reference), right
    )


def read(transcriber: Transcriber, clip: Clip, final: list[Word], phase_s: float) -> Series:
    series = Series(clip.set, clip.text, [w.text for w in final])
    for end in np.arange(STEP_S + phase_s, len(clip.audio) / audio.RATE, STEP_S):
        words = transcriber.transcribe(clip.audio[: int(end * audio.RATE)], TranscribeOptions(), JobKind.INTERIM)
        series.readings.append((float(end), None if words is None else [(w.text, w.end) for w in words]))
    return series


def decode_series(model_name: str) -> list[Series]:
    settings = Settings(workers=1, model=model_name)
    model = resolve_model(settings.model, settings.model_cache_dir)
    transcriber = default_transcriber_factory(settings, model, device_plan(settings))()
    all_series = []
    for clip in (c for c in speech_sets() if c.set in SETS):
        final = transcriber.transcribe(clip.audio, TranscribeOptions(), JobKind.FINAL) or []
        all_series += [read(transcriber, clip, final, phase) for phase in PHASES_S]
    return all_series


def report(all_series: Sequence[Series], openings: Sequence[int]) -> dict[str, dict[str, dict[str, float]]]:
    rows: dict[str, dict[str, dict[str, float]]] = {}
    print("group           opening  committed  wrong (share)  vs final  commit lag  reference committed")
    for group, sets in GROUPS.items():
        for opening in openings:
            tally = Tally()
            for series in all_series:
                if series.set in sets:
                    tally.add(replay(series, opening))
            row = rows.setdefault(group, {})[str(opening)] = tally.row()
            print(
                f"{group:15} {opening:7}  {tally.committed:9}  {tally.wrong:5} ({row['wrong_share']:5.1%})"
                f"  {tally.wrong_vs_final:8}  {row['mean_commit_lag_s']:8.2f} s  "
                f"{row['reference_share_committed']:6.1%}"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opening", default="2,3,4", help="opening_readings to replay")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/issue13/interim-commits.json"))
    parser.add_argument("--replay", type=Path, help="score the readings of an earlier run's JSON again")
    args = parser.parse_args()
    openings = [int(n) for n in args.opening.split(",")]
    if args.replay:
        document: dict[str, Any] = json.loads(args.replay.read_text())
        all_series = [Series(**s) for s in document["series"]]
    else:
        all_series = decode_series(args.model)
        document = {"model": args.model, "step_s": STEP_S, "phases_s": PHASES_S}
    print(f"{len(all_series)} readings series ({len(all_series) // len(PHASES_S)} clips), model {document['model']}")
    document["report"] = report(all_series, openings)
    if not args.replay:
        document["series"] = [vars(s) for s in all_series]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
