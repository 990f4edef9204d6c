"""loadtest.run's command line: levels, interim settings (with the old --interim/--no-interim), bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.run import parse_args
from loadtest.summary import Rule


def test_defaults_measure_both_interim_settings_at_increasing_concurrency() -> None:
    options = parse_args([])
    assert options.modes == ["embedded"]
    assert options.streams == [1, 2, 4, 8]
    assert options.interims == [True, False]
    assert options.runs == 2
    assert options.baseline is None
    assert options.rule == Rule(bound_calls=1.5, bound_ms=None, interim_bound_ms=1500.0)
    assert options.out == Path("artifacts/loadtest/embedded-interims-on-off")


def test_lists_are_parsed_sorted_and_deduplicated() -> None:
    options = parse_args(["--mode", "distributed,embedded", "--streams", "8,1,4,4", "--interims", "off,on,off"])
    assert options.modes == ["distributed", "embedded"]
    assert options.streams == [1, 4, 8]
    assert options.interims == [False, True]


@pytest.mark.parametrize(("flag", "expected"), [("--interim", [True]), ("--no-interim", [False])])
def test_the_old_boolean_flags_are_aliases(flag: str, expected: list[bool]) -> None:
    assert parse_args([flag]).interims == expected
    assert parse_args(["--interims", "on,off", flag]).interims == expected


def test_baseline_bounds_and_out() -> None:
    options = parse_args(
        ["--baseline", "HEAD~3", "--bound-ms", "1500", "--interim-bound-ms", "off", "--bound-calls", "2"]
    )
    assert options.baseline == "HEAD~3"
    assert options.rule == Rule(bound_calls=2.0, bound_ms=1500.0, interim_bound_ms=None)
    assert options.out == Path("artifacts/loadtest/embedded-interims-on-off-vs-HEAD_3")
    assert parse_args(["--out", "x/y"]).out == Path("x/y")


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "cloud"],
        ["--streams", "0,2"],
        ["--streams", "two"],
        ["--interims", "maybe"],
        ["--interims", ""],
        ["--runs", "0"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err
