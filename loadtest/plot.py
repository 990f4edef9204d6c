"""Plot latency against concurrency from loadtest.run results.

.venv/bin/python -m loadtest.plot artifacts/loadtest/sweep/*.json --out docs/capacity.png [--table FILE.md]

Results of the same mode and interim setting are merged into one curve (a
sweep may be run in pieces); left: end-of-turn p95 and p50, right: interim lag
p95 of the runs with interim results. `--table` also writes the merged
figures as one markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def merged(paths: list[Path]) -> tuple[dict[tuple[str, bool], list[dict[str, Any]]], float | None]:
    curves: dict[tuple[str, bool], dict[int, dict[str, Any]]] = {}
    bound = None
    for path in paths:
        result = json.loads(path.read_text())
        bound = result["bound_ms"]
        rows = curves.setdefault((result["mode"], result["interim_results"]), {})
        for row in result["rows"]:
            if row["end_of_turn_p95_ms"] is not None:
                rows[row["streams"]] = row
    return {key: [rows[n] for n in sorted(rows)] for key, rows in sorted(curves.items())}, bound


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(curves: dict[tuple[str, bool], list[dict[str, Any]]], bound: float | None) -> str:
    lines = [
        "| mode | interims | streams | runs | end-of-turn p50 / p95 ms | p95 of each run ms "
        "| interim lag p50 / p95 ms | first interim p50 ms | WER | CPU s per audio s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (mode, interim), rows in curves.items():
        for r in rows:
            runs = ", ".join(fmt(v) for v in r.get("end_of_turn_p95_ms_runs", []))
            over = "" if bound is None or r["end_of_turn_p95_ms"] <= bound else " (over)"
            lines.append(
                f"| {mode} | {'on' if interim else 'off'} | {r['streams']} | {r['runs']} "
                f"| {fmt(r['end_of_turn_p50_ms'])} / {fmt(r['end_of_turn_p95_ms'])}{over} | {runs or '-'} "
                f"| {fmt(r['interim_lag_p50_ms'])} / {fmt(r['interim_lag_p95_ms'])} | {fmt(r['first_interim_p50_ms'])} "
                f"| {r['wer']:.3f} | {r['cpu_s_per_audio_s']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/capacity.png"))
    parser.add_argument("--table", type=Path, help="also write the merged figures here as markdown")
    args = parser.parse_args()
    curves, bound = merged(args.results)
    if args.table:
        args.table.write_text(table(curves, bound))
    figure, (turns, interims) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    for (mode, interim), rows in curves.items():
        label = f"{mode}, {'interims on' if interim else 'finals only'}"
        streams = [r["streams"] for r in rows]
        line = turns.plot(streams, [r["end_of_turn_p95_ms"] for r in rows], marker="o", label=f"{label}: p95")
        color = line[0].get_color()
        turns.plot(streams, [r["end_of_turn_p50_ms"] for r in rows], linestyle=":", color=color, label="p50")
        if interim:
            interims.plot(streams, [r["interim_lag_p95_ms"] for r in rows], marker="o", color=color, label=label)
    if bound:
        turns.axhline(bound, color="grey", linestyle="--", linewidth=1, label=f"bound {bound:.0f} ms")
    turns.set_title("end-of-turn latency (last word sent to speech_final)", fontsize=9)
    turns.set_ylabel("ms")
    interims.set_title("interim lag p95 (audio sent to interim covering it)", fontsize=9)
    for axis in (turns, interims):
        axis.set_xlabel("concurrent real-time streams")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("streamscribe on 2 CPU cores, tiny.en int8, real speech; median of 2-3 runs per level", fontsize=10)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
