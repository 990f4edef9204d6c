"""Redaction in a live session: finals, interims, the archive document and the archived audio."""

from __future__ import annotations

import numpy as np

from streaming.actions import FinishSession, RecordAudio
from streaming.jobs import Word
from tests.unit.session_harness import Harness, finals, interims, results, track, transcript

CARD = ["4111", "1111", "1111", "1111."]


def spread(job_start: float, duration: float, texts: list[str]) -> list[Word]:
    step = duration / len(texts)
    return [Word(t, job_start + i * step, job_start + (i + 1) * step, 0.9) for i, t in enumerate(texts)]


def test_a_card_number_in_a_final_is_redacted_in_results_and_archive() -> None:
    h = Harness([("redact", "pci")])
    job = finals(h.send(track(("silence", 0.5), ("speech", 2.0), ("silence", 1.0))))[0]
    sent = h.answer(job, words=spread(job.start, job.duration, ["my", "card", "is", *CARD]))
    assert [transcript(m) for m in results(sent)] == ["my card is [PCI]."]
    words = results(sent)[0]["channel"]["alternatives"][0]["words"]
    assert words[-1]["word"] == "[PCI]" and words[-1]["punctuated_word"] == "[PCI]."
    actions = h.text('{"type": "CloseStream"}')
    document = next(a.document for a in actions if isinstance(a, FinishSession))
    assert "4111" not in str(document)
    assert document["params"]["redact"] == ["pci"]
    assert [(r["channel"], r["label"]) for r in document["redactions"]] == [(0, "pci")]


def test_interims_are_redacted_too() -> None:
    h = Harness([("redact", "pci"), ("interim_results", "true")])
    actions = h.send(track(("silence", 0.5), ("speech", 1.6)))
    job = interims(actions)[0]
    sent = h.answer(job, words=spread(job.start, job.duration, ["card", "4111", "1111"]))
    assert [transcript(m) for m in results(sent)] == ["card [PCI]"]


def test_redact_audio_silences_the_archived_span_and_archives_every_sample() -> None:
    h = Harness([("redact", "pci"), ("redact_audio", "true")])
    audio = track(("silence", 0.5), ("speech", 2.0), ("silence", 1.0), ("speech", 1.0), ("silence", 1.0))
    sent = h.send(audio)
    first = finals(sent)[0]
    # Held: nothing from the first segment on is archived before its final says what to silence.
    early = sum(a.samples.shape[0] for a in h.log if isinstance(a, RecordAudio))
    assert early <= round(first.start * 16_000)
    card_words = spread(first.start + 1.0, 1.0, CARD)
    h.answer(first, words=[Word("card", first.start + 0.5, first.start + 1.0, 0.9), *card_words])
    for job in finals(h.log)[1:]:
        h.answer(job, ["fine"])
    h.text('{"type": "CloseStream"}')
    for job in finals(h.log):
        if job.seq > 1:
            h.answer(job, ["fine"])
    archived = np.concatenate([a.samples for a in h.log if isinstance(a, RecordAudio)])
    assert archived.shape == (len(audio), 1)
    begin, end = round(card_words[0].start * 16_000), round(card_words[-1].end * 16_000)
    assert (archived[begin:end, 0] == 0).all()
    assert np.abs(archived[end + 160 : end + 1600, 0]).max() > 0  # speech after the card is kept
    before = archived[round(first.start * 16_000) : begin - 160, 0]
    assert np.abs(before).max() > 0


def test_without_redact_audio_audio_is_recorded_as_it_comes() -> None:
    h = Harness([("redact", "pci")])
    actions = h.send(track(("speech", 0.5)))
    assert sum(a.samples.shape[0] for a in actions if isinstance(a, RecordAudio)) == 8_000
