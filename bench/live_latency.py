"""Live latency benchmark: one real-time stream of real speech against a real server.

    .venv/bin/python -m bench.live_latency [--runs 3] [--endpointing 300,500,800]

For each endpointing value it starts `streamscribe serve` (embedded, tiny.en
int8), streams the five LibriVox clips of pocketsphinx-testdata with 1.5 s
pauses at real-time pace in 100 ms frames with interim results on, and reports:

- end-of-turn latency: wall time from sending the last audio of an utterance
  (its last voiced 20 ms frame) to the arrival of the speech_final result
  that covers it;
- interim lag: wall time from sending a word's audio to the first interim
  containing it;
- final WER against the LibriVox transcripts, and how many finals each
  utterance was cut into (a short endpointing splits sentences at pauses);
- the server's peak RSS (VmHWM);
- the yardstick (bench/yardstick.py): one direct faster-whisper call per
  utterance on this machine, in the same run; end-of-turn latency beyond the
  endpointing silence is also given as a multiple of it.

The first run of each server is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.yardstick import yardstick_s
from testbed import audio, corpora
from testbed.server import Received, ServerProcess, listen_url, stream

CHUNK_S = 0.1
CHUNK_SAMPLES = int(16000 * CHUNK_S)


def speech_end(clip: audio.Clip, threshold_db: float = -35.0) -> float:
    """Seconds from the clip start to the end of its last voiced 20 ms frame."""
    frames = clip.audio[: len(clip.audio) // 320 * 320].astype(np.float32).reshape(-1, 320) / 32768
    rms_db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    loud = np.nonzero(rms_db > rms_db.max() + threshold_db)[0]
    return float((loud[-1] + 1) * 0.02)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class RunFigures:
    end_of_turn: list[float]
    interim_lag: list[float]
    first_interim: list[float]
    wer: float
    missing_speech_final: int
    finals_per_utterance: float


def analyse(received: Received, utterance_ends: list[float], reference: str) -> RunFigures:
    def sent_at(stream_time: float) -> float:
        index = min(int(stream_time / CHUNK_S), len(received.send_times) - 1)
        return received.send_times[index]

    end_of_turn: list[float] = []
    missing = 0
    for end in utterance_ends:
        arrivals = [
            t
            for t, m in received.messages
            if m.get("type") == "Results"
            and m.get("speech_final")
            and m["start"] - 0.1 <= end <= m["start"] + m["duration"] + 0.05
        ]
        if arrivals:
            end_of_turn.append(arrivals[0] - sent_at(end))
        else:
            missing += 1
    interim_lag: list[float] = []
    interims = [(t, m) for t, m in received.messages if m.get("type") == "Results" and not m["is_final"]]
    for final in received.finals:
        for word in final["channel"]["alternatives"][0]["words"]:
            for t, m in interims:
                words = m["channel"]["alternatives"][0]["words"]
                if any(w["word"] == word["word"] and abs(w["end"] - word["end"]) < 0.5 for w in words):
                    interim_lag.append(t - sent_at(word["end"]))
                    break
    first_interim: list[float] = []
    for started in received.of_type("SpeechStarted"):
        later = [t for t, m in interims if m["start"] >= started["timestamp"] - 0.5]
        if later:
            first_interim.append(later[0] - sent_at(started["timestamp"]))
    texts = [m for m in received.finals if m["channel"]["alternatives"][0]["transcript"]]
    return RunFigures(
        end_of_turn,
        interim_lag,
        first_interim,
        audio.wer(reference, received.final_text()),
        missing,
        len(texts) / max(1, len(utterance_ends)),
    )


def peak_rss_mib(server: ServerProcess) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_one(server: ServerProcess, pcm: bytes) -> Received:
    return await stream(
        listen_url(server.ws_url, interim_results=True, vad_events=True),
        pcm,
        chunk_bytes=CHUNK_SAMPLES * 2,
        pace_s=CHUNK_S,
        timeout_s=300,
    )


def measure(endpointing: int, runs: int, extra_env: dict[str, str]) -> dict[str, Any]:
    clips = corpora.librivox_clips()
    gap = 1.5
    pcm, utterances = audio.conversation(clips, gap_s=gap)
    ends = [u.start + speech_end(c) for u, c in zip(utterances, clips, strict=True)]
    reference = " ".join(c.text for c in clips)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            archive_dir=Path(tmp) / "archive",
            env={"STREAMSCRIBE_ENDPOINTING_MS": str(endpointing), "STREAMSCRIBE_ARCHIVE": "false", **extra_env},
        ).start()
        try:
            data = audio.to_linear16(pcm)
            asyncio.run(run_one(server, data[: 16000 * 2 * 8]))  # warm-up, not counted
            figures = [analyse(asyncio.run(run_one(server, data)), ends, reference) for _ in range(runs)]
            rss = peak_rss_mib(server)
        finally:
            server.stop()
    eot = [x for f in figures for x in f.end_of_turn]
    lag = [x for f in figures for x in f.interim_lag]
    first = [x for f in figures for x in f.first_interim]
    return {
        "endpointing_ms": endpointing,
        "runs": runs,
        "utterances": len(ends) * runs,
        "missing_speech_final": sum(f.missing_speech_final for f in figures),
        "end_of_turn_p50_ms": round(1000 * percentile(eot, 50)),
        "end_of_turn_p95_ms": round(1000 * percentile(eot, 95)),
        "interim_lag_p50_ms": round(1000 * percentile(lag, 50)),
        "interim_lag_p95_ms": round(1000 * percentile(lag, 95)),
        "first_interim_p50_ms": round(1000 * percentile(first, 50)),
        "wer_median": round(statistics.median(f.wer for f in figures), 4),
        "finals_per_utterance": round(statistics.mean(f.finals_per_utterance for f in figures), 2),
        "server_peak_rss_mib": round(rss),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--endpointing", default="500", help="comma-separated ms values")
    parser.add_argument("--env", action="append", default=[], help="extra STREAMSCRIBE_X=Y for the server")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    rows = []
    yardstick = yardstick_s()
    print(f"yardstick: one direct WhisperModel.transcribe call per utterance, median {1000 * yardstick:.0f} ms")
    header = (
        "| endpointing ms | end-of-turn p50 / p95 ms | (p50 - endpointing) / yardstick "
        "| interim lag p50 / p95 ms | first interim p50 ms "
        "| WER | finals per utterance | missing speech_final | peak RSS MiB |"
    )
    print(header)
    print("|" + "---|" * 9)
    for value in (int(v) for v in args.endpointing.split(",")):
        row = measure(value, args.runs, extra_env)
        row["yardstick_ms"] = round(1000 * yardstick)
        row["end_of_turn_p50_over_endpointing_x"] = round((row["end_of_turn_p50_ms"] - value) / row["yardstick_ms"], 2)
        rows.append(row)
        print(
            f"| {value} | {row['end_of_turn_p50_ms']} / {row['end_of_turn_p95_ms']} "
            f"| {row['end_of_turn_p50_over_endpointing_x']}x "
            f"| {row['interim_lag_p50_ms']} / {row['interim_lag_p95_ms']} | {row['first_interim_p50_ms']} "
            f"| {row['wer_median']:.3f} | {row['finals_per_utterance']} "
            f"| {row['missing_speech_final']}/{row['utterances']} "
            f"| {row['server_peak_rss_mib']} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
