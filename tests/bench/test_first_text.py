"""bench/first_text.py: the metric functions on synthetic message lists, both wire formats, and the
shared client against a fake WhisperLive server (no model, under a second)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import websockets

from bench import first_text as ft
from bench import first_text_metrics as ftm
from bench import whisperlive_client as wl
from testbed import audio


def words(*items: tuple[str, float, float], utterance: int = 0) -> list[ftm.Word]:
    return [ftm.Word(text, start, end, utterance) for text, start, end in items]


def send_times(seconds: float, t0: float = 100.0) -> list[float]:
    """One frame every 100 ms, sent exactly on time from wall time `t0`."""
    return [t0 + k * ftm.CHUNK_S for k in range(round(seconds / ftm.CHUNK_S))]


def interim(t: float, start: float, end: float, text: str) -> ftm.Update:
    return ftm.Update(t, (), ftm.Piece(start, end, text), True)


def final(t: float, start: float, end: float, text: str) -> ftm.Update:
    return ftm.Update(t, (ftm.Piece(start, end, text),), None, False)


# ------------------------------------------------------------------ frontier


@pytest.mark.parametrize(
    ("hypothesis", "expected"),
    [
        ("", 0),
        ("he was", 2),
        ("he was not an ill disposed young man", 8),
        ("he was not an old", 5),  # misheard last word: shown (longest on ties)
        ("he was an ill", 5),  # skipped word: shown once text past it is
        ("he was not he", 4),  # a stray word stands for the next one, not the later "he"
        ("uh he was", 2),  # a leading insertion costs one, no more
    ],
)
def test_frontier(hypothesis: str, expected: int) -> None:
    reference = ["he", "was", "not", "an", "ill", "disposed", "young", "man", "he", "might"]
    assert ftm.frontier(reference, hypothesis.split()) == expected


def test_frontier_never_passes_the_reference_it_is_given() -> None:
    assert ftm.frontier(["he", "was"], ["he", "was", "not", "an", "ill"]) == 2
    assert ftm.frontier([], ["he"]) == 0


# ------------------------------------------------------------------ what a caption client shows


def test_shown_texts_deepgram_interims_replace_and_finals_settle() -> None:
    updates = [
        interim(1.0, 0.0, 1.0, "Hello"),
        interim(1.5, 0.0, 1.5, "Hello wor"),
        final(2.0, 0.0, 1.8, "Hello, world."),
        interim(2.1, 0.0, 2.0, "Hello world again"),  # late interim of the settled segment: hidden
        interim(3.0, 2.0, 3.0, "Next"),
        final(3.5, 2.0, 3.4, "Next one."),
    ]
    assert [text for _, text in ftm.shown_texts(updates)] == [
        "hello",
        "hello wor",
        "hello world",
        "hello world",
        "hello world next",
        "hello world next one",
    ]


def test_shown_texts_whisperlive_completed_segments_accumulate_once() -> None:
    first = ftm.Piece(0.0, 2.0, " He was not")
    updates = [
        ftm.Update(1.0, (), ftm.Piece(0.0, 1.0, " He"), True),
        ftm.Update(2.0, (first,), ftm.Piece(2.0, 3.0, " an ill"), True),
        ftm.Update(3.0, (first,), ftm.Piece(2.0, 3.5, " an ill disposed"), True),
        ftm.Update(4.0, (first,), None, False),  # no open segment in this message: the shown one stays
        ftm.Update(5.0, (first, ftm.Piece(2.0, 3.6, " an ill-disposed man.")), None, False),
        ftm.Update(6.0, (first, ftm.Piece(1.0, 3.0, " overlapping")), ftm.Piece(3.6, 4.0, " So"), True),
    ]
    assert [text for _, text in ftm.shown_texts(updates)] == [
        "he",
        "he was not an ill",
        "he was not an ill disposed",
        "he was not an ill disposed",
        "he was not an ill disposed man",
        "he was not an ill disposed man so",
    ]


def test_parse_deepgram() -> None:
    message: dict[str, Any] = {
        "type": "Results",
        "start": 1.0,
        "duration": 2.5,
        "is_final": False,
        "channel": {"alternatives": [{"transcript": "hi there"}]},
    }
    assert ft.parse_deepgram(5.0, message) == interim(5.0, 1.0, 3.5, "hi there")
    assert ft.parse_deepgram(6.0, {**message, "is_final": True}) == final(6.0, 1.0, 3.5, "hi there")
    assert ft.parse_deepgram(7.0, {"type": "SpeechStarted", "timestamp": 1.0}) is None


def test_parse_whisperlive() -> None:
    message = {
        "uid": "u",
        "segments": [
            {"start": "0.000", "end": "1.500", "text": " One.", "completed": True},
            {"start": "1.500", "end": "2.000", "text": " Two", "completed": False},
        ],
    }
    assert ft.parse_whisperlive(3.0, message) == ftm.Update(
        3.0, (ftm.Piece(0.0, 1.5, " One."),), ftm.Piece(1.5, 2.0, " Two"), True
    )
    closed = {"uid": "u", "segments": message["segments"][:1]}
    assert ft.parse_whisperlive(4.0, closed) == ftm.Update(4.0, (ftm.Piece(0.0, 1.5, " One."),), None, False)
    assert ft.parse_whisperlive(5.0, {"uid": "u", "message": "SERVER_READY"}) is None


def test_whisperlive_ready_refusal_and_frames() -> None:
    assert wl.is_ready({"uid": "u", "message": "SERVER_READY", "backend": "faster_whisper"})
    assert not wl.is_ready({"uid": "u", "language": "en", "language_prob": 0.9})
    with pytest.raises(RuntimeError, match="refused"):
        wl.is_ready({"uid": "u", "status": "WAIT", "message": 3.0})
    floats = np.frombuffer(wl.frame(np.array([0, 16384, -32768], dtype="<i2").tobytes()), dtype=np.float32)
    assert floats.tolist() == [0.0, 0.5, -1.0]
    hello = json.loads(wl.options("/models/tiny"))
    assert hello["model"] == "/models/tiny" and hello["use_vad"] is True and hello["language"] == "en"


# ------------------------------------------------------------------ reach, first cover, ages, flow

WORDS = [
    *words(("he", 0.5, 0.7), ("was", 0.7, 1.0), ("here", 1.0, 1.5), utterance=0),
    *words(("so", 3.0, 3.3), ("long", 3.3, 3.8), utterance=1),
]


def test_reach_times_first_cover_and_ages() -> None:
    sent = send_times(5.0)  # frame k (stream time 0.1 k) is sent at 100 + 0.1 k
    updates = [
        interim(100.9, 0.5, 0.9, "he was"),
        interim(101.8, 0.5, 1.7, "he was hear"),  # misheard, still shown
        final(102.4, 0.5, 1.6, "He was here."),
        interim(104.2, 3.0, 4.0, "so"),
        final(104.5, 3.0, 3.9, "So long."),
    ]
    reach = ftm.reach_times(ftm.shown_texts(updates), WORDS, sent)
    assert reach == [100.9, 100.9, 101.8, 104.2, 104.5]
    # speech ends: "here" at 1.5 s (frame 15, sent 101.5), "long" at 3.8 s (frame 38, sent 103.8)
    assert ftm.first_cover(reach, WORDS, sent) == pytest.approx([0.3, 0.7])
    ages = ftm.oldest_unshown_ages(reach, WORDS, sent)
    assert len(ages) == len(sent)
    assert ages[6] == 0.0  # 0.6 s: "he" still being spoken
    assert ages[8] == pytest.approx(0.1)  # "he" ended in frame 7, sent at 100.7, seen at 100.8
    assert ages[10] == 0.0  # 101.0: both words shown at 100.9
    assert ages[17] == pytest.approx(0.2)  # "here" ended in frame 15
    assert ages[40] == pytest.approx(0.7)  # "so" ended in frame 33; shown at 104.2 only


def test_text_shown_before_its_audio_is_not_credited() -> None:
    sent = send_times(5.0)
    early = [interim(100.2, 0.0, 0.2, "he was here so long")]  # only 0.3 s of audio sent
    reach = ftm.reach_times(ftm.shown_texts(early), WORDS, sent)
    assert reach[:2] == [100.2, 100.2]  # words starting within 0.5 s of the audio sent
    assert all(math.isinf(r) for r in reach[2:])


def test_never_shown_words() -> None:
    sent = send_times(5.0)
    reach = ftm.reach_times(ftm.shown_texts([final(102.0, 0.5, 1.5, "he was here")]), WORDS, sent)
    assert ftm.first_cover(reach, WORDS, sent) == [pytest.approx(0.5), None]
    assert ftm.oldest_unshown_ages(reach, WORDS, sent)[-1] == pytest.approx(104.9 - 103.3)


def test_flow() -> None:
    sent = send_times(10.0)
    shown = [(100.5, ""), (101.0, "a"), (101.2, "a"), (103.0, "a b"), (104.0, "a b c"), (111.0, "a b c d")]
    figures = ftm.flow(shown, sent)
    assert figures["first_text_s"] == pytest.approx(1.0)
    assert figures["updates_per_min"] == pytest.approx(4 / (10.0 / 60))
    assert figures["longest_wait_s"] == pytest.approx(6.0)  # 104.0 to the end of sending, 110.0
    assert ftm.flow([], sent) == {"first_text_s": None, "updates_per_min": 0.0, "longest_wait_s": 10.0}


def test_stream_figures_and_summary() -> None:
    sent = send_times(5.0)
    log = ftm.StreamLog(sent, [final(102.0, 0.5, 1.5, "he was here"), final(104.0, 3.0, 3.8, "so long")], 0.01)
    figures = ftm.stream_figures(log, WORDS, "he was here so long")
    assert figures["wer"] == 0.0 and figures["first_cover_s"] == [pytest.approx(0.5), pytest.approx(0.2)]
    silent = ftm.stream_figures(ftm.StreamLog(sent, [], 0.0), WORDS, "he was here so long")
    row = ftm.summarize("x", 1, [figures, silent])
    assert row["runs"] == 2 and row["utterances"] == 4 and row["never_shown"] == 2 and row["no_text_streams"] == 1
    assert row["first_cover_p50_ms"] == 350 and row["first_text_max_ms"] == 2000


def test_reference_words_spread_over_the_voiced_span() -> None:
    tone = (8000 * np.sin(np.arange(16000) / 5)).astype(np.int16)
    clip = audio.Clip("c", np.concatenate([audio.silence(0.5), tone, audio.silence(0.3)]), "ab abc de")
    assert ft.speech_start(clip) == pytest.approx(0.5, abs=0.02)
    found = ft.reference_words([clip], [audio.Utterance(clip.text, 2.0, 2.0 + clip.duration)])
    assert [w.text for w in found] == ["ab", "abc", "de"]
    assert [w.end - w.start for w in found] == pytest.approx([2 / 7, 3 / 7, 2 / 7], abs=0.02)
    assert found[0].start == pytest.approx(2.5, abs=0.02) and found[-1].end == pytest.approx(3.5, abs=0.02)


# ------------------------------------------------------------------ the shared client, fake WhisperLive


async def test_run_stream_against_a_fake_whisperlive() -> None:
    received: list[bytes | str] = []

    async def fake(ws: Any) -> None:
        received.append(await ws.recv())
        await ws.send(json.dumps({"uid": "u", "message": "SERVER_READY", "backend": "faster_whisper"}))
        async for frame in ws:
            received.append(frame)
            if frame == wl.END_OF_AUDIO:
                break
            n = len(received) - 1
            segment = {"start": "0.000", "end": f"{n / 10:.3f}", "text": f" word{n}", "completed": False}
            await ws.send(json.dumps({"uid": "u", "segments": [segment]}))

    async with websockets.serve(fake, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        wire = ft.Wire(
            f"ws://127.0.0.1:{port}", ft.parse_whisperlive, wl.options("m"), wl.is_ready, wl.frame, wl.END_OF_AUDIO
        )
        log = await ft.run_stream(wire, audio.to_linear16(audio.silence(0.3)))
    assert json.loads(received[0])["model"] == "m"
    assert [len(f) for f in received[1:-1]] == [1600 * 4] * 3 and received[-1] == wl.END_OF_AUDIO
    assert len(log.send_times) == 3 and log.send_times[2] - log.send_times[0] == pytest.approx(0.2, abs=0.05)
    assert [u.partial.text if u.partial else None for u in log.updates] == [" word1", " word2", " word3"]


def test_ages_and_flow_stop_one_pause_after_the_last_utterance() -> None:
    log = ftm.StreamLog(send_times(20.0), [final(104.0, 0.5, 3.8, "he was here so long")], 0.0)
    figures = ftm.stream_figures(log, WORDS, "he was here so long")
    # 10 s of silence after "long" (3.8 s) is not sampled: 53 frames up to 5.3 s, not 200
    ages = ftm.oldest_unshown_ages([104.0] * 5, WORDS, log.send_times[:53])
    assert figures["oldest_unshown_mean_s"] == pytest.approx(sum(ages) / 53)
    assert figures["updates_per_min"] == pytest.approx(1 / (5.3 / 60))
