"""OpenAI Realtime transcription sessions: turns with server VAD and with manual commits,
deltas that only append, clear, failures, G.711 input, and the end of a session."""

from __future__ import annotations

from typing import Any

import pytest

from streaming.actions import CloseSocket, FinishSession, Notice, Reply
from streaming.jobs import JobKind
from tests.unit.configs import session_config
from tests.unit.realtime_harness import Realtime, jobs, of_type, replies, session_messages, types
from tests.unit.session_harness import silence, speech, track

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
GA_TURN = [
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.added",
]


def ga(**audio_input: Any) -> dict[str, Any]:
    return {"type": "transcription", "audio": {"input": audio_input}}


def deltas(events: list[dict[str, Any]], item_id: str) -> str:
    return "".join(e["delta"] for e in of_type(events, DELTA) if e["item_id"] == item_id)


def test_server_vad_turn_speech_started_deltas_then_committed_and_completed() -> None:
    # plain LocalAgreement-2: the opening agreement is tested in test_stabilizer and test_session_interims
    rt = Realtime(config=session_config(default_endpointing_ms=500, interim_opening_readings=2))
    out = rt.append(track(("silence", 0.5), ("speech", 1.2)))
    (started,) = replies(out)
    assert started["type"] == "input_audio_buffer.speech_started"
    assert started["audio_start_ms"] == pytest.approx(500, abs=40)
    item = started["item_id"]
    (first,) = jobs(out, JobKind.INTERIM)
    assert replies(rt.answer(first, ["And", "so", "my"])) == []  # nothing agreed yet: no delta
    (second,) = jobs(rt.log, JobKind.INTERIM)[1:]
    (delta,) = replies(rt.answer(second, ["And", "so", "my", "fellow"]))
    assert (delta["type"], delta["item_id"], delta["delta"]) == (DELTA, item, "And so my")
    ending = rt.append(silence(0.8))
    (final,) = jobs(ending, JobKind.FINAL)
    assert types(replies(ending)) == GA_TURN  # committed as endpointing closes the segment, before the final
    closing = replies(rt.answer(final, ["And", "so,", "my", "fellow", "Americans."]))
    assert types(closing) == [DELTA, COMPLETED, "conversation.item.done"]
    stopped, committed, added, last, completed, done = [*replies(ending), *closing]
    assert stopped["item_id"] == committed["item_id"] == added["item"]["id"] == completed["item_id"] == item
    assert stopped["audio_end_ms"] == pytest.approx(2200, abs=60)
    assert committed["previous_item_id"] is None and added["item"]["content"][0]["transcript"] is None
    assert last["delta"] == " fellow Americans."  # by position: the words after the three sent
    assert completed["transcript"] == "And so, my fellow Americans."
    assert completed["usage"] == {"type": "duration", "seconds": pytest.approx(completed["usage"]["seconds"])}
    assert 1.2 < completed["usage"]["seconds"] < 2.2
    assert done["item"]["content"][0]["transcript"] == completed["transcript"]
    # What subscribers and webhooks get is still the session's own messages.
    assert [m["type"] for m in session_messages(rt.log)] == ["SpeechStarted", "Results", "Results", "Results"]


def test_deltas_only_append_even_when_readings_change() -> None:
    rt = Realtime()
    rt.append(track(("silence", 0.5), ("speech", 1.5)))
    texts = [["hello", "there", "friend"], ["hello", "there", "again", "friend"], ["hello", "they", "again"]]
    for words in texts:
        job = jobs(rt.log, JobKind.INTERIM)[-1]
        rt.answer(job, words)
        rt.append(speech(0.5, seed=len(words)))
    (final,) = jobs(rt.append(silence(0.8)), JobKind.FINAL)
    rt.answer(final, ["Hello", "there", "again,", "friend."])
    events = rt.events
    item = events[0]["item_id"]
    sent = [e["delta"] for e in of_type(events, DELTA)]
    joined = ""
    for piece in sent:  # each delta adds words; none takes any back
        assert piece.strip() and (not joined or piece.startswith(" "))
        joined += piece
    assert joined.split() == ["hello", "there", "again,", "friend."]
    (completed,) = of_type(events, COMPLETED)
    assert completed["item_id"] == item and completed["transcript"] == "Hello there again, friend."


def test_two_turns_chain_their_items() -> None:
    rt = Realtime()
    parts = [("silence", 0.5), ("speech", 0.8), ("silence", 0.8)] * 2
    one, two = jobs(rt.append(track(*parts)), JobKind.FINAL)
    rt.answer(two, ["second"])  # out of order: held until the first is out
    rt.answer(one, ["first"])
    committed = of_type(rt.events, "input_audio_buffer.committed")
    completed = of_type(rt.events, COMPLETED)
    assert [c["transcript"] for c in completed] == ["first", "second"]
    assert committed[1]["previous_item_id"] == committed[0]["item_id"] != committed[1]["item_id"]
    assert [c["item_id"] for c in completed] == [c["item_id"] for c in committed]
    assert len(of_type(rt.events, "input_audio_buffer.speech_started")) == 2


def test_manual_commit_closes_the_open_segment_and_completes_its_item_beta() -> None:
    rt = Realtime(beta=True)
    rt.update({"turn_detection": None}, beta=True)
    out = rt.append(track(("silence", 0.3), ("speech", 1.5), ("silence", 1.0)))
    assert "input_audio_buffer.speech_started" not in types(rt.events)
    assert jobs(out, JobKind.FINAL) == []  # no endpointing: the segment stays open
    committing = rt.send({"type": "input_audio_buffer.commit"})
    committed, created = replies(committing)
    assert committed["type"] == "input_audio_buffer.committed" and committed["previous_item_id"] is None
    assert created["type"] == "conversation.item.created" and created["item"]["id"] == committed["item_id"]
    (final,) = jobs(committing, JobKind.FINAL)
    closing = replies(rt.answer(final, ["Ask", "not."]))
    assert types(closing) == [DELTA, COMPLETED]  # beta: no conversation.item.done
    assert closing[1]["transcript"] == "Ask not." and closing[1]["item_id"] == committed["item_id"]
    assert closing[1]["usage"]["seconds"] == pytest.approx(2.8, abs=0.1)
    # The next commit needs new audio.
    (empty,) = replies(rt.send({"type": "input_audio_buffer.commit"}))
    assert empty["error"]["code"] == "input_audio_buffer_commit_empty"


def test_commit_while_the_final_of_an_earlier_commit_is_pending() -> None:
    rt = Realtime()
    rt.update(ga(turn_detection=None))
    rt.append(track(("silence", 0.3), ("speech", 1.0)))
    (one,) = jobs(rt.send({"type": "input_audio_buffer.commit"}), JobKind.FINAL)
    rt.append(
        track(
            ("speech", 1.0),
        )
    )
    (two,) = jobs(rt.send({"type": "input_audio_buffer.commit"}), JobKind.FINAL)
    rt.answer(two, ["two"])
    rt.answer(one, ["one"])
    completed = of_type(rt.events, COMPLETED)
    committed = of_type(rt.events, "input_audio_buffer.committed")
    assert [(c["item_id"], c["transcript"]) for c in completed] == [(committed[0]["item_id"], "one"),
                                                                   (committed[1]["item_id"], "two")]  # fmt: skip


def test_clear_drops_the_uncommitted_audio() -> None:
    rt = Realtime()
    rt.update(ga(turn_detection=None))
    rt.append(track(("silence", 0.3), ("speech", 1.0)))
    (interim,) = jobs(rt.log, JobKind.INTERIM)
    rt.answer(interim, ["dropped"])
    cleared = rt.send({"type": "input_audio_buffer.clear"})
    assert types(replies(cleared)) == ["input_audio_buffer.cleared"]
    (flushed,) = jobs(cleared, JobKind.FINAL)
    assert replies(rt.answer(flushed, ["dropped", "words"])) == []
    (empty,) = replies(rt.send({"type": "input_audio_buffer.commit"}))
    assert empty["error"]["code"] == "input_audio_buffer_commit_empty"  # the buffer is empty again
    rt.append(speech(1.0, seed=3))
    (kept,) = jobs(rt.send({"type": "input_audio_buffer.commit"}), JobKind.FINAL)
    rt.answer(kept, ["kept"])
    assert [c["transcript"] for c in of_type(rt.events, COMPLETED)] == ["kept"]
    assert "dropped" not in "".join(e.get("delta", "") for e in rt.events)


def test_a_turn_without_words_completes_empty() -> None:
    rt = Realtime()
    (final,) = jobs(rt.append(track(("silence", 0.5), ("speech", 0.8), ("silence", 0.8))), JobKind.FINAL)
    assert types(rt.events) == ["input_audio_buffer.speech_started", *GA_TURN]
    out = rt.answer(final, [])
    assert types(replies(out)) == [COMPLETED, "conversation.item.done"]
    assert of_type(replies(out), COMPLETED)[0]["transcript"] == ""
    assert not any(isinstance(a, Notice) for a in out)  # the adapter consumes its notices


def test_failed_transcription_fails_the_item() -> None:
    rt = Realtime()
    (final,) = jobs(rt.append(track(("silence", 0.5), ("speech", 0.8), ("silence", 0.8))), JobKind.FINAL)
    events = replies(rt.answer(final, [], error="model crashed"))
    assert types(events) == [f"{COMPLETED[:-9]}failed", "conversation.item.done"]
    failed = events[0]
    assert failed["error"]["message"] == "model crashed"
    assert failed["item_id"] == rt.events[0]["item_id"] and rt.events[0]["type"] == "input_audio_buffer.speech_started"
    assert not of_type(rt.events, COMPLETED)


@pytest.mark.parametrize("audio_format", ["g711_ulaw", "g711_alaw", "pcm16"])
def test_each_format_is_decoded_to_the_same_clock(audio_format: str) -> None:
    rt = Realtime()
    if audio_format != "pcm16":
        rt.update(ga(format={"type": "audio/pcmu" if audio_format == "g711_ulaw" else "audio/pcma"}))
    rt.format = audio_format
    (final,) = jobs(rt.append(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.8))), JobKind.FINAL)
    assert 1.5 < final.duration < 1.9  # from the pre-roll to the end of the endpointing silence
    assert final.start == pytest.approx(0.26, abs=0.1)
    assert rt.core.audio_seconds == pytest.approx(2.3, abs=0.1)


def test_session_end_closes_the_open_item_and_archives_as_realtime() -> None:
    rt = Realtime()
    rt.append(track(("silence", 0.5), ("speech", 1.0)))
    out = rt.core.shutdown(rt.now)
    (final,) = jobs(out, JobKind.FINAL)
    end = rt.answer(final, ["cut", "short"])
    events = replies(end)
    assert types(events) == [DELTA, *GA_TURN, COMPLETED, "conversation.item.done", "error"]
    assert of_type(events, COMPLETED)[0]["transcript"] == "cut short"
    (finish,) = [a for a in end if isinstance(a, FinishSession)]
    assert finish.document["source"] == "realtime"
    assert finish.document["realtime"]["session"]["type"] == "transcription"
    assert finish.document["params"]["sample_rate"] == 24000
    assert isinstance(end[-1], CloseSocket) and end[-1].code == 1012
    (closing,) = [a.payload for a in end if isinstance(a, Reply) and a.payload["type"] == "error"]
    assert closing["error"]["code"] == "server_shutting_down"


def test_idle_timeout_is_an_error_event_then_a_close() -> None:
    rt = Realtime(config=session_config(default_endpointing_ms=500, idle_timeout_s=2.0, max_without_audio_s=2.0))
    rt.append(silence(0.2))
    out = rt.tick(5.0)
    (error,) = replies(out)
    assert error["type"] == "error" and "NET-0001" in error["error"]["message"]
    assert isinstance(out[-1], CloseSocket) and out[-1].code == 1011


def test_speculative_finals_keep_the_turn_events_in_order() -> None:
    rt = Realtime(config=session_config(default_endpointing_ms=500, speculative_ms=200))
    out = rt.append(track(("silence", 0.5), ("speech", 1.0), ("silence", 0.3)))
    (speculative,) = jobs(out, JobKind.FINAL)  # started in the pause, before endpointing
    assert replies(rt.answer(speculative, ["early", "words"])) == []  # the turn is still open
    closing = replies(rt.append(silence(0.5)))  # endpointing confirms: the final goes out with the close
    assert types(closing) == [*GA_TURN, DELTA, COMPLETED, "conversation.item.done"]
    assert closing[4]["transcript"] == "early words"
    assert not any(isinstance(a, Notice) for a in rt.log)
