"""bench/fast_sender.py without a server: arguments, the fast sender's figures, a case's row, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import fast_sender as fs
from bench import realtime


def test_defaults_and_output_name() -> None:
    options = fs.parse_args([])
    assert (options.runs, options.baseline, options.mode, options.repeat, options.delay_s) == (
        3,
        None,
        "embedded",
        4,
        1.0,
    )
    assert options.out == Path("artifacts/bench/fast-sender")
    assert fs.parse_args(["--baseline", "HEAD~1"]).out == Path("artifacts/bench/fast-sender-vs-HEAD_1")
    assert fs.parse_args(["--mode", "distributed"]).out == Path("artifacts/bench/fast-sender-distributed")
    assert fs.parse_args(["--out", "o", "--runs", "1"]).out == Path("o")


@pytest.mark.parametrize(
    "argv", [["--runs", "0"], ["--repeat", "0"], ["--delay-s", "-1"], ["--mode", "cluster"], ["--runs", "x"]]
)
def test_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        fs.parse_args(argv)


UPLOAD = fs.Upload([b"\0" * 10], "he was not an ill disposed young man", 119.94)


def test_fast_figures_every_final() -> None:
    outcome = fs.FastOutcome(["he was not", "", "an ill disposed young man"], [], 119.9, 100.3, 113.5)
    figures = fs.fast_figures(outcome, UPLOAD, 100.0, 1000, None)
    assert figures == {
        "audio_s": 119.9,
        "upload_s": 0.3,
        "done_s": 13.5,
        "close_code": 1000,
        "close_reason": "",
        "errors": [],
        "every_final": True,
        "wer": 0.0,
        "metadata_duration_s": 119.9,
    }


def test_fast_figures_missing_finals_or_an_early_close() -> None:
    reason = "2 final result(s) were not produced within 60 s"
    outcome = fs.FastOutcome(["he was not"], [reason], None, 100.3, 170.0)
    figures = fs.fast_figures(outcome, UPLOAD, 100.0, 1011, reason)
    assert figures["every_final"] is False
    assert figures["wer"] == pytest.approx(5 / 8)
    cut = fs.fast_figures(fs.FastOutcome(done=101.0), UPLOAD, 100.0, 1008, "too long")
    assert (cut["upload_s"], cut["every_final"], cut["wer"]) == (None, False, 1.0)


def test_realtime_figures() -> None:
    window = realtime.Window(end_of_turn_ms=[700.4, 5556.0], missed_turns=1, wers=[0.04231])
    assert fs.realtime_figures(window) == {
        "end_of_turn_ms": [700, 5556],
        "missed_turns": 1,
        "wer": 0.0423,
        "errors": [],
    }
    refused = realtime.Window(missed_turns=5)
    refused.error("closed 1013: queue full")
    assert fs.realtime_figures(refused)["wer"] is None
    assert fs.realtime_figures(refused)["errors"] == ["closed 1013: queue full"]


def run(eot: list[int], fast: dict[str, Any] | None = None, errors: list[str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"realtime": {"end_of_turn_ms": eot, "missed_turns": 5 - len(eot), "wer": 0.04}}
    found["realtime"]["errors"] = errors or []
    return found | ({"fast": fast} if fast else {})


def fast(upload_s: float, done_s: float, code: int = 1000, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    every = code == 1000 and not errors
    return {"audio_s": 119.9, "upload_s": upload_s, "done_s": done_s, "close_code": code, "errors": list(errors)} | {
        "every_final": every,
        "wer": 0.05,
    }


def test_case_row_alone() -> None:
    row = fs.case_row("alone", [run([700, 800, 900, 1000, 1100]), run([600, 700, 800])], 30.0, 60.0)
    assert (row["runs"], row["turns"], row["missed_turns"]) == (2, 8, 2)
    assert (row["end_of_turn_p50_ms"], row["end_of_turn_p95_ms"], row["end_of_turn_max_ms"]) == (800, 1065, 1100)
    assert (row["realtime_wer"], row["server_cpu_s"], row["server_cores_busy"]) == (0.04, 30.0, 0.5)
    assert "fast_upload_s" not in row


def test_case_row_beside_a_fast_sender() -> None:
    runs = [
        run([5556, 1721], fast(0.29, 13.73)),
        run([1500], fast(0.31, 14.0)),
        run([], fast(0.30, 70.0, 1011, ("1 final result(s) were not produced",)), ["closed 1013: busy"]),
    ]
    row = fs.case_row("beside a fast sender", runs, 40.0, 0.0)
    assert (row["fast_upload_s"], row["fast_done_s"], row["fast_x_real_time"]) == (0.30, 14.0, 8.6)
    assert (row["fast_every_final"], row["fast_close_codes"]) == ("2/3", [1000, 1011])
    assert row["fast_errors"] == ["1 final result(s) were not produced"]
    assert row["realtime_errors"] == ["closed 1013: busy"]
    assert row["server_cores_busy"] is None


def test_markdown() -> None:
    alone = fs.case_row("alone", [run([700, 800])], 15.8, 33.0)
    beside = fs.case_row("beside a fast sender", [run([5556], fast(0.29, 13.73, 1011, ("not produced",)))], 24.8, 34.0)
    result = {
        "command": ["python", "-m", "bench.fast_sender", "--runs", "1"],
        "machine": "2 CPUs",
        "mode": "embedded",
        "delay_s": 1.0,
        "fast_audio_s": 119.9,
        "realtime_audio_s": 32.7,
        "rows": [{"revision": "current abc"} | alone, {"revision": "current abc"} | beside],
    }
    lines = fs.markdown(result).splitlines()
    assert lines[0] == "# A fast sender beside a real-time stream (embedded)"
    assert "119.9 s of speech in 1 s frames" in lines[2]
    assert (
        lines[-2]
        == "| current abc | alone | 750 / 795 / 800 | 2 (3) | 0.04 | closed 1000 | - | - | - | - | 15.8 (0.48) |"
    )
    assert lines[-1] == (
        "| current abc | beside a fast sender | 5556 / 5556 / 5556 | 1 (4) | 0.04 | closed 1000 | 0.29 "
        "| 13.73 (8.7x) | 0.05 | 0/1 (not produced) | 24.8 (0.73) |"
    )
