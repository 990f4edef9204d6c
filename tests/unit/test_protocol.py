"""streaming.protocol: query parameters, control messages, server messages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.codecs import Encoding
from streaming.jobs import Word
from streaming.protocol import (
    CloseCode,
    CloseStream,
    Finalize,
    KeepAlive,
    ListenParams,
    ModelInfo,
    ProtocolError,
    UnknownControl,
    error_message,
    parse_control,
    parse_listen_params,
    results_message,
    speech_started_message,
    utterance_end_message,
)

# -- query parameters ----------------------------------------------------------------


def test_defaults() -> None:
    params = parse_listen_params([])
    assert params == ListenParams()
    assert params.encoding is Encoding.LINEAR16
    assert params.sample_rate == 16_000
    assert params.channels == 1
    assert params.multichannel is False
    assert params.interim_results is False
    assert params.endpointing_ms is None
    assert params.endpointing_disabled is False
    assert params.utterance_end_ms is None
    assert params.vad_events is False
    assert params.language is None
    assert params.model is None
    assert params.keyterms == ()
    assert params.output_channels == 1


def test_all_known_params() -> None:
    params = parse_listen_params(
        [
            ("encoding", "MULAW"),
            ("sample_rate", "8000"),
            ("channels", "2"),
            ("multichannel", "true"),
            ("interim_results", "1"),
            ("endpointing", "300"),
            ("utterance_end_ms", "1000"),
            ("vad_events", "yes"),
            ("language", "en-US"),
            ("model", " nova-2 "),
            ("keyterm", "Kubernetes"),
            ("keywords", "Redis:2"),
        ]
    )
    assert params.encoding is Encoding.MULAW
    assert params.sample_rate == 8000
    assert params.channels == 2
    assert params.multichannel is True
    assert params.output_channels == 2
    assert params.interim_results is True
    assert params.endpointing_ms == 300
    assert params.endpointing_disabled is False
    assert params.utterance_end_ms == 1000
    assert params.vad_events is True
    assert params.language == "en"
    assert params.model == "nova-2"
    assert params.keyterms == ("Kubernetes", "Redis")


@pytest.mark.parametrize("value", ["linear16", "mulaw", "alaw", " Linear16 ", "ALAW"])
def test_encodings(value: str) -> None:
    assert parse_listen_params([("encoding", value)]).encoding.value == value.strip().lower()


@pytest.mark.parametrize(("value", "expected"), [("8000", 8000), ("48000", 48000), (" 44100 ", 44100)])
def test_sample_rates(value: str, expected: int) -> None:
    assert parse_listen_params([("sample_rate", value)]).sample_rate == expected


@pytest.mark.parametrize("name", ["multichannel", "interim_results", "vad_events"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("NO", False)],
)
def test_booleans(name: str, value: str, expected: bool) -> None:
    assert getattr(parse_listen_params([(name, value)]), name) is expected


@pytest.mark.parametrize(
    ("value", "ms", "disabled"),
    [("false", None, True), ("0", None, True), ("true", None, False), ("10", 10, False), ("10000", 10_000, False)],
)
def test_endpointing(value: str, ms: int | None, disabled: bool) -> None:
    params = parse_listen_params([("endpointing", value)])
    assert params.endpointing_ms == ms
    assert params.endpointing_disabled is disabled


def test_multichannel_without_channels_is_one_output() -> None:
    assert parse_listen_params([("channels", "3")]).output_channels == 1
    assert parse_listen_params([("channels", "3"), ("multichannel", "true")]).output_channels == 3


@pytest.mark.parametrize(("value", "expected"), [("en", "en"), ("en-US", "en"), ("de-DE", "de"), ("yue", "yue")])
def test_language_is_reduced_to_base_code(value: str, expected: str) -> None:
    assert parse_listen_params([("language", value)]).language == expected


BAD_VALUES = [
    ("encoding", "opus"),
    ("encoding", ""),
    ("encoding", "pcm"),
    ("sample_rate", "abc"),
    ("sample_rate", ""),
    ("sample_rate", "7999"),
    ("sample_rate", "48001"),
    ("sample_rate", "16000.0"),
    ("sample_rate", "-16000"),
    ("channels", "0"),
    ("channels", "9"),
    ("channels", "two"),
    ("channels", "1.5"),
    ("multichannel", "maybe"),
    ("multichannel", ""),
    ("interim_results", "2"),
    ("interim_results", "on"),
    ("vad_events", "y"),
    ("vad_events", "null"),
    ("endpointing", "abc"),
    ("endpointing", "5"),
    ("endpointing", "9"),
    ("endpointing", "10001"),
    ("endpointing", "-100"),
    ("endpointing", "300ms"),
    ("utterance_end_ms", "999"),
    ("utterance_end_ms", "5001"),
    ("utterance_end_ms", "abc"),
    ("utterance_end_ms", "false"),
    ("language", "english"),
    ("language", "EN"),
    ("language", "e"),
    ("language", "en_US"),
    ("language", ""),
    ("language", "en-"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_values_raise_1008_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_listen_params([("encoding", "linear16"), (name, value)])
    assert info.value.code == CloseCode.POLICY_VIOLATION == 1008
    assert info.value.reason.startswith(name)
    assert str(info.value) == info.value.reason
    assert len(info.value.reason) <= 120


def test_long_bad_value_reason_is_truncated() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_listen_params([("encoding", "x" * 1000)])
    assert info.value.reason.startswith("encoding")
    assert len(info.value.reason) <= 120


def test_unknown_params_are_ignored() -> None:
    params = parse_listen_params(
        [
            ("punctuate", "true"),
            ("smart_format", "whatever"),
            ("numerals", "1"),
            ("tag", "x"),
            ("diarize", "definitely"),
            ("", ""),
        ]
    )
    assert params == ListenParams()


def test_keywords_boost_suffix_is_stripped() -> None:
    params = parse_listen_params(
        [
            ("keywords", "Redis:2"),
            ("keywords", "Postgres:-1.5"),
            ("keywords", "plain"),
            ("keywords", "a:b:3"),
            ("keyterm", "C++: the language"),
            ("keyterm", "  spaced  "),
            ("keywords", "   :5"),
            ("keyterm", "   "),
        ]
    )
    assert params.keyterms == ("Redis", "Postgres", "plain", "a:b", "C++: the language", "spaced")


def test_keyterms_are_capped() -> None:
    query = [("keyterm", f"term{i}") for i in range(80)] + [("keyterm", "y" * 500)]
    params = parse_listen_params(query)
    assert len(params.keyterms) == 50
    assert params.keyterms[0] == "term0"
    params = parse_listen_params([("keyterm", "y" * 500)])
    assert params.keyterms == ("y" * 100,)


def test_blank_model_is_ignored() -> None:
    assert parse_listen_params([("model", "  ")]).model is None


def test_later_value_of_a_repeated_param_wins() -> None:
    assert parse_listen_params([("sample_rate", "8000"), ("sample_rate", "22050")]).sample_rate == 22050


# -- control messages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "KeepAlive"}', KeepAlive()),
        ('{"type":"Finalize"}', Finalize()),
        ('{"type": "CloseStream", "extra": 1}', CloseStream()),
        ('{"type": "Configure"}', UnknownControl("Configure")),
        ('{"type": ""}', UnknownControl("")),
    ],
)
def test_control_messages(text: str, expected: object) -> None:
    assert parse_control(text) == expected


def test_unknown_control_type_is_truncated() -> None:
    message = parse_control(json.dumps({"type": "X" * 500}))
    assert message == UnknownControl("X" * 40)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "KeepAlive",
        "{",
        "[]",
        '["KeepAlive"]',
        "null",
        "42",
        '"KeepAlive"',
        "{}",
        '{"type": 1}',
        '{"type": null}',
        '{"type": ["KeepAlive"]}',
        '{"kind": "KeepAlive"}',
        "NaN",
        "[" * 100_000,
        '{"a":' * 100_000,
    ],
)
def test_garbage_text_is_1007(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_control(text)
    assert info.value.code == CloseCode.INVALID_DATA == 1007
    assert info.value.reason


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.from_regex(r'\{"type": ?"[A-Za-z]{0,12}"\}', fullmatch=True)))
def test_any_text_is_a_control_message_or_1007(text: str) -> None:
    try:
        message = parse_control(text)
    except ProtocolError as error:
        assert error.code == CloseCode.INVALID_DATA
    else:
        assert isinstance(message, KeepAlive | Finalize | CloseStream | UnknownControl)


def test_close_codes() -> None:
    assert CloseCode.NORMAL == 1000
    assert CloseCode.GOING_AWAY == 1001
    assert CloseCode.INVALID_DATA == 1007
    assert CloseCode.POLICY_VIOLATION == 1008
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.INTERNAL_ERROR == 1011
    assert CloseCode.SERVICE_RESTART == 1012
    assert CloseCode.TRY_AGAIN_LATER == 1013


# -- server messages -------------------------------------------------------------

MODEL = ModelInfo(name="general", version="2024-01", arch="whisper-base", uuid="u-123")


def test_results_message_shape() -> None:
    words = [Word("Hello,", 1.2344, 1.5, 0.9), Word("World.", 1.6, 2.00049, 0.7)]
    message = results_message(
        request_id="req-1",
        model=MODEL,
        channel=1,
        channels=2,
        start=1.00049,
        duration=1.23456,
        words=iter(words),
        is_final=True,
        speech_final=True,
        from_finalize=False,
    )
    assert message == {
        "type": "Results",
        "channel_index": [1, 2],
        "duration": 1.235,
        "start": 1.0,
        "is_final": True,
        "speech_final": True,
        "from_finalize": False,
        "channel": {
            "alternatives": [
                {
                    "transcript": "Hello, World.",
                    "confidence": 0.8,
                    "words": [
                        {"word": "hello", "start": 1.234, "end": 1.5, "confidence": 0.9, "punctuated_word": "Hello,"},
                        {"word": "world", "start": 1.6, "end": 2.0, "confidence": 0.7, "punctuated_word": "World."},
                    ],
                }
            ]
        },
        "metadata": {
            "request_id": "req-1",
            "model_info": {"name": "general", "version": "2024-01", "arch": "whisper-base"},
            "model_uuid": "u-123",
        },
    }
    json.dumps(message)  # plain JSON


def test_empty_results_message() -> None:
    message = results_message(
        request_id="r",
        model=MODEL,
        channel=0,
        channels=1,
        start=3.0,
        duration=0.0,
        words=[],
        is_final=True,
        speech_final=False,
        from_finalize=True,
    )
    alternative = message["channel"]["alternatives"][0]
    assert alternative == {"transcript": "", "confidence": 0.0, "words": []}
    assert message["from_finalize"] is True


def test_event_messages() -> None:
    assert speech_started_message(0, 2, 1.23456) == {"type": "SpeechStarted", "channel": [0, 2], "timestamp": 1.235}
    assert utterance_end_message(1, 2, 4.5) == {"type": "UtteranceEnd", "channel": [1, 2], "last_word_end": 4.5}
    assert error_message("boom") == {
        "type": "Error",
        "description": "boom",
        "message": "boom",
        "variant": "BAD_REQUEST",
    }
    assert error_message("x", "TIMEOUT")["variant"] == "TIMEOUT"
    assert MODEL.as_dict() == {"name": "general", "version": "2024-01", "arch": "whisper-base"}
