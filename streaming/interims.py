"""Interims of one channel's open segment, sans I/O: when the next interim
job is due (paced by the workers' load and by pauses: streaming.pacing), and
which readings are shown, stabilized by LocalAgreement."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.actions import Action, SendMessage, SubmitJob
from streaming.context import SessionContext
from streaming.events import TranscriptEvent
from streaming.jobs import JobKind, JobResult, Word
from streaming.protocol import results_message
from streaming.redaction import Redactor
from streaming.segmenter import Segmenter
from streaming.stabilizer import LocalAgreement


@dataclass(slots=True)
class _InterimState:
    """Interims of the open segment `seq`; replaced whenever that segment changes."""

    stabilizer: LocalAgreement
    """With the session's opening agreement (`OpenSegmentInterims._fresh`)."""
    seq: int = 0
    submitted_audio_s: float = 0.0
    in_flight_revision: int | None = None
    in_flight_since: float = 0.0
    shown_revision: int = -1


class OpenSegmentInterims:
    """The interims of channel `index`'s open segment. The channel calls
    `reset` whenever a segment closes or is dropped, `due` after each input
    (and submits the job it returns), and hands interim results to `answered`."""

    def __init__(self, index: int, segmenter: Segmenter, context: SessionContext, redactor: Redactor) -> None:
        self._index = index
        self._redactor = redactor
        """The channel's: an interim reads what its finals left (a card number's first digits)."""
        self._segmenter = segmenter
        self._context = context
        self._state = self._fresh(0)

    def _fresh(self, seq: int) -> _InterimState:
        return _InterimState(LocalAgreement(self._context.interim_opening_readings), seq=seq)

    def reset(self) -> None:
        self._state = self._fresh(0)

    def covers(self, seq: int) -> bool:
        """Segment `seq` is the open one and these interims are its."""
        return self._state.seq == seq and self._segmenter.open_seq == seq

    def forget_in_flight(self) -> None:
        """The interim in flight may never answer (a final dropped it from the queue): do not wait for it."""
        self._state.in_flight_revision = None

    def answered(self, result: JobResult, now: float, *, active: bool, speculating: bool) -> list[Action]:
        """An interim result: shown if it is news; the answer frees the slot for the next job."""
        if not self.covers(result.seq):
            return []  # its segment is closed: the final speaks for it
        if self._state.in_flight_revision == result.revision:
            self._state.in_flight_revision = None
        actions = self.show(result, self._state.submitted_audio_s, active=active)
        # The open segment may already have grown enough for the next one.
        actions.extend(self.due(now, active=active, speculating=speculating))
        return actions

    def due(self, now: float, *, active: bool, speculating: bool) -> list[Action]:
        """The next interim job of the open segment, if one is due now."""
        segmenter = self._segmenter
        if not self._context.params.interim_results or not active or segmenter.open_seq is None:
            return []
        interim = self._state
        if interim.seq != segmenter.open_seq:
            self._state = interim = self._fresh(segmenter.open_seq)
        if speculating:
            # Nothing was said since the speculative final's audio: an interim
            # would re-read the same words. Its result is shown instead.
            return []
        # At most one interim job outstanding per channel, unless it stalled.
        if interim.in_flight_revision is not None and now - interim.in_flight_since < self._context.interim_stall_s:
            return []
        # Checked on every frame, cheapest first: no step is below the base step but
        # a pause's, and the segment's audio is joined only when a job goes out.
        duration = segmenter.open_duration()
        grown = duration - interim.submitted_audio_s
        at_pause = self._pause_unread(interim)
        if grown < self._context.pacer.base_step_s and not at_pause:
            return []
        # The step follows the workers' load; None: paused for a finals backlog.
        step = self._context.pacer.step(now, first=interim.submitted_audio_s == 0.0, at_pause=at_pause)
        if step is None or grown < step or grown <= 0.0:
            return []
        job = self._context.new_job(
            self._index, interim.seq, JobKind.INTERIM, segmenter.open_start(), segmenter.open_audio()
        )
        interim.in_flight_revision = job.revision
        interim.in_flight_since = now
        interim.submitted_audio_s = duration
        return [SubmitJob(job)]

    def _pause_unread(self, interim: _InterimState) -> bool:
        """The open segment is in a pause (streaming.pacing) and no interim has read its speech yet."""
        pause_s = self._context.pacer.pause_s
        segmenter = self._segmenter
        if pause_s is None or segmenter.open_silence() < pause_s - 1e-9:
            return False
        unread = segmenter.open_speech_end() - segmenter.open_start() > interim.submitted_audio_s + 1e-9
        return unread and segmenter.open_is_speech()

    def show(self, result: JobResult, duration: float, *, active: bool) -> list[Action]:
        """The interim message for a reading of the open segment (`duration`
        seconds of it), if it is news."""
        interim = self._state
        # An empty first interim says nothing; an empty later one clears what was shown. A withheld
        # reading (the worker doubted it) is neither: what was shown stays.
        nothing_to_say = result.withheld or (not result.words and interim.shown_revision < 0)
        fresh = result.revision > interim.shown_revision and result.error is None and not nothing_to_say
        if not fresh or not active:
            return []
        interim.shown_revision = result.revision
        stable = interim.stabilizer.update([w.text for w in result.words])
        words = [
            Word(text, result.words[i].start, result.words[i].end, result.words[i].confidence)
            for i, text in enumerate(stable.words)
            if i < len(result.words)
        ]
        shown = tuple(self._redactor.redact(words, final=False).words)
        typed = TranscriptEvent(
            channel=self._index,
            start=self._segmenter.open_start(),
            duration=duration,
            words=shown,
            is_final=False,
            speech_final=False,
            from_finalize=False,
            stable=_stable_count(shown, words[: len(stable.committed)]),
        )
        message = results_message(
            request_id=self._context.session_id,
            model=self._context.model,
            channel=self._index,
            channels=self._context.output_channels,
            start=typed.start,
            duration=duration,
            words=shown,
            is_final=False,
            speech_final=False,
            from_finalize=False,
        )
        return [SendMessage(message, event=typed)]


def _stable_count(shown: tuple[Word, ...], committed: list[Word]) -> int:
    """How many of the shown (redacted) words lie within the committed words: a
    redaction may join or hold back words, so they are counted by time."""
    if not committed:
        return 0
    end = committed[-1].end
    return next((i for i, word in enumerate(shown) if word.end > end + 1e-6), len(shown))
