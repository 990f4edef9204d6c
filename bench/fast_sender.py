"""A fast sender beside a real-time stream, measured side by side (and before/after with --baseline).

    .venv/bin/python -m bench.fast_sender [--runs 3] [--baseline 5fb0540] [--mode embedded|distributed]

For each revision (the working tree and, with `--baseline REV`, a git worktree of REV made by
loadtest/revision.py; baseline first) it starts the system under test as loadtest/run.py does
(loadtest.system.System), plays one uncounted warm-up stream, and measures two cases `--runs`
times each:

- alone: one real-time stream of the load-test fixture (loadtest/fixtures.py, five LibriVox
  utterances with 1.5 s pauses, 32.7 s; 100 ms frames, interims on), its end-of-turn latency
  measured as loadtest/stream.js does (bench/soak.py's client) and the WER of its finals;
- beside a fast sender: another client first opens a session and sends `--repeat` x the five
  clips (4: about 2 minutes of speech, 1 s pauses) in 1 s frames as fast as the socket accepts
  them, then CloseStream; `--delay-s` (1) later the same real-time stream starts.

For the fast sender: how long its upload took (first frame to CloseStream written: on loopback
the socket buffers, tcp_rmem allowing 32 MiB here, took 2 minutes of linear16, 3.8 MB, in 0.3 s
although the server reads it at the workers' pace, so that pacing shows in the next figure), how
long until its session closed (so at how many times real time it was served), the WER of
its finals against the clips' text, its close code, and whether it got every final (closed
1000 with no Error message, e.g. "N final result(s) were not produced"). Per case: the server's
CPU seconds (all its processes) and that per wall second. The current server reads a fast sender
only as fast as its finals come back (STREAMSCRIBE_MAX_OUTSTANDING_FINALS, 4); before
875e842 (e.g. 5fb0540) it queued everything at once. Results: OUT.json and OUT.md (default
artifacts/bench/fast-sender[-MODE][-vs-REV]).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from bench import realtime, soak
from loadtest import revision
from loadtest.run import MODES
from loadtest.system import System, cpu_seconds
from testbed import audio, corpora
from testbed.server import listen_url

FAST_CHUNK_BYTES = 32000
"""One second of 16 kHz linear16 per frame."""
CASES = ("alone", "beside a fast sender")


@dataclass(frozen=True)
class Options:
    runs: int
    baseline: str | None
    mode: str
    repeat: int
    delay_s: float
    out: Path


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (turns are pooled)")
    parser.add_argument("--baseline", metavar="REV", help="also measure this commit (first)")
    parser.add_argument("--mode", choices=MODES, default="embedded")
    parser.add_argument("--repeat", type=int, default=4, help="the fast sender's audio: the five clips x this")
    parser.add_argument("--delay-s", type=float, default=1.0, help="the real-time stream starts this much later")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeat < 1 or args.delay_s < 0:
        parser.error("--runs and --repeat must be at least 1, --delay-s not negative")
    name = "fast-sender" + ("" if args.mode == "embedded" else f"-{args.mode}")
    if args.baseline:
        name += "-vs-" + re.sub(r"[^A-Za-z0-9._-]", "_", args.baseline)
    return Options(
        args.runs, args.baseline, args.mode, args.repeat, args.delay_s, args.out or Path("artifacts/bench") / name
    )


@dataclass(frozen=True)
class Upload:
    chunks: list[bytes]
    reference: str
    duration: float


def make_upload(repeat: int) -> Upload:
    clips = corpora.librivox_clips() * repeat
    pcm, _ = audio.conversation(clips, gap_s=1.0)
    data = audio.to_linear16(pcm)
    chunks = [data[i : i + FAST_CHUNK_BYTES] for i in range(0, len(data), FAST_CHUNK_BYTES)]
    return Upload(chunks, " ".join(c.text for c in clips), len(pcm) / audio.RATE)


@dataclass
class FastOutcome:
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    metadata_duration_s: float | None = None
    uploaded: float | None = None
    """When CloseStream was written (monotonic)."""
    done: float = 0.0
    """When the session had closed."""


async def fast_send(url: str, upload: Upload) -> dict[str, Any]:
    """Send every frame as fast as the socket takes it, then CloseStream; collect finals until the close."""
    outcome = FastOutcome()
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        started = time.monotonic()

        async def send() -> None:
            try:
                for chunk in upload.chunks:
                    await ws.send(chunk)
                await ws.send(json.dumps({"type": "CloseStream"}))
                outcome.uploaded = time.monotonic()
            except websockets.ConnectionClosed:
                pass

        sender = asyncio.create_task(send())
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "Results" and message.get("is_final"):
                    outcome.texts.append(message["channel"]["alternatives"][0]["transcript"])
                elif message.get("type") == "Error":
                    outcome.errors.append(str(message.get("description")))
                elif message.get("type") == "Metadata":
                    outcome.metadata_duration_s = message.get("duration")
        except websockets.ConnectionClosedError:
            pass
        finally:
            sender.cancel()
    outcome.done = time.monotonic()
    return fast_figures(outcome, upload, started, ws.close_code, ws.close_reason)


def fast_figures(
    outcome: FastOutcome, upload: Upload, started: float, code: int | None, reason: str | None
) -> dict[str, Any]:
    return {
        "audio_s": round(upload.duration, 1),
        "upload_s": None if outcome.uploaded is None else round(outcome.uploaded - started, 2),
        "done_s": round(outcome.done - started, 2),
        "close_code": code,
        "close_reason": reason or "",
        "errors": outcome.errors,
        "every_final": code == 1000 and not outcome.errors,
        "wer": round(audio.wer(upload.reference, " ".join(t for t in outcome.texts if t)), 4),
        "metadata_duration_s": outcome.metadata_duration_s,
    }


def realtime_figures(window: realtime.Window) -> dict[str, Any]:
    return {
        "end_of_turn_ms": [round(x) for x in window.end_of_turn_ms],
        "missed_turns": window.missed_turns,
        "wer": round(window.wers[0], 4) if window.wers else None,
        "errors": window.errors,
    }


async def one_run(
    urls: tuple[str, str], fixture: realtime.Fixture, upload: Upload | None, delay_s: float
) -> dict[str, Any]:
    """The real-time stream, alone or `delay_s` after a fast sender started."""
    realtime_url, fast_url = urls
    fast = None
    if upload is not None:
        fast = asyncio.create_task(fast_send(fast_url, upload))
        await asyncio.sleep(delay_s)
    collector = realtime.Collector()
    try:
        await realtime.play(realtime_url, fixture.chunks, fixture, collector)
    except (OSError, websockets.InvalidHandshake) as error:
        collector.window.error(repr(error))
    run = {"realtime": realtime_figures(collector.window)}
    if fast is not None:
        run["fast"] = await fast
    return run


def _median(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 4) if found else None


def case_row(case: str, runs: Sequence[dict[str, Any]], cpu_s: float, wall_s: float) -> dict[str, Any]:
    """One case's runs in one row: the real-time stream's turns pooled, the fast sender's medians."""
    eot = [x for r in runs for x in r["realtime"]["end_of_turn_ms"]]
    row: dict[str, Any] = {
        "case": case,
        "runs": len(runs),
        "turns": len(eot),
        "missed_turns": sum(r["realtime"]["missed_turns"] for r in runs),
        "end_of_turn_p50_ms": realtime.percentile(eot, 50),
        "end_of_turn_p95_ms": realtime.percentile(eot, 95),
        "end_of_turn_max_ms": max(eot) if eot else None,
        "realtime_wer": _median([r["realtime"]["wer"] for r in runs]),
        "realtime_errors": [e for r in runs for e in r["realtime"]["errors"]],
        "server_cpu_s": round(cpu_s, 1),
        "server_cores_busy": round(cpu_s / wall_s, 2) if wall_s > 0 else None,
    }
    fast = [r["fast"] for r in runs if "fast" in r]
    if fast:
        row["fast_upload_s"] = _median([f["upload_s"] for f in fast])
        row["fast_done_s"] = _median([f["done_s"] for f in fast])
        row["fast_x_real_time"] = None if not row["fast_done_s"] else round(fast[0]["audio_s"] / row["fast_done_s"], 1)
        row["fast_wer"] = _median([f["wer"] for f in fast])
        row["fast_every_final"] = f"{sum(bool(f['every_final']) for f in fast)}/{len(fast)}"
        row["fast_close_codes"] = sorted({f["close_code"] for f in fast}, key=str)
        row["fast_errors"] = [e for f in fast for e in f["errors"]]
    return row


async def cases(system: System, fixture: realtime.Fixture, upload: Upload, options: Options) -> list[dict[str, Any]]:
    base = system.server.ws_url
    urls = realtime.stream_url(base, True), listen_url(base, encoding="linear16", sample_rate=16000)
    await realtime.play(urls[0], fixture.chunks[: soak.WARM_UP_CHUNKS], fixture, realtime.Collector())  # warm-up
    pids = system.pids()
    rows = []
    for case in CASES:
        cpu_before, started = cpu_seconds(pids), time.monotonic()
        runs = []
        for _ in range(options.runs):
            runs.append(await one_run(urls, fixture, None if case == "alone" else upload, options.delay_s))
            print(json.dumps({"case": case, **runs[-1]}), flush=True)
        row = case_row(case, runs, cpu_seconds(pids) - cpu_before, time.monotonic() - started)
        rows.append(row | {"per_run": runs})
    return rows


def measure(tree: revision.Tree, fixture: realtime.Fixture, upload: Upload, options: Options) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        system = System(options.mode, Path(tmp), tree)
        try:
            found = revision.probe(tree, system.env)
            print(f"{tree.label} ({options.mode}): {json.dumps(found)}", flush=True)
            rows = asyncio.run(cases(system, fixture, upload, options))
        finally:
            system.stop()
    return [{"revision": tree.label, "server_module": found["server"], **row} for row in rows]


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# A fast sender beside a real-time stream ({result['mode']})",
        "",
        f"`{' '.join(result['command'])}`; {result['machine']}; the fast sender sends "
        f"{result['fast_audio_s']:g} s of speech in 1 s frames, unpaced, the real-time stream "
        f"{result['realtime_audio_s']:g} s at real time (interims on), {result['delay_s']:g} s later.",
        "",
        "| revision | case | real-time end-of-turn p50 / p95 / max ms | turns (missed) | real-time WER "
        "| real-time stream | fast upload s | fast session s (x real time) | fast WER | fast got every final "
        "| server CPU s (cores busy) |",
        "|" + "---|" * 11,
    ]
    for r in result["rows"]:
        eot = " / ".join(_cell(r[f"end_of_turn_{k}_ms"]) for k in ("p50", "p95", "max"))
        realtime = "; ".join(sorted(set(r["realtime_errors"]))) or "closed 1000"
        fast = [_cell(r.get(k)) for k in ("fast_upload_s", "fast_done_s", "fast_wer", "fast_every_final")]
        fast[1] += f" ({r['fast_x_real_time']}x)" if r.get("fast_x_real_time") else ""
        if r.get("fast_errors"):
            fast[-1] += " (" + "; ".join(sorted(set(r["fast_errors"])))[:200] + ")"
        cells = [r["revision"], r["case"], eot, f"{r['turns']} ({r['missed_turns']})", _cell(r["realtime_wer"])]
        cells += [realtime, *fast, f"{r['server_cpu_s']} ({_cell(r['server_cores_busy'])})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    trees = [revision.current()]
    if options.baseline:
        trees.insert(0, revision.baseline(options.baseline))
    fixture, upload = realtime.load_fixture(), make_upload(options.repeat)
    rows = [row for tree in trees for row in measure(tree, fixture, upload, options)]
    result = {
        "command": ["python", "-m", "bench.fast_sender", *(sys.argv[1:] if argv is None else argv)],
        "machine": f"{os.cpu_count()} CPUs",
        "mode": options.mode,
        "runs": options.runs,
        "delay_s": options.delay_s,
        "fast_audio_s": round(upload.duration, 1),
        "realtime_audio_s": round(fixture.duration, 1),
        "rows": rows,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = markdown(result)
    options.out.with_suffix(".md").write_text(table)
    print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
