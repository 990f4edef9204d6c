"""Plot end-of-turn latency against concurrency from loadtest.run results.

.venv/bin/python -m loadtest.plot artifacts/loadtest/*.json --out docs/capacity.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/capacity.png"))
    args = parser.parse_args()
    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=120)
    bound = None
    for path in args.results:
        result = json.loads(path.read_text())
        bound = result["bound_ms"]
        rows = [r for r in result["rows"] if r["end_of_turn_p95_ms"] is not None]
        label = f"{result['mode']}, {'interim on' if result['interim_results'] else 'finals only'}"
        streams = [r["streams"] for r in rows]
        line = axis.plot(streams, [r["end_of_turn_p95_ms"] for r in rows], marker="o", label=f"{label} (p95)")
        axis.plot(
            streams, [r["end_of_turn_p50_ms"] for r in rows], linestyle=":", color=line[0].get_color(), label="p50"
        )
    if bound:
        axis.axhline(bound, color="grey", linestyle="--", linewidth=1, label=f"bound {bound:.0f} ms")
    axis.set_xlabel("concurrent real-time streams")
    axis.set_ylabel("end-of-turn latency, ms")
    axis.set_title("streamscribe on 2 CPU cores, tiny.en int8, real speech")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
