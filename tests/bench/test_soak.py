"""bench/soak.py without a server: arguments, the turn rule, per-window figures, trends, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import realtime, soak


def test_defaults() -> None:
    options = soak.parse_args([])
    assert options.modes == ["embedded"]
    assert (options.minutes, options.streams, options.sample_s, options.interims) == (30.0, 8, 60.0, True)
    assert options.out_dir == Path("artifacts/bench")


def test_arguments() -> None:
    argv = ["--mode", "distributed, embedded,distributed", "--minutes", "1", "--streams", "2", "--interims", "off"]
    options = soak.parse_args([*argv, "--sample-s", "20", "--spread-s", "0", "--out-dir", "x"])
    assert options.modes == ["distributed", "embedded"]
    assert (options.minutes, options.streams, options.sample_s, options.interims) == (1.0, 2, 20.0, False)
    assert (options.spread_s, options.out_dir) == (0.0, Path("x"))


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "cluster"],
        ["--mode", ","],
        ["--minutes", "0"],
        ["--streams", "0"],
        ["--streams", "two"],
        ["--sample-s", "-1"],
        ["--spread-s", "-1"],
        ["--interims", "maybe"],
    ],
)
def test_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        soak.parse_args(argv)


def test_stream_url_is_stream_js_query() -> None:
    url = realtime.stream_url("ws://h:1", True)
    assert url.startswith("ws://h:1/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true")
    assert "vad_events=true" in url and "utterance_end_ms=1000" in url
    assert "interim_results=false" in realtime.stream_url("ws://h:1", False)


def test_turns_answered_follows_stream_js() -> None:
    pending = [2.0, 5.0, 9.0]
    assert realtime.turns_answered(pending, 0.5, 2.3) == ([2.0], 0)
    assert pending == [5.0, 9.0]
    assert realtime.turns_answered(pending, 4.0, 4.97) == ([5.0], 0)  # within 50 ms of the end
    assert realtime.turns_answered(pending, 9.5, 12.0) == ([], 1)  # its speech ended before this final began
    assert pending == []
    assert realtime.turns_answered(pending, 0.0, 20.0) == ([], 0)


def test_sent_at_clamps_to_the_frames_sent() -> None:
    times = [100.0, 100.1, 100.2]
    assert realtime.sent_at(times, 0.15) == 100.1
    assert realtime.sent_at(times, 9.0) == 100.2


def test_window_figures_and_collector() -> None:
    collector = realtime.Collector()
    collector.window.end_of_turn_ms += [float(x) for x in range(100, 1100, 100)]
    collector.window.wers += [0.1, 0.0, 0.05]
    collector.window.streams_done = 3
    for n in range(7):
        collector.window.error(f"closed 1011: {n}")
    taken = collector.take()
    assert collector.window == realtime.Window()
    figures = realtime.window_figures(taken)
    assert figures["turns"] == 10
    assert figures["end_of_turn_p50_ms"] == 550
    assert figures["end_of_turn_p95_ms"] == 955
    assert (figures["streams_done"], figures["stream_errors"], figures["wer_median"]) == (3, 7, 0.05)
    assert len(figures["errors"]) == 5  # the first few reasons, every error counted
    empty = realtime.window_figures(realtime.Window())
    assert (empty["end_of_turn_p50_ms"], empty["wer_median"], empty["turns"]) == (None, None, 0)


def test_slope_per_10_minutes() -> None:
    assert soak.slope_per_10_min([]) is None
    assert soak.slope_per_10_min([(1.0, 5.0)]) is None
    assert soak.slope_per_10_min([(2.0, 5.0), (2.0, 7.0)]) is None
    assert soak.slope_per_10_min([(1.0, 100.0), (2.0, 101.0), (3.0, 102.0)]) == pytest.approx(10.0)
    noisy = [(float(m), 300 + 0.5 * m + (1 if m % 2 else -1)) for m in range(1, 31)]
    assert soak.slope_per_10_min(noisy) == pytest.approx(5.0, abs=0.5)


def sample(minute: float, rss: dict[str, float | None], **extra: Any) -> dict[str, Any]:
    fds = {name: 10 for name in rss}
    return {"minute": minute, "rss_mib": rss, "fds": fds, "sessions_active": 2.0, **extra}


def test_series_and_trends() -> None:
    samples = [
        sample(1.0, {"gateway": 80.0, "redis": 10.0}, redis_used_mib=1.0, end_of_turn_p95_ms=900),
        sample(2.0, {"gateway": 81.0, "redis": None}, redis_used_mib=1.5, end_of_turn_p95_ms=None),
        sample(3.0, {"gateway": 82.0, "redis": 10.0}, redis_used_mib=2.0, end_of_turn_p95_ms=1000),
    ]
    found = soak.series(samples)
    assert found["rss_mib gateway"] == [(1.0, 80.0), (2.0, 81.0), (3.0, 82.0)]
    assert found["rss_mib redis"] == [(1.0, 10.0), (3.0, 10.0)]  # a gone process is left out
    assert found["rss_mib total"] == [(1.0, 90.0), (3.0, 92.0)]  # no total while one is missing
    assert found["end_of_turn_p95_ms"] == [(1.0, 900.0), (3.0, 1000.0)]
    assert "queued_finals" not in found
    trends = {t["series"]: t for t in soak.trends(samples)}
    assert trends["redis_used_mib"] == {
        "series": "redis_used_mib",
        "first": 1.0,
        "last": 2.0,
        "points": 3,
        "minutes": 2.0,
        "slope_per_10_min": 5.0,
    }
    assert soak.trend_line(trends["redis_used_mib"]) == (
        "redis_used_mib: 1 -> 2, 3 samples over 2 min, slope +5 per 10 min (+500.00% of the first)"
    )
    one = soak.trends(samples[:1])[0]
    assert soak.trend_line(one).endswith("slope - (fewer than two samples)")


def result(mode: str, samples: list[dict[str, Any]], interrupted: bool = False) -> dict[str, Any]:
    names = list(samples[0]["rss_mib"])
    return {
        "command": ["python", "-m", "bench.soak", "--minutes", "2"],
        "mode": mode,
        "revision": "current abc123",
        "machine": "2 CPUs",
        "started": "2026-11-27T18:00:00+00:00",
        "options": {"streams": 2, "minutes": 2.0, "interims": True},
        "minutes_run": samples[-1]["minute"],
        "processes": dict.fromkeys(names, 1),
        "before": sample(0.0, samples[0]["rss_mib"], queued_finals=0.0),
        "samples": samples,
        "interrupted": interrupted,
    }


def test_markdown_and_write(tmp_path: Path) -> None:
    samples = [
        sample(m, {"gateway": 80.0 + m, "worker0": 250.0}, queued_finals=0.0, redis_used_mib=1.4, cpu_pct=60.0)
        | {"turns": 9, "end_of_turn_p50_ms": 700, "end_of_turn_p95_ms": 900, "wer_median": 0.04}
        | {"streams_done": 2, "stream_errors": 0, "missed_turns": 0}
        for m in (1.0, 2.0)
    ]
    written = soak.write(result("distributed", samples, interrupted=True), tmp_path)
    text = written.with_suffix(".md").read_text()
    assert "# Soak, distributed, real-time streams: 2, 2 of 2 min (interrupted)" in text
    header = next(line for line in text.splitlines() if line.startswith("| min"))
    assert "| RSS MiB gateway | RSS MiB worker0 | fds gateway | fds worker0 | Redis MiB |" in header
    rows = [line for line in text.splitlines() if line.startswith("| ") and line != header]
    assert len(rows) == 3  # the idle sample, then one per minute
    assert rows[0] == "| 0 | 81 | 250 | 10 | 10 | - | 2 | 0 | - | - | - / - | - / - / - | - |"
    assert rows[2] == "| 2 | 82 | 250 | 10 | 10 | 1.4 | 2 | 0 | 60 | 9 | 700 / 900 | 2 / 0 / 0 | 0.04 |"
    assert "- rss_mib gateway: 81 -> 82, 2 samples over 1 min, slope +10 per 10 min" in text
    saved = json.loads(written.with_suffix(".json").read_text())
    assert saved["trends"][0]["series"] == "rss_mib gateway"
    embedded = soak.markdown(result("embedded", samples) | {"trends": []})
    assert "Redis MiB" not in embedded and "(interrupted)" not in embedded
