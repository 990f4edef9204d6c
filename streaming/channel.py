"""One output channel of a live session, sans I/O.

A session has one `LiveChannel` per output channel (one, or one per input
channel with `multichannel`). The channel owns everything that is per channel:
its resampler and segmenter, the interim jobs for the open segment (paced by
the workers' load: streaming.pacing), speculative finals
(streaming.speculative), the release of finals in segment order, and
UtteranceEnd. The session owns the session-wide lifecycle
(ACTIVE -> DRAINING -> CLOSED) and tells the channel whether it is still
active wherever that changes what the channel says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.actions import Action, SendMessage, SubmitJob, WithdrawJob
from streaming.codecs import Int16Array
from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word
from streaming.pacing import InterimPacer
from streaming.protocol import (
    ListenParams,
    ModelInfo,
    error_message,
    results_message,
    speech_started_message,
    utterance_end_message,
)
from streaming.resample import StreamResampler
from streaming.segmenter import CloseReason, SegmentClosed, SegmentDropped, Segmenter, SegmenterEvent, SpeechStarted
from streaming.speculative import SpeculativeStats, Speculator
from streaming.stabilizer import LocalAgreement


@dataclass(slots=True)
class SessionContext:
    """What the channels of one session share.

    The lists are the session's own record (the archive document and the
    drain-timeout report read them), so every channel appends to the same ones.
    """

    session_id: str
    params: ListenParams
    model: ModelInfo
    options: TranscribeOptions
    reply_to: str
    pacer: InterimPacer
    """How much new audio an open segment must gain before another interim
    job, given the workers' load (streaming.pacing); shared by the channels."""
    interim_stall_s: float
    """An interim job unanswered this long no longer blocks the next one."""
    speculative_s: float | None = None
    """Silence of the open segment after which its final job starts early; None: off."""
    speculative: SpeculativeStats = field(default_factory=SpeculativeStats)
    finals: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    revision: int = 0
    """Last revision handed out. Session-wide, so that a result names exactly
    one job whatever its channel or kind."""

    @property
    def output_channels(self) -> int:
        return self.params.output_channels

    def new_job(self, channel: int, seq: int, kind: JobKind, start: float, audio: Int16Array) -> Job:
        self.revision += 1
        return Job(
            session_id=self.session_id,
            channel=channel,
            seq=seq,
            kind=kind,
            revision=self.revision,
            start=start,
            audio=audio,
            options=self.options,
            reply_to=self.reply_to,
        )


@dataclass(slots=True)
class _FinalSlot:
    """A closed segment whose final is awaited, or done but held back behind
    an earlier segment's."""

    start: float
    end: float
    reason: CloseReason
    revision: int
    """The job whose result is this segment's final: a result of any other
    revision (an abandoned speculative final's) is not it."""
    closed_at: float
    """Shell time of the close, for the end-of-turn time of the final."""
    done: bool = False
    words: tuple[Word, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class _InterimState:
    """Interims of the open segment `seq`; replaced whenever that segment changes."""

    seq: int = 0
    submitted_audio_s: float = 0.0
    in_flight_revision: int | None = None
    in_flight_since: float = 0.0
    shown_revision: int = -1
    stabilizer: LocalAgreement = field(default_factory=LocalAgreement)


class LiveChannel:
    """Segments, interims and ordered finals of one output channel.

    Methods that take `active` are told whether the session is still ACTIVE:
    once it drains, no new interims go out or get shown, and UtteranceEnd no
    longer waits for the silence gap.
    """

    def __init__(self, index: int, resampler: StreamResampler, segmenter: Segmenter, context: SessionContext) -> None:
        self.index = index
        self.resampler = resampler
        self.segmenter = segmenter
        self._context = context
        self._interim = _InterimState()
        self._speculator = Speculator(context.speculative_s, context.speculative)
        self._slots: dict[int, _FinalSlot] = {}
        self._next_release = 1
        # One entry per Finalize that found no open segment: the empty
        # from_finalize final it owes is sent once every final before it is.
        self._finalize_markers: list[int] = []
        self._last_word_end = 0.0
        self._utterance_open = False

    # -- queries ---------------------------------------------------------
    @property
    def finals_pending(self) -> bool:
        """A final is still to come: awaited, held back, or of the open segment."""
        return bool(self._slots) or self.segmenter.is_open

    @property
    def unreleased_finals(self) -> int:
        """Closed segments whose final has not been sent yet."""
        return len(self._slots)

    # -- inputs ------------------------------------------------------------
    def feed(self, block: Int16Array, now: float, *, active: bool) -> list[Action]:
        """16 kHz audio for this channel."""
        actions = self._on_segmenter_events(self.segmenter.feed(block), now, active=active)
        actions.extend(self._speculate(active=active))
        actions.extend(self._maybe_interim(now, active=active))
        actions.extend(self.maybe_utterance_end(active=active))
        return actions

    def finalize(self, now: float, *, active: bool) -> list[Action]:
        """Finalize: close the open segment now. The caller then releases."""
        events = self.segmenter.finalize()
        if not events:
            self._finalize_markers.append(self._next_release - 1 + len(self._slots))
        return self._on_segmenter_events(events, now, active=active)

    def flush(self, tail: Int16Array, now: float, *, active: bool) -> list[Action]:
        """End of stream: segment the resampler's tail, then close whatever is open."""
        actions: list[Action] = []
        if len(tail):
            actions.extend(self._on_segmenter_events(self.segmenter.feed(tail), now, active=active))
        actions.extend(self._on_segmenter_events(self.segmenter.end_of_stream(), now, active=active))
        return actions

    def record_final(self, result: JobResult) -> bool:
        """Keep a final result until its turn; False if no closed segment
        awaits it (a redelivered final, an abandoned speculative final's, or a
        speculative final's whose segment is still open: pass those to
        `on_speculative`). When True the caller then releases."""
        slot = self._slots.get(result.seq)
        if slot is None or slot.done or slot.revision != result.revision:
            return False
        slot.done = True
        slot.words = result.words
        slot.error = result.error
        return True

    def on_interim(self, result: JobResult, now: float, *, active: bool) -> list[Action]:
        interim = self._interim
        if result.seq != interim.seq or self.segmenter.open_seq != result.seq:
            return []  # its segment is closed: the final speaks for it
        if interim.in_flight_revision == result.revision:
            interim.in_flight_revision = None
        actions = self._show_interim(result, interim.submitted_audio_s, active=active)
        # The answer frees the interim slot: the open segment may already
        # have grown enough for the next one.
        actions.extend(self._maybe_interim(now, active=active))
        return actions

    def on_speculative(self, result: JobResult, *, active: bool) -> list[Action]:
        """A final result `record_final` did not take: kept if it is the open
        segment's speculative final, ignored otherwise."""
        speculation = self._speculator.take_result(result)
        if speculation is None or not self._context.params.interim_results:
            return []
        if self._interim.seq != result.seq or self.segmenter.open_seq != result.seq:
            return []
        # Still in the pause, with interims held back: this reading of the
        # whole segment is the best interim there is.
        return self._show_interim(result, speculation.job.duration, active=active)

    # -- output ------------------------------------------------------------
    def release(self, now: float, *, active: bool) -> list[Action]:
        """Send the finals that are done, in segment order."""
        actions: list[Action] = []
        while (slot := self._slots.get(self._next_release)) is not None and slot.done:
            del self._slots[self._next_release]
            from_finalize = slot.reason is CloseReason.FINALIZE
            if slot.error is not None:
                self._context.errors.append(slot.error)
                actions.append(SendMessage(error_message(slot.error, "TRANSCRIPTION_FAILED")))
            # A Finalize is always answered with a from_finalize final, even an empty one.
            if slot.words or from_finalize:
                final = self._final(slot.start, slot.end - slot.start, slot.words, slot.reason, now - slot.closed_at)
                actions.append(final)
            if slot.words:
                self._last_word_end = slot.words[-1].end
                self._utterance_open = True
            self._next_release += 1
        actions.extend(self._release_finalize_markers())
        actions.extend(self.maybe_utterance_end(active=active))
        return actions

    def maybe_utterance_end(self, *, active: bool) -> list[Action]:
        """UtteranceEnd once the words are all final and followed by the gap;
        a draining session does not wait for the gap."""
        gap_ms = self._context.params.utterance_end_ms
        if gap_ms is None or not self._utterance_open or self.finals_pending:
            return []
        if self.segmenter.clock < self._last_word_end + gap_ms / 1000 and active:
            return []
        self._utterance_open = False
        return [SendMessage(utterance_end_message(self.index, self._context.output_channels, self._last_word_end))]

    # -- internals ---------------------------------------------------------
    def _on_segmenter_events(self, events: list[SegmenterEvent], now: float, *, active: bool) -> list[Action]:
        actions: list[Action] = []
        for event in events:
            if isinstance(event, SpeechStarted):
                if self._context.params.vad_events:
                    actions.append(
                        SendMessage(speech_started_message(self.index, self._context.output_channels, event.timestamp))
                    )
            elif isinstance(event, SegmentClosed):
                self._interim = _InterimState()
                actions.extend(self._on_closed(event, now, active=active))
            elif isinstance(event, SegmentDropped):
                actions.extend(self._withdraw(self._speculator.abandon(event.seq)))
                # Too short to transcribe, but its seq still has a turn in the
                # release order: mark it done with no words.
                self._slots[event.seq] = _FinalSlot(event.start, event.end, event.reason, 0, now, done=True)
                self._interim = _InterimState()
                actions.extend(self.release(now, active=active))
        return actions

    def _on_closed(self, event: SegmentClosed, now: float, *, active: bool) -> list[Action]:
        """A final job for the closed segment, unless its speculative final covers it."""
        speculation = self._speculator.claim(event)
        if speculation is None:
            actions = self._withdraw(self._speculator.abandon(event.seq))
            job = self._context.new_job(self.index, event.seq, JobKind.FINAL, event.start, event.audio)
            self._slots[event.seq] = _FinalSlot(event.start, event.end, event.reason, job.revision, now)
            actions.append(SubmitJob(job))
            return actions
        revision = speculation.job.revision
        self._slots[event.seq] = _FinalSlot(event.start, event.end, event.reason, revision, now)
        if speculation.result is None:
            return []  # sent as soon as it comes
        # Answered during the pause: the final goes out now (after earlier ones).
        self.record_final(speculation.result)
        return self.release(now, active=active)

    def _speculate(self, *, active: bool) -> list[Action]:
        """Abandon the speculative final when speech resumed; start one when
        the open segment's pause is long enough."""
        if self._context.speculative_s is None:
            return []  # off: nothing to start or abandon
        actions = self._withdraw(self._speculator.check_open(self.segmenter))
        if not active:
            return actions  # draining: flush closes every segment at once
        segmenter = self.segmenter
        seq = segmenter.open_seq

        def make_job() -> Job:
            assert seq is not None
            return self._context.new_job(self.index, seq, JobKind.FINAL, segmenter.open_start(), segmenter.open_audio())

        job = self._speculator.start(segmenter, make_job)
        if job is not None:
            actions.append(SubmitJob(job))
            # A final drops the interim of its stream that waits unstarted
            # (server/jobs/queue.py; the Redis workers skip it as superseded), so
            # the interim in flight may never answer: do not wait for it.
            self._interim.in_flight_revision = None
        return actions

    @staticmethod
    def _withdraw(job: Job | None) -> list[Action]:
        return [] if job is None else [WithdrawJob(job)]

    def _maybe_interim(self, now: float, *, active: bool) -> list[Action]:
        segmenter = self.segmenter
        if not self._context.params.interim_results or not active or segmenter.open_seq is None:
            return []
        interim = self._interim
        if interim.seq != segmenter.open_seq:
            self._interim = interim = _InterimState(seq=segmenter.open_seq)
        if self._speculator.pending is not None:
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
            self.index, interim.seq, JobKind.INTERIM, segmenter.open_start(), segmenter.open_audio()
        )
        interim.in_flight_revision = job.revision
        interim.in_flight_since = now
        interim.submitted_audio_s = duration
        return [SubmitJob(job)]

    def _pause_unread(self, interim: _InterimState) -> bool:
        """The open segment is in a pause (streaming.pacing) and no interim has read its speech yet."""
        pause_s = self._context.pacer.pause_s
        segmenter = self.segmenter
        if pause_s is None or segmenter.open_silence() < pause_s - 1e-9:
            return False
        unread = segmenter.open_speech_end() - segmenter.open_start() > interim.submitted_audio_s + 1e-9
        return unread and segmenter.open_is_speech()

    def _show_interim(self, result: JobResult, duration: float, *, active: bool) -> list[Action]:
        """The interim message for a reading of the open segment, if it is news."""
        interim = self._interim
        # An empty first interim says nothing; an empty later one clears what was shown.
        nothing_to_say = not result.words and interim.shown_revision < 0
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
        message = results_message(
            request_id=self._context.session_id,
            model=self._context.model,
            channel=self.index,
            channels=self._context.output_channels,
            start=self.segmenter.open_start(),
            duration=duration,
            words=words,
            is_final=False,
            speech_final=False,
            from_finalize=False,
        )
        return [SendMessage(message)]

    def _final(
        self,
        start: float,
        duration: float,
        words: tuple[Word, ...],
        reason: CloseReason,
        end_of_turn_s: float | None = None,
    ) -> SendMessage:
        message = results_message(
            request_id=self._context.session_id,
            model=self._context.model,
            channel=self.index,
            channels=self._context.output_channels,
            start=start,
            duration=duration,
            words=words,
            is_final=True,
            speech_final=reason is CloseReason.ENDPOINT,
            from_finalize=reason is CloseReason.FINALIZE,
        )
        self._context.finals.append(message)
        return SendMessage(message, end_of_turn_s)

    def _release_finalize_markers(self) -> list[Action]:
        actions: list[Action] = []
        while self._finalize_markers and self._finalize_markers[0] < self._next_release:
            self._finalize_markers.pop(0)
            actions.append(self._final(self.segmenter.clock, 0.0, (), CloseReason.FINALIZE))
        return actions
