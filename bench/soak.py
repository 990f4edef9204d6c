"""Soak benchmark: N real-time streams held for a long time, sampled every minute.

    .venv/bin/python -m bench.soak --minutes 30 --streams 8 --mode embedded,distributed
    .venv/bin/python -m bench.soak --minutes 1 --streams 2 --mode embedded      # a smoke run

Per mode it starts the system under test from the working tree as loadtest/run.py does
(loadtest.system.System: embedded with two one-thread workers, or a gateway, two one-thread
worker processes and redis-server) and plays one uncounted warm-up stream. Then N streams,
their first starts spread over `--spread-s`, send the load-test fixture (loadtest/fixtures.py,
32.7 s of LibriVox speech) at real-time pace in 100 ms frames, interims on unless `--interims
off`, each starting again as soon as its session has closed, for `--minutes`.

Every `--sample-s` (60) seconds: VmRSS and open fds (/proc/PID/fd) of every server process,
their CPU use, Redis used_memory (distributed), sessions active and queued finals (/metrics),
and for that interval's turns end-of-turn p50/p95 (last voiced 20 ms sent to its speech_final
arriving, as loadtest/stream.js measures it), streams finished, streams not closed 1000, turns
without a speech_final and the median WER. Each series gets a trend line: first and last value
and the least-squares slope per 10 minutes. Results: OUT_DIR/soak-MODE.json and .md
(artifacts/bench), rewritten after every sample; Ctrl-C or SIGTERM stops and keeps what it has.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.realtime import (
    Collector,
    Fixture,
    keep_streaming,
    load_fixture,
    play,
    stream_url,
    window_figures,
)
from loadtest import revision
from loadtest.run import parse_modes
from loadtest.system import System

WARM_UP_CHUNKS = 80
CLK_TCK = os.sysconf("SC_CLK_TCK")
JOBS_QUEUED_FINAL = 'streamscribe_jobs_queued{kind="final"}'


@dataclass(frozen=True)
class Options:
    modes: list[str]
    minutes: float
    streams: int
    sample_s: float
    interims: bool
    spread_s: float
    out_dir: Path


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", type=parse_modes, default="embedded", help="embedded, distributed or both")
    parser.add_argument("--minutes", type=float, default=30.0, help="load duration per mode")
    parser.add_argument("--streams", type=int, default=8, help="concurrent real-time streams")
    parser.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--interims", choices=("on", "off"), default="on", help="interim results")
    parser.add_argument("--spread-s", type=float, default=8.0, help="first starts spread over this long")
    parser.add_argument("--out-dir", type=Path, default=Path("artifacts/bench"))
    args = parser.parse_args(argv)
    if min(args.minutes, args.streams, args.sample_s) <= 0 or args.spread_s < 0:
        parser.error("--minutes, --streams and --sample-s must be above 0, --spread-s not below")
    return Options(
        args.mode, args.minutes, args.streams, args.sample_s, args.interims == "on", args.spread_s, args.out_dir
    )


# ------------------------------------------------------------------ the streams


def proc_figures(pid: int) -> tuple[float, int, float] | None:
    """(VmRSS MiB, open fds, CPU seconds) of one process, or None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)
    fields = stat.rsplit(")", 1)[1].split()
    return rss, fds, (int(fields[11]) + int(fields[12])) / CLK_TCK


def processes(system: System) -> dict[str, int]:
    named = {"gateway" if system.mode == "distributed" else "server": system.server.process}
    named |= {f"worker{i}": w.process for i, w in enumerate(system.workers)}
    if system.redis:
        named["redis"] = system.redis.process
    return {name: p.pid for name, p in named.items() if p is not None}


def resources(system: System, pids: dict[str, int]) -> dict[str, Any]:
    """What the server processes hold now (blocking: run it off the event loop)."""
    figures = {name: proc_figures(pid) for name, pid in pids.items()}
    found: dict[str, Any] = {
        "rss_mib": {name: None if f is None else round(f[0], 1) for name, f in figures.items()},
        "fds": {name: None if f is None else f[1] for name, f in figures.items()},
        "cpu_s": sum(f[2] for f in figures.values() if f is not None),
    }
    try:
        metrics = system.metrics()
    except OSError:
        metrics = ""
    for key, name in (("sessions_active", "streamscribe_sessions_active"), ("queued_finals", JOBS_QUEUED_FINAL)):
        value = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics, re.M)
        found[key] = float(value.group(1)) if value else None
    if system.redis:
        try:
            with system.redis.client() as client:
                info: dict[str, Any] = client.info("memory")
            found["redis_used_mib"] = round(int(info["used_memory"]) / 2**20, 2)
        except Exception:  # a sample must not end the run
            found["redis_used_mib"] = None
    return found


def slope_per_10_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minute, value) points, per 10 minutes; None below two distinct minutes."""
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return 10 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


SERIES = ("sessions_active", "queued_finals", "redis_used_mib", "cpu_pct", "end_of_turn_p50_ms", "end_of_turn_p95_ms")


def series(samples: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Every sampled figure as (minute, value) points, missing values left out."""
    found: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        rss = list(s["rss_mib"].values())
        values = {f"rss_mib {name}": value for name, value in s["rss_mib"].items()}
        values["rss_mib total"] = None if None in rss else round(sum(rss), 1)
        values |= {f"fds {name}": value for name, value in s["fds"].items()}
        values |= {key: s.get(key) for key in SERIES}
        for name, value in values.items():
            if value is not None:
                found.setdefault(name, []).append((s["minute"], float(value)))
    return found


def trends(samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per series: first and last value, how many samples over how many minutes, the slope."""
    rows = []
    for name, points in series(samples).items():
        slope = slope_per_10_min(points)
        row = {"series": name, "first": points[0][1], "last": points[-1][1], "points": len(points)}
        row["minutes"] = round(points[-1][0] - points[0][0], 2)
        rows.append(row | {"slope_per_10_min": None if slope is None else round(slope, 3)})
    return rows


def trend_line(trend: dict[str, Any]) -> str:
    slope = trend["slope_per_10_min"]
    text = f"{trend['series']}: {trend['first']:g} -> {trend['last']:g}"
    text += f", {trend['points']} samples over {trend['minutes']:g} min"
    if slope is None:
        return text + ", slope - (fewer than two samples)"
    text += f", slope {slope:+.3g} per 10 min"
    if trend["first"]:
        text += f" ({100 * slope / trend['first']:+.2f}% of the first)"
    return text


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def markdown(result: dict[str, Any]) -> str:
    names = list(result["processes"])
    head = ["min", *(f"RSS MiB {n}" for n in names), *(f"fds {n}" for n in names)]
    head += ["Redis MiB"] if result["mode"] == "distributed" else []
    head += ["sessions", "queued finals", "CPU % of a core", "turns", "end-of-turn p50 / p95 ms"]
    head += ["streams / errors / missed", "WER"]
    options = result["options"]
    lines = [
        f"# Soak, {result['mode']}, real-time streams: {options['streams']}, {result['minutes_run']:g} of "
        f"{options['minutes']:g} min{' (interrupted)' if result['interrupted'] else ''}",
        "",
        f"{result['revision']}, {result['machine']}, interims {'on' if options['interims'] else 'off'}, "
        f"started {result['started']}. `{' '.join(result['command'])}`",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for s in [result["before"], *result["samples"]] if result["before"] else result["samples"]:
        row = [_cell(s["minute"]), *(_cell(s["rss_mib"][n]) for n in names), *(_cell(s["fds"][n]) for n in names)]
        row += [_cell(s.get("redis_used_mib"))] if result["mode"] == "distributed" else []
        row += [_cell(s["sessions_active"]), _cell(s["queued_finals"]), _cell(s.get("cpu_pct")), _cell(s.get("turns"))]
        row += [f"{_cell(s.get('end_of_turn_p50_ms'))} / {_cell(s.get('end_of_turn_p95_ms'))}"]
        row += [f"{_cell(s.get('streams_done'))} / {_cell(s.get('stream_errors'))} / {_cell(s.get('missed_turns'))}"]
        lines.append("| " + " | ".join([*row, _cell(s.get("wer_median"))]) + " |")
    lines += ["", "Minute 0 is the idle server after the warm-up stream; trends use the samples under load:", ""]
    lines += [f"- {trend_line(t)}" for t in result["trends"]]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out_dir: Path) -> Path:
    result["trends"] = trends(result["samples"])
    out = out_dir / f"soak-{result['mode']}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown(result))
    return out


# ------------------------------------------------------------------ the run


async def sample_loop(
    system: System, result: dict[str, Any], collector: Collector, stop: asyncio.Event, options: Options
) -> None:
    """Take a sample every `options.sample_s` until the planned minutes are over or `stop` is set."""
    pids = result["processes"]
    started = last = time.monotonic()
    last_cpu = (await asyncio.to_thread(resources, system, pids))["cpu_s"]
    for k in range(1, int(options.minutes * 60 / options.sample_s + 1e-9) + 1):
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, started + k * options.sample_s - time.monotonic()))
            return
        except TimeoutError:
            pass
        figures = window_figures(collector.take())
        now_figures = await asyncio.to_thread(resources, system, pids)
        now = time.monotonic()
        cpu_pct = round(100 * (now_figures["cpu_s"] - last_cpu) / (now - last), 1)
        last, last_cpu = now, now_figures["cpu_s"]
        sample = {"minute": round((now - started) / 60, 2), **now_figures, "cpu_pct": cpu_pct, **figures}
        result["samples"].append(sample)
        result["minutes_run"] = sample["minute"]
        print(json.dumps({k: v for k, v in sample.items() if k != "errors"}), flush=True)
        write(result, options.out_dir)


async def soak(system: System, result: dict[str, Any], fixture: Fixture, options: Options) -> bool:
    """The load and the samples; True when interrupted."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    url = stream_url(system.server.ws_url, options.interims)
    await play(url, fixture.chunks[:WARM_UP_CHUNKS], fixture, Collector())  # warm-up, not counted
    result["before"] = {"minute": 0.0, **await asyncio.to_thread(resources, system, result["processes"])}
    collector = Collector()
    spread = [options.spread_s * i / options.streams for i in range(options.streams)]
    streams = [asyncio.create_task(keep_streaming(url, fixture, collector, delay)) for delay in spread]
    try:
        await sample_loop(system, result, collector, stop, options)
    finally:
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return stop.is_set()


def run_mode(mode: str, fixture: Fixture, options: Options, command: list[str]) -> bool:
    """One mode's soak, written to OUT_DIR/soak-MODE.*; True when interrupted."""
    with tempfile.TemporaryDirectory() as tmp:
        system = System(mode, Path(tmp))
        result: dict[str, Any] = {"command": command, "mode": mode, "revision": system.tree.label}
        result |= {"machine": f"{os.cpu_count()} CPUs", "started": datetime.now(UTC).isoformat(timespec="seconds")}
        result |= {"options": {**asdict(options), "out_dir": str(options.out_dir)}, "minutes_run": 0.0}
        result |= {"fixture": {"duration_s": fixture.duration, "utterances": len(fixture.ends)}}
        result |= {"processes": processes(system), "before": None, "samples": [], "interrupted": True}
        try:
            result["interrupted"] = asyncio.run(soak(system, result, fixture, options))
        except KeyboardInterrupt:
            pass
        finally:
            system.stop()
    out = write(result, options.out_dir)
    print(out.with_suffix(".md").read_text(), flush=True)
    return bool(result["interrupted"])


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    command = ["python", "-m", "bench.soak", *(sys.argv[1:] if argv is None else argv)]
    fixture = load_fixture()
    print(f"{revision.current().label}: {options.streams} streams x {options.minutes:g} min per mode", flush=True)
    try:
        if any(run_mode(mode, fixture, options, command) for mode in options.modes):
            return 130  # interrupted: the remaining modes are skipped
    except KeyboardInterrupt:  # while a system was starting: nothing measured in that mode
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
