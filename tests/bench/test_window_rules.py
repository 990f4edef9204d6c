"""bench/window_rules.py without decoding: which window's output and CPU time a mixed rule takes."""

from __future__ import annotations

from typing import Any

from bench.window_rules import MixedRule, replay

FULL = [
    {"audio_s": 1.0, "cpu_s": 0.5, "text": "yes", "confidences": [0.9]},
    {"audio_s": 5.0, "cpu_s": 0.6, "text": "and mister john", "confidences": [0.9, 0.8, 0.9]},
    {"audio_s": 6.0, "cpu_s": 0.6, "text": "press star", "confidences": [0.9, 0.9]},
]
SHORT: list[dict[str, Any]] = [
    {"audio_s": 1.0, "cpu_s": 0.2, "text": "yes yes", "confidences": [0.9, 0.9]},
    {"audio_s": 5.0, "cpu_s": 0.2, "text": "mister john", "confidences": [0.13, 0.9]},
    {"audio_s": 6.0, "cpu_s": 0.2, "text": "press start", "confidences": [0.9, 0.6]},
]


def test_short_audio_stays_on_the_30_s_window() -> None:
    assert replay(MixedRule(from_s=2.0, confidence=0.0), FULL, SHORT) == [
        ("yes", 0.5),
        ("mister john", 0.2),
        ("press start", 0.2),
    ]


def test_a_word_under_the_confidence_costs_both_decodes() -> None:
    picked = replay(MixedRule(from_s=0.0, confidence=0.2), FULL, SHORT)
    assert picked == [("yes yes", 0.2), ("and mister john", 0.6 + 0.2), ("press start", 0.2)]


def test_an_empty_short_result_counts_as_unsure() -> None:
    empty = [{**SHORT[0], "text": "", "confidences": []}]
    assert replay(MixedRule(from_s=0.0, confidence=0.1), FULL[:1], empty) == [("yes", 0.5 + 0.2)]


def test_labels_name_the_rule() -> None:
    assert MixedRule(3.0, 0.0).label() == "short from 3 s"
    assert MixedRule(2.0, 0.4).label() == "short from 2 s, 30 s again under confidence 0.4"
