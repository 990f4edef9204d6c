"""Finals in segment order (streaming.finals), as live channels and uploads use them."""

from __future__ import annotations

import numpy as np

from streaming.finals import FinalsInOrder, FinalSlot, JobFactory
from streaming.jobs import JobKind, JobResult, TranscribeOptions, Word
from streaming.segmenter import CloseReason


def result(seq: int, revision: int, text: str = "w") -> JobResult:
    return JobResult("s", 0, seq, JobKind.FINAL, revision, (Word(text, 0.0, 0.1, 1.0),))


def test_finals_come_out_in_segment_order_once_each() -> None:
    finals = FinalsInOrder()
    for seq in (1, 2, 3):
        finals.expect(FinalSlot(seq, seq, seq + 0.5, CloseReason.ENDPOINT, revision=10 + seq))
    assert finals.record(result(3, 13)) and list(finals.release()) == []  # 1 and 2 still awaited
    assert finals.record(result(1, 11))
    assert [s.seq for s in finals.release()] == [1]
    assert not finals.record(result(1, 11))  # a redelivery
    assert not finals.record(result(2, 99))  # another revision (an abandoned speculative final's)
    assert finals.waiting == 2
    assert finals.record(result(2, 12))
    released = list(finals.release())
    assert [(s.seq, s.words[0].text, s.speech_final) for s in released] == [(2, "w", True), (3, "w", True)]
    assert finals.waiting == 0 and finals.next_release == 4


def test_a_skipped_segment_keeps_its_turn_without_words() -> None:
    finals = FinalsInOrder()
    finals.skip(1, 0.0, 0.1, CloseReason.ENDPOINT)
    finals.expect(FinalSlot(2, 1.0, 2.0, CloseReason.MAX_LENGTH, revision=1))
    assert [(s.seq, s.words) for s in finals.release()] == [(1, ())]
    finals.record(result(2, 1))
    (slot,) = finals.release()
    assert slot.seq == 2 and not slot.speech_final


def test_job_revisions_are_unique_across_channels_and_kinds() -> None:
    jobs = JobFactory("s", TranscribeOptions(language="en"), "gateway-1")
    audio = np.zeros(160, dtype=np.int16)
    made = [jobs.new_job(c, 1, kind, 0.0, audio) for c in (0, 1) for kind in JobKind]
    assert [j.revision for j in made] == [1, 2, 3, 4]
    assert {(j.session_id, j.reply_to, j.options.language) for j in made} == {("s", "gateway-1", "en")}
