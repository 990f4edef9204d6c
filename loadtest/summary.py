"""The pure part of a load-test run: medians over runs, latencies in yardstick calls,
the capacity rule, capacity ratios and the markdown tables (no I/O, no server).

A row is one (mode, revision, interims, streams) level: the median over runs
of what k6 measured, plus

- `end_of_turn_p50_x` / `end_of_turn_p95_x`: end-of-turn latency beyond the
  endpointing silence, in yardstick calls: (latency - endpointing) / yardstick;
- `passes`: whether the level is sustained (`Rule`).

A series is the rows of one (mode, revision, interims); its capacity is the
largest level before the first one that fails (the runner stops a series there).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]

BOUND_CALLS = 1.5
INTERIM_BOUND_MS = 1500.0


@dataclass(frozen=True)
class Rule:
    """A level is sustained when its end-of-turn p95 is under the endpointing silence plus
    `bound_calls` yardstick calls (or under `bound_ms` where given), with interims its interim
    lag p95 is under `interim_bound_ms` (None: not bounded), and no stream failed or missed a turn."""

    bound_calls: float = BOUND_CALLS
    bound_ms: float | None = None
    interim_bound_ms: float | None = INTERIM_BOUND_MS

    def end_of_turn_bound_ms(self, endpointing_ms: float, yardstick_s: float) -> float:
        if self.bound_ms is not None:
            return self.bound_ms
        return endpointing_ms + self.bound_calls * 1000 * yardstick_s

    def passes(self, row: Row, end_of_turn_bound_ms: float) -> bool:
        p95 = row.get("end_of_turn_p95_ms")
        if p95 is None or p95 >= end_of_turn_bound_ms:
            return False
        if row.get("missed_speech_final") or row.get("stream_error_rate"):
            return False
        if row.get("interims") and self.interim_bound_ms is not None:
            lag = row.get("interim_lag_p95_ms")
            return lag is not None and lag < self.interim_bound_ms
        return True

    def describe(self) -> str:
        eot = (
            f"< {self.bound_ms:.0f} ms" if self.bound_ms is not None else f"< endpointing + {self.bound_calls:g} calls"
        )
        lag = (
            ""
            if self.interim_bound_ms is None
            else f" and (interims on) interim lag p95 < {self.interim_bound_ms:.0f} ms"
        )
        return f"end-of-turn p95 {eot}{lag}, no stream error, no missed turn"


def median_row(runs: list[Row], **labels: Any) -> Row:
    """The median of every figure over runs (None where no run has it), each run's p95 kept."""
    row: Row = {**labels, "runs": len(runs)}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        row[key] = round(statistics.median(values), 3) if values else None
    # The spread over runs, so a reader can tell a real limit from one noisy run.
    row["end_of_turn_p95_ms_runs"] = [r["end_of_turn_p95_ms"] for r in runs]
    return row


def in_calls(latency_ms: float | None, endpointing_ms: float, yardstick_s: float) -> float | None:
    """Latency beyond the endpointing silence, in yardstick calls."""
    if latency_ms is None or yardstick_s <= 0:
        return None
    return round((latency_ms - endpointing_ms) / (1000 * yardstick_s), 2)


def judged(row: Row, endpointing_ms: float, yardstick_s: float, rule: Rule) -> Row:
    """`row` with the yardstick multiples, its end-of-turn bound and whether it passes."""
    bound = rule.end_of_turn_bound_ms(endpointing_ms, yardstick_s)
    out = {
        **row,
        "endpointing_ms": endpointing_ms,
        "end_of_turn_p50_x": in_calls(row.get("end_of_turn_p50_ms"), endpointing_ms, yardstick_s),
        "end_of_turn_p95_x": in_calls(row.get("end_of_turn_p95_ms"), endpointing_ms, yardstick_s),
        "end_of_turn_bound_ms": round(bound, 1),
    }
    out["passes"] = rule.passes(out, bound)
    return out


@dataclass(frozen=True)
class Capacity:
    streams: int
    """The largest level before the first failing one; 0 when the first level fails."""
    open_ended: bool
    """Every level measured passed: the capacity is at least `streams`."""

    def text(self) -> str:
        return f"{self.streams}+" if self.open_ended else str(self.streams)


def capacity(rows: Iterable[Row]) -> Capacity:
    best = 0
    for row in sorted(rows, key=lambda r: int(r["streams"])):
        if not row["passes"]:
            return Capacity(best, False)
        best = int(row["streams"])
    return Capacity(best, True)


def ratio(current: Capacity, baseline: Capacity) -> tuple[float | None, str]:
    """current / baseline and how far to trust it: "" exact, ">=" or "<=" where a
    series passed every level measured; None where it cannot be told."""
    if baseline.streams == 0 or (current.open_ended and baseline.open_ended):
        return None, ""
    value = round(current.streams / baseline.streams, 2)
    if current.open_ended:
        return value, ">="
    if baseline.open_ended:
        return value, "<="
    return value, ""


def series(rows: list[Row]) -> list[Row]:
    """The capacity of each (mode, revision, interims) series, in the order first seen."""
    keys = list(dict.fromkeys((r["mode"], r["revision"], r["interims"]) for r in rows))
    out = []
    for mode, revision, interims in keys:
        own = [r for r in rows if (r["mode"], r["revision"], r["interims"]) == (mode, revision, interims)]
        found = capacity(own)
        out.append(
            {
                "mode": mode,
                "revision": revision,
                "interims": interims,
                "capacity": found.streams,
                "open_ended": found.open_ended,
                "end_of_turn_bound_ms": own[0].get("end_of_turn_bound_ms"),
            }
        )
    return out


def ratios(summary: list[Row], baseline: str, current: str) -> list[Row]:
    """current / baseline capacity for every (mode, interims) both were measured in."""
    found = {(s["mode"], s["revision"], s["interims"]): Capacity(s["capacity"], s["open_ended"]) for s in summary}
    out = []
    for mode, interims in dict.fromkeys((s["mode"], s["interims"]) for s in summary):
        base, cur = found.get((mode, baseline, interims)), found.get((mode, current, interims))
        if base is None or cur is None:
            continue
        value, bound = ratio(cur, base)
        out.append(
            {"mode": mode, "interims": interims, "baseline": base.text(), "current": cur.text(), "ratio": value}
            | {"ratio_bound": bound}
        )
    return out


def fmt(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


ROW_HEADER = (
    "| mode | revision | interims | streams | runs | end-of-turn p50 / p95 ms | p95 of each run ms "
    "| beyond endpointing p50 / p95, yardstick calls | interim lag p50 / p95 ms | first interim p50 ms "
    "| WER median / mean | CPU s per audio s | wasted speculative finals per turn (audio share) "
    "| hurried finals per turn | sustained |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row_line(r: Row) -> str:
    each = ", ".join(fmt(v) for v in r.get("end_of_turn_p95_ms_runs", [])) or "-"
    calls = f"{fmt(r.get('end_of_turn_p50_x'), 2)} / {fmt(r.get('end_of_turn_p95_x'), 2)}"
    verdict = "-" if r.get("passes") is None else ("yes" if r["passes"] else "**no**")
    return (
        f"| {r['mode']} | {r.get('revision') or '-'} | {'on' if r['interims'] else 'off'} | {r['streams']} "
        f"| {r['runs']} | {fmt(r['end_of_turn_p50_ms'])} / {fmt(r['end_of_turn_p95_ms'])} | {each} | {calls} "
        f"| {fmt(r['interim_lag_p50_ms'])} / {fmt(r['interim_lag_p95_ms'])} | {fmt(r['first_interim_p50_ms'])} "
        f"| {fmt(r['wer'], 3)} / {fmt(r.get('wer_mean'), 3)} | {fmt(r['cpu_s_per_audio_s'], 3)} "
        f"| {fmt(r.get('speculative_wasted_per_turn'), 2)} ({fmt(r.get('speculative_wasted_audio_share'), 2)}) "
        f"| {fmt(r.get('hurried_finals_per_turn'), 2)} | {verdict} |"
    )


def rows_table(rows: list[Row]) -> str:
    return "\n".join([ROW_HEADER, *(row_line(r) for r in rows)]) + "\n"


def capacity_table(summary: list[Row], ratio_rows: list[Row]) -> str:
    lines = [
        "| mode | interims | revision | end-of-turn bound ms | capacity, streams |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['mode']} | {'on' if s['interims'] else 'off'} | {s['revision']} "
            f"| {fmt(s['end_of_turn_bound_ms'])} | {Capacity(s['capacity'], s['open_ended']).text()} |"
        )
    if ratio_rows:
        lines += [
            "",
            "| mode | interims | capacity baseline | capacity current | current / baseline |",
            "|---|---|---|---|---|",
        ]
        for r in ratio_rows:
            value = "-" if r["ratio"] is None else f"{r['ratio_bound']}{r['ratio']:.2f}"
            lines.append(
                f"| {r['mode']} | {'on' if r['interims'] else 'off'} | {r['baseline']} | {r['current']} | {value} |"
            )
    return "\n".join(lines) + "\n"


def markdown(result: Row) -> str:
    """The whole report of one run: how it was measured, every row, the capacities."""
    y = result["yardstick"]
    lines = [
        f"Machine: {result['machine']}. Yardstick: one direct WhisperModel.transcribe call per utterance "
        f"(30 s window, beam 5, word timestamps; {y['model']} {y['device']} {y['compute_type']}, "
        f"{y['cpu_threads']} thread): median {1000 * y['call_s']:.0f} ms over {y['calls']} calls; "
        f"floor {y['cpu_s_per_audio_s']:.3f} CPU s per audio s.",
        f"Sustained: {result['rule']}; a series stops at its first level that fails.",
        "",
    ]
    for rev in result["revisions"]:
        lines.append(
            f"- {rev['label']}: `{rev['tree']}` (server from `{rev['server_module']}`), "
            f"endpointing {rev['endpointing_ms']} ms"
        )
    for system in result["systems"]:
        lines.append(
            f"- {system['mode']}, {system['revision']}: peak RSS {fmt(system['peak_rss_mib'])} MiB"
            + (f"; Redis overhead per job (means, ms): {system['overhead']}" if system["mode"] == "distributed" else "")
        )
    lines += ["", rows_table(result["rows"]), capacity_table(result["series"], result["ratios"])]
    return "\n".join(lines)
