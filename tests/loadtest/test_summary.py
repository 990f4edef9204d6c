"""The pure figures of loadtest.run: the capacity rule, yardstick multiples, capacities and ratios, tables."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest import summary
from loadtest.summary import Capacity, Rule

YARDSTICK_S = 0.6
ENDPOINTING_MS = 400


def row(streams: int, p95: float | None = 900.0, interims: bool = False, **figures: Any) -> dict[str, Any]:
    base = {
        "mode": "embedded",
        "revision": "current abc1234",
        "interims": interims,
        "streams": streams,
        "runs": 1,
        "end_of_turn_p50_ms": 700.0,
        "end_of_turn_p95_ms": p95,
        "end_of_turn_p95_ms_runs": [p95],
        "interim_lag_p50_ms": 300.0 if interims else None,
        "interim_lag_p95_ms": 800.0 if interims else None,
        "first_interim_p50_ms": 1000.0 if interims else None,
        "missed_speech_final": 0,
        "stream_error_rate": 0.0,
        "wer": 0.056,
        "cpu_s_per_audio_s": 0.07,
    }
    return summary.judged(base | figures, ENDPOINTING_MS, YARDSTICK_S, Rule())


def test_the_bound_is_endpointing_plus_one_and_a_half_yardstick_calls() -> None:
    assert Rule().end_of_turn_bound_ms(400, 0.6) == pytest.approx(1300)
    assert Rule(bound_calls=2).end_of_turn_bound_ms(300, 0.5) == pytest.approx(1300)
    assert Rule(bound_ms=1500).end_of_turn_bound_ms(400, 0.6) == 1500


@pytest.mark.parametrize(
    ("p95", "passes"),
    [(1299.0, True), (1300.0, False), (1301.0, False), (None, False)],
)
def test_end_of_turn_p95_must_be_under_the_bound(p95: float | None, passes: bool) -> None:
    judged = row(1, p95)
    assert judged["end_of_turn_bound_ms"] == 1300
    assert judged["passes"] is passes


@pytest.mark.parametrize(("lag", "passes"), [(1499.0, True), (1500.0, False), (None, False)])
def test_with_interims_the_interim_lag_p95_must_be_under_one_and_a_half_seconds(
    lag: float | None, passes: bool
) -> None:
    assert row(1, interims=True, interim_lag_p95_ms=lag)["passes"] is passes


def test_without_interims_or_with_the_interim_bound_off_the_lag_does_not_count() -> None:
    assert row(1, interims=False, interim_lag_p95_ms=5000.0)["passes"]
    late = row(1, interims=True, interim_lag_p95_ms=5000.0)
    assert Rule(interim_bound_ms=None).passes(late, late["end_of_turn_bound_ms"])


def test_a_missed_turn_or_a_stream_error_fails_the_level() -> None:
    assert not row(1, missed_speech_final=1)["passes"]
    assert not row(1, stream_error_rate=0.2)["passes"]


def test_latency_beyond_endpointing_in_yardstick_calls() -> None:
    judged = row(1, p95=1300.0, end_of_turn_p50_ms=700.0)
    assert judged["end_of_turn_p50_x"] == 0.5
    assert judged["end_of_turn_p95_x"] == 1.5
    assert summary.in_calls(None, 400, 0.6) is None
    assert summary.in_calls(300.0, 400, 0.5) == -0.2


def test_median_row_keeps_each_runs_p95_and_labels() -> None:
    runs = [
        {"end_of_turn_p95_ms": 900.0, "interim_lag_p50_ms": None, "wer": 0.05},
        {"end_of_turn_p95_ms": 1100.0, "interim_lag_p50_ms": None, "wer": 0.07},
        {"end_of_turn_p95_ms": 1000.0, "interim_lag_p50_ms": None, "wer": 0.06},
    ]
    median = summary.median_row(runs, mode="embedded", streams=4)
    assert median["mode"] == "embedded" and median["streams"] == 4 and median["runs"] == 3
    assert median["end_of_turn_p95_ms"] == 1000.0
    assert median["wer"] == 0.06
    assert median["interim_lag_p50_ms"] is None
    assert median["end_of_turn_p95_ms_runs"] == [900.0, 1100.0, 1000.0]


def test_capacity_is_the_last_level_before_the_first_failure() -> None:
    rows = [row(1), row(2), row(4, 1400.0), row(8)]
    assert summary.capacity(rows) == Capacity(2, False)
    assert summary.capacity(reversed(rows)) == Capacity(2, False)
    assert summary.capacity([row(1, 2000.0)]) == Capacity(0, False)
    assert summary.capacity([row(1), row(2)]) == Capacity(2, True)
    assert Capacity(2, True).text() == "2+" and Capacity(4, False).text() == "4"


@pytest.mark.parametrize(
    ("current", "baseline", "expected"),
    [
        (Capacity(8, False), Capacity(4, False), (2.0, "")),
        (Capacity(8, True), Capacity(4, False), (2.0, ">=")),
        (Capacity(2, False), Capacity(8, True), (0.25, "<=")),
        (Capacity(8, True), Capacity(8, True), (None, "")),
        (Capacity(2, False), Capacity(0, False), (None, "")),
        (Capacity(0, False), Capacity(4, False), (0.0, "")),
    ],
)
def test_capacity_ratio(current: Capacity, baseline: Capacity, expected: tuple[float | None, str]) -> None:
    assert summary.ratio(current, baseline) == expected


def two_revisions() -> list[dict[str, Any]]:
    base, cur = "baseline 1111111", "current 2222222"
    return [
        row(1, revision=base, interims=True),
        row(1, revision=cur, interims=True),
        row(2, revision=base, interims=True, interim_lag_p95_ms=1600.0),
        row(2, revision=cur, interims=True),
        row(4, revision=cur, interims=True, end_of_turn_p95_ms=1350.0),
        row(1, revision=base),
        row(1, revision=cur),
        row(2, revision=base),
        row(2, revision=cur),
    ]


def test_series_and_ratios_per_mode_and_interim_setting() -> None:
    rows = two_revisions()
    found = summary.series(rows)
    assert [(s["revision"], s["interims"], s["capacity"], s["open_ended"]) for s in found] == [
        ("baseline 1111111", True, 1, False),
        ("current 2222222", True, 2, False),
        ("baseline 1111111", False, 2, True),
        ("current 2222222", False, 2, True),
    ]
    assert found[0]["end_of_turn_bound_ms"] == 1300
    ratios = summary.ratios(found, "baseline 1111111", "current 2222222")
    assert ratios == [
        {"mode": "embedded", "interims": True, "baseline": "1", "current": "2", "ratio": 2.0, "ratio_bound": ""},
        {"mode": "embedded", "interims": False, "baseline": "2+", "current": "2+", "ratio": None, "ratio_bound": ""},
    ]
    assert summary.ratios(found, "baseline 1111111", "current 9999999") == []


def test_markdown_has_one_line_per_row_and_the_capacities() -> None:
    rows = two_revisions()
    found = summary.series(rows)
    result = {
        "machine": "2 CPUs, 24 GiB",
        "yardstick": {"call_s": 0.6, "calls": 5, "cpu_s_per_audio_s": 0.1, "model": "tiny.en"}
        | {"device": "cpu", "compute_type": "int8", "cpu_threads": 1},
        "rule": Rule().describe(),
        "revisions": [
            {"label": "current 2222222", "tree": "/x", "server_module": "/x/server/__init__.py", "endpointing_ms": 400}
        ],
        "systems": [{"mode": "embedded", "revision": "current 2222222", "peak_rss_mib": 400, "overhead": {}}],
        "series": found,
        "ratios": summary.ratios(found, "baseline 1111111", "current 2222222"),
        "rows": rows,
    }
    text = summary.markdown(result)
    table = [line for line in text.splitlines() if line.startswith("| embedded | ")]
    assert len(table) == len(rows) + len(found) + 2
    assert "median 600 ms over 5 calls" in text
    assert "- current 2222222: `/x` (server from `/x/server/__init__.py`), endpointing 400 ms" in text
    assert "| embedded | baseline 1111111 | on | 2 | 1 | 700 / 900 | 900 | 0.50 / 0.83 | 300 / 1600 |" in text
    assert "**no**" in text
    assert "| embedded | off | 2+ | 2+ | - |" in text
    assert "| embedded | on | 1 | 2 | 2.00 |" in text
