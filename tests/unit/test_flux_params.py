"""Flux's query, its thresholds and their mapping onto the session, its messages,
and the end-of-turn confidence (streaming.flux.params, .messages, .turns)."""

from __future__ import annotations

import pytest

from streaming.codecs import Encoding
from streaming.events import SpeculativeFinalEvent, TranscriptEvent
from streaming.flux.messages import Configure, ForceEndTurn, UnknownMessage, parse_client_message, turn_info
from streaming.flux.params import (
    ThresholdError,
    Thresholds,
    endpointing_ms,
    parse_flux_query,
    silence_for,
    speculative_ms,
)
from streaming.flux.turns import TurnEvent, TurnTracker, end_of_turn_confidence, text_cue
from streaming.jobs import Word
from streaming.protocol import CloseCode, CloseStream, KeepAlive, ProtocolError
from streaming.redaction import RedactionMode


def words(text: str) -> tuple[Word, ...]:
    return tuple(Word(token, i * 0.3, i * 0.3 + 0.25, 0.9) for i, token in enumerate(text.split()))


# -- the query -------------------------------------------------------------------------


def test_the_sdk_query_maps_onto_a_session() -> None:
    query = [
        ("model", "flux-general-en"), ("encoding", "mulaw"), ("sample_rate", "8000"), ("eot_threshold", "0.8"),
        ("eager_eot_threshold", "0.5"), ("eot_timeout_ms", "3000"), ("keyterm", "Deepgram"), ("keyterm", "Flux"),
        ("language_hint", "en"), ("tag", "a"), ("tag", "b"), ("mip_opt_out", "true"), ("redact", "aggressive_numbers"),
    ]  # fmt: skip
    params, options = parse_flux_query(query)
    assert (params.encoding, params.sample_rate, params.channels) == (Encoding.MULAW, 8000, 1)
    assert params.keyterms == ("Deepgram", "Flux") and params.language == "en" and params.model is None
    assert params.interim_results and params.vad_events and params.turn_notices
    assert params.endpointing_ms == 500 and params.redact == frozenset({RedactionMode.NUMBERS})
    assert options.thresholds == Thresholds(0.8, 0.5, 3000)
    assert options.tags == ("a", "b") and options.mip_opt_out and options.model == "flux-general-en"
    assert options.warnings == ()


def test_defaults_are_flux_defaults() -> None:
    params, options = parse_flux_query([])
    assert options.thresholds == Thresholds(0.7, None, 5000)
    assert (params.encoding, params.sample_rate, params.endpointing_ms) == (Encoding.LINEAR16, 16_000, 400)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("eot_threshold", "0.45"), ("eot_threshold", "1.1"), ("eot_threshold", "high"), ("eot_threshold", "nan"),
        ("eager_eot_threshold", "0.2"), ("eager_eot_threshold", "0.95"), ("eot_timeout_ms", "499"),
        ("eot_timeout_ms", "60001"), ("eot_timeout_ms", "1000.5"), ("encoding", "opus"), ("encoding", "linear32"),
        ("sample_rate", "100"), ("mip_opt_out", "maybe"), ("redact", "everything"), ("language_hint", "english!"),
    ],
)  # fmt: skip
def test_bad_query_values_are_refused_with_1008(name: str, value: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_flux_query([(name, value)])
    assert refused.value.code == CloseCode.POLICY_VIOLATION and name in refused.value.reason


def test_parameters_accepted_and_ignored_are_warned_about() -> None:
    _, options = parse_flux_query([("numerals", "true"), ("profanity_filter", "true"), ("language_hint", "en"),
                                   ("language_hint", "de"), ("unheard_of", "1")])  # fmt: skip
    described = " ".join(description for _, description in options.warnings)
    assert len(options.warnings) == 3 and "numerals" in described and "profanity_filter" in described
    assert "only the first hint" in described and all(code == "UNSUPPORTED_PARAMETER" for code, _ in options.warnings)


# -- thresholds and the mapping ---------------------------------------------------------------


def test_thresholds_map_onto_endpointing_and_speculative_silences() -> None:
    assert [endpointing_ms(Thresholds(eot)) for eot in (0.5, 0.6, 0.7, 0.9, 1.0)] == [200, 300, 400, 600, 700]
    assert silence_for(0.7) == pytest.approx(0.4) and silence_for(0.2) == 0.0
    # Eager: the silence at which a neutral ending reaches it, at least 100 ms and under endpointing.
    assert speculative_ms(Thresholds(0.7, 0.5), 200) == 200
    assert speculative_ms(Thresholds(0.7, 0.3), 200) == 100
    assert speculative_ms(Thresholds(0.7, 0.9), 200) == 300
    assert speculative_ms(Thresholds(0.5, 0.5), 200) == 100
    # Without it, the server's speculative silence (or none).
    assert speculative_ms(Thresholds(0.7), 200) == 200
    assert speculative_ms(Thresholds(0.7), None) is None and speculative_ms(Thresholds(0.7), 0) is None


def test_configure_changes_only_what_it_names() -> None:
    start = Thresholds(0.7, 0.5, 5000)
    assert start.changed({"eot_threshold": 0.9}) == Thresholds(0.9, 0.5, 5000)
    assert start.changed({"eot_timeout_ms": "800", "eager_eot_threshold": None}) == Thresholds(0.7, 0.5, 800)
    for bad in ({"eot_threshold": True}, {"eot_timeout_ms": [1]}, {"eager_eot_threshold": "0.1"}):
        with pytest.raises(ThresholdError):
            start.changed(bad)


# -- messages -----------------------------------------------------------------------------------


def test_client_messages_parse() -> None:
    assert parse_client_message('{"type": "CloseStream"}') == CloseStream()
    assert parse_client_message('{"type": "ForceEndTurn"}') == ForceEndTurn()
    assert parse_client_message('{"type": "KeepAlive"}') == KeepAlive()
    assert parse_client_message('{"type": "Finalize"}') == UnknownMessage("Finalize")
    configure = '{"type": "Configure", "thresholds": {"eot_threshold": 0.8}, "keyterms": ["a", " "], "numerals": true}'
    assert parse_client_message(configure) == Configure({"eot_threshold": 0.8}, ("a",), ("numerals",))
    assert parse_client_message('{"type": "Configure", "keyterms": "one"}') == Configure({}, ("one",), ())
    assert parse_client_message('{"type": "Configure"}') == Configure({}, None, ())


@pytest.mark.parametrize(
    "text", ["not json", "[1, 2]", '{"kind": "CloseStream"}', '{"type": 7}', '{"type": "Configure", "thresholds": 3}',
             '{"type": "Configure", "keyterms": [1]}', "[" * 100_000],
)  # fmt: skip
def test_malformed_client_messages_are_1007(text: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_message(text)
    assert refused.value.code == CloseCode.INVALID_DATA


def test_turn_info_has_the_sdk_fields_and_trigger_only_when_given() -> None:
    message = turn_info(request_id="r", sequence_id=3, event="Update", turn_index=1, window=(0.5, 1.23456),
                        words=words("hi there"), confidence=0.41234)  # fmt: skip
    assert message == {
        "type": "TurnInfo", "request_id": "r", "sequence_id": 3, "event": "Update", "turn_index": 1,
        "audio_window_start": 0.5, "audio_window_end": 1.235, "transcript": "hi there",
        "words": [{"word": "hi", "confidence": 0.9, "start": 0.0, "end": 0.25},
                  {"word": "there", "confidence": 0.9, "start": 0.3, "end": 0.55}],
        "end_of_turn_confidence": 0.412,
    }  # fmt: skip
    ended = turn_info(request_id="r", sequence_id=4, event="EndOfTurn", turn_index=1, window=(0, 1), words=(),
                      confidence=0.7, trigger="model")  # fmt: skip
    assert ended["trigger"] == "model"


# -- the confidence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("I went home.", 0.1), ("Is it?", 0.1), ("Wow!", 0.1), ("I went home", 0.0), ("I went home and", -0.2),
        ("and then, but", -0.2), ("I think so.", 0.1), ("so", -0.2), ("well um", -0.2), ("well, um.", -0.2),
        ("first,", -0.2), ("going to the", -0.2), ("and so...", -0.2), ("", 0.0),
    ],
)  # fmt: skip
def test_the_last_word_raises_or_lowers_the_confidence(text: str, cue: float) -> None:
    assert text_cue(words(text)) == cue


def test_confidence_grows_with_silence_and_stays_under_one() -> None:
    done, going = words("all done."), words("and")
    assert end_of_turn_confidence(0.0, words("so we went")) == pytest.approx(0.3)
    assert end_of_turn_confidence(0.3, done) == pytest.approx(0.7)
    assert end_of_turn_confidence(0.6, going) == pytest.approx(0.7)
    assert end_of_turn_confidence(30.0, done) == 0.99 and end_of_turn_confidence(5.0, ()) == 0.0


# -- the tracker alone ----------------------------------------------------------------------------


def test_a_final_that_differs_from_the_eager_reading_is_announced_by_turn_resumed() -> None:
    tracker = TurnTracker(Thresholds(0.7, 0.5), endpointing_s=0.4)
    assert [t.event for t in tracker.speech_started(1.0, 1.1) if isinstance(t, TurnEvent)] == ["StartOfTurn"]
    tracker.speculative(SpeculativeFinalEvent(0, 0.8, 1.4, 2.0, words("card 4242")), 2.2)
    eager = tracker.advance(2.2, segment_open=True, finals_owed=0)
    assert [(t.event, t.transcript) for t in eager if isinstance(t, TurnEvent)] == [("EagerEndOfTurn", "card 4242")]
    # The final says otherwise (a final redacts a trailing number an interim showed).
    final = TranscriptEvent(0, 0.8, 1.6, words("card [PCI]"), True, True, False, 2)
    tracker.final(final, 2.4)
    ended = tracker.advance(2.4, segment_open=False, finals_owed=0)
    assert [(t.event, t.transcript) for t in ended if isinstance(t, TurnEvent)] == [
        ("TurnResumed", "card [PCI]"),
        ("EndOfTurn", "card [PCI]"),
    ]
    assert tracker.turn_index == 1 and tracker.advance(3.0, segment_open=False, finals_owed=0) == []


def test_a_forced_end_while_a_final_is_owed_waits_for_it() -> None:
    tracker = TurnTracker(Thresholds(1.0), endpointing_s=0.7)
    tracker.speech_started(1.0, 1.1)
    # The segment closed at 2.7 (speech until 2.0); its final is still being read.
    assert tracker.force_end(2.8, segment_open=False) == []  # no Finalize: nothing is open
    waiting = tracker.advance(2.9, segment_open=False, finals_owed=1)
    assert [t.event for t in waiting if isinstance(t, TurnEvent)] == ["Update"]  # the turn is still open
    tracker.final(TranscriptEvent(0, 0.8, 1.9, words("well and"), True, True, False, 2), 3.1)
    (end,) = tracker.advance(3.1, segment_open=False, finals_owed=0)
    assert isinstance(end, TurnEvent) and (end.event, end.trigger, end.transcript) == (
        "EndOfTurn",
        "manual",
        "well and",
    )
    assert tracker.force_end(3.2, segment_open=False) == []  # no turn: ignored
