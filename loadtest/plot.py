"""Plot latency against concurrency from loadtest.run results.

.venv/bin/python -m loadtest.plot artifacts/loadtest/sweep/*.json --out docs/capacity.png [--table FILE.md]

Results of the same mode, revision and interim setting are merged into one
curve (a sweep may be run in pieces; results of loadtest.run before
`--interims` and `--baseline` are read too); left: end-of-turn p95 and p50,
right: interim lag p95 of the runs with interim results. `--table` also writes
the merged rows as one markdown table (loadtest.summary's columns).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

from loadtest import summary

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Curve = tuple[str, str, bool]
"""mode, revision, interims"""


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one loadtest.run result, each with its mode, revision and interim setting
    (results written before `--interims` and `--baseline` kept those once, for all rows)."""
    if "interim_results" not in result:
        return list(result["rows"])
    labels = {"mode": result["mode"], "revision": "", "interims": result["interim_results"]}
    labels["end_of_turn_bound_ms"] = result.get("bound_ms")
    return [{**labels, "passes": row.get("within_bound")} | row for row in result["rows"]]


def merged(paths: list[Path]) -> dict[Curve, list[dict[str, Any]]]:
    curves: dict[Curve, dict[int, dict[str, Any]]] = {}
    for path in paths:
        for row in result_rows(json.loads(path.read_text())):
            if row["end_of_turn_p95_ms"] is not None:
                curves.setdefault((row["mode"], row["revision"], row["interims"]), {})[row["streams"]] = row
    return {key: [rows[n] for n in sorted(rows)] for key, rows in sorted(curves.items())}


def table(curves: dict[Curve, list[dict[str, Any]]]) -> str:
    return summary.rows_table([row for rows in curves.values() for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/capacity.png"))
    parser.add_argument("--table", type=Path, help="also write the merged figures here as markdown")
    args = parser.parse_args()
    curves = merged(args.results)
    if args.table:
        args.table.write_text(table(curves))
    figure, (turns, interims) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    bounds = sorted(
        {r["end_of_turn_bound_ms"] for rows in curves.values() for r in rows if r.get("end_of_turn_bound_ms")}
    )
    for (mode, revision, interim), rows in curves.items():
        label = f"{revision + ', ' if revision else ''}{mode}, {'interims on' if interim else 'finals only'}"
        streams = [r["streams"] for r in rows]
        line = turns.plot(streams, [r["end_of_turn_p95_ms"] for r in rows], marker="o", label=f"{label}: p95")
        color = line[0].get_color()
        turns.plot(streams, [r["end_of_turn_p50_ms"] for r in rows], linestyle=":", color=color, label="p50")
        if interim:
            interims.plot(streams, [r["interim_lag_p95_ms"] for r in rows], marker="o", color=color, label=label)
    for bound in bounds:
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
