"""One output channel of a live session, sans I/O.

A session has one `LiveChannel` per output channel (one, or one per input
channel with `multichannel`). The channel owns everything that is per channel:
its resampler and segmenter, the interims of the open segment (streaming.interims, paced by
the workers' load: streaming.pacing), speculative finals
(streaming.speculative), the release of finals in segment order, and
UtteranceEnd. The session owns the session-wide lifecycle
(ACTIVE -> DRAINING -> CLOSED) and tells the channel whether it is still
active wherever that changes what the channel says.
"""

from __future__ import annotations

from streaming.actions import Action, Notice, SendMessage, SubmitJob, WithdrawJob
from streaming.audio_hold import settled_until
from streaming.codecs import Int16Array
from streaming.context import SessionContext
from streaming.events import (
    ErrorEvent,
    SegmentEndEvent,
    SpeculationAbandonedEvent,
    SpeculativeFinalEvent,
    SpeechStartedEvent,
    TranscriptEvent,
    UtteranceEndEvent,
)
from streaming.finals import FinalsInOrder, FinalSlot
from streaming.interims import OpenSegmentInterims
from streaming.jobs import Job, JobKind, JobResult, Word
from streaming.protocol import (
    error_message,
    results_message,
    speech_started_message,
    utterance_end_message,
)
from streaming.redaction import Redactor
from streaming.resample import StreamResampler
from streaming.segmenter import CloseReason, SegmentClosed, SegmentDropped, Segmenter, SegmenterEvent, SpeechStarted
from streaming.speculative import Speculator


class LiveChannel:
    """Segments, interims and ordered finals of one output channel.

    Methods that take `active` are told whether the session is still ACTIVE:
    once it drains, no new interims go out or get shown, and UtteranceEnd no
    longer waits for the silence gap.
    """

    def __init__(self, index: int, input_rate: int, segmenter: Segmenter, context: SessionContext) -> None:
        self.index = index
        self._resampler = StreamResampler(input_rate)
        self.segmenter = segmenter
        self._context = context
        self._redactor = Redactor(context.params.redact)
        self._interims = OpenSegmentInterims(index, segmenter, context, self._redactor)
        self._speculator = Speculator(context.speculative_s, context.speculative)
        self._finals = FinalsInOrder()
        # One entry per Finalize that found no open segment: the empty
        # from_finalize final it owes is sent once every final before it is.
        self._finalize_markers: list[int] = []
        self._last_word_end = 0.0
        self._utterance_open = False

    # -- queries ---------------------------------------------------------
    @property
    def settled_until(self) -> float:
        """Stream time before which this channel's finals are all sent (streaming.audio_hold)."""
        return settled_until(self.segmenter, self._finals)

    @property
    def finals_pending(self) -> bool:
        """A final is still to come: awaited, held back, or of the open segment."""
        return bool(self._finals.waiting) or self.segmenter.is_open

    @property
    def unreleased_finals(self) -> int:
        """Closed segments whose final has not been sent yet."""
        return self._finals.waiting

    # -- inputs ------------------------------------------------------------
    def feed(self, block: Int16Array, now: float, *, active: bool) -> tuple[Int16Array, list[Action]]:
        """Audio of this channel at the session's input rate. Returns it at
        16 kHz (what the session archives) and the actions it causes."""
        audio = self._resampler.process(block)
        actions = self._on_segmenter_events(self.segmenter.feed(audio), now, active=active)
        actions.extend(self._speculate(active=active))
        actions.extend(self._interims.due(now, active=active, speculating=self._speculator.pending is not None))
        actions.extend(self.maybe_utterance_end(active=active))
        return audio, actions

    def finalize(self, now: float, *, active: bool) -> list[Action]:
        """Finalize: close the open segment now. The caller then releases."""
        events = self.segmenter.finalize()
        if not events:
            self._finalize_markers.append(self._finals.next_release - 1 + self._finals.waiting)
        return self._on_segmenter_events(events, now, active=active)

    def flush(self, now: float, *, active: bool) -> tuple[Int16Array, list[Action]]:
        """End of stream: the resampler's tail (its delay line holds the last
        few ms of audio), returned for the archive and segmented like the rest;
        then close whatever is open."""
        tail = self._resampler.flush()
        actions: list[Action] = []
        if len(tail):
            actions.extend(self._on_segmenter_events(self.segmenter.feed(tail), now, active=active))
        actions.extend(self._on_segmenter_events(self.segmenter.end_of_stream(), now, active=active))
        return tail, actions

    def record_final(self, result: JobResult) -> bool:
        """Keep a final result until its turn; False if no closed segment
        awaits it (a redelivered final, an abandoned speculative final's, or a
        speculative final's whose segment is still open: pass those to
        `on_speculative`). When True the caller then releases."""
        return self._finals.record(result)

    def on_interim(self, result: JobResult, now: float, *, active: bool) -> list[Action]:
        return self._interims.answered(result, now, active=active, speculating=self._speculator.pending is not None)

    def on_speculative(self, result: JobResult, *, active: bool) -> list[Action]:
        """A final result `record_final` did not take: kept if it is the open
        segment's speculative final, ignored otherwise."""
        speculation = self._speculator.take_result(result)
        if speculation is None or speculation.result is not result:
            return []  # not the pending job's, or a redelivery of its result
        actions: list[Action] = []
        if self._context.params.interim_results and self._interims.covers(result.seq):
            # Still in the pause, with interims held back: this reading of the
            # whole segment is the best interim there is.
            actions.extend(self._interims.show(result, speculation.job.duration, active=active))
        if result.error is None and active and self._context.params.turn_notices:
            words = tuple(self._redactor.redact(result.words, final=False).words)
            reading = SpeculativeFinalEvent(
                self.index, speculation.job.start, speculation.job.duration, self.segmenter.open_speech_end(), words
            )
            actions.append(Notice(reading))
        return actions

    # -- output ------------------------------------------------------------
    def release(self, now: float, *, active: bool) -> list[Action]:
        """Send the finals that are done, in segment order."""
        actions: list[Action] = []
        for slot in self._finals.release():
            from_finalize = slot.reason is CloseReason.FINALIZE
            if slot.error is not None:
                self._context.errors.append(slot.error)
                failed = ErrorEvent(slot.error, "TRANSCRIPTION_FAILED")
                actions.append(SendMessage(error_message(failed.description, failed.code), event=failed))
            # A Finalize is always answered with a from_finalize final, even an empty one.
            if slot.words or from_finalize:
                final = self._final(slot.start, slot.end - slot.start, slot.words, slot.reason, now - slot.closed_at)
                actions.append(final)
            elif self._context.params.turn_notices:
                actions.append(Notice(self._empty_final(slot.start, slot.end - slot.start, slot.reason)))
            if slot.words:
                self._last_word_end = slot.words[-1].end
                self._utterance_open = True
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
        message = utterance_end_message(self.index, self._context.output_channels, self._last_word_end)
        return [SendMessage(message, event=UtteranceEndEvent(self.index, self._last_word_end))]

    # -- internals ---------------------------------------------------------
    def _on_segmenter_events(self, events: list[SegmenterEvent], now: float, *, active: bool) -> list[Action]:
        actions: list[Action] = []
        for event in events:
            if isinstance(event, SpeechStarted):
                if self._context.params.vad_events:
                    message = speech_started_message(self.index, self._context.output_channels, event.timestamp)
                    actions.append(SendMessage(message, event=SpeechStartedEvent(self.index, event.timestamp)))
            elif isinstance(event, SegmentClosed):
                self._interims.reset()
                actions.extend(self._segment_end(event.end, event.reason))
                actions.extend(self._on_closed(event, now, active=active))
            elif isinstance(event, SegmentDropped):
                actions.extend(self._segment_end(event.end, event.reason))
                actions.extend(self._withdraw(self._speculator.abandon(event.seq)))
                # Too short to transcribe, but its seq still has a turn in the
                # release order: mark it done with no words.
                self._finals.skip(event.seq, event.start, event.end, event.reason, now)
                self._interims.reset()
                actions.extend(self.release(now, active=active))
        return actions

    def _on_closed(self, event: SegmentClosed, now: float, *, active: bool) -> list[Action]:
        """A final job for the closed segment, unless its speculative final covers it."""
        speculation = self._speculator.claim(event)
        if speculation is None:
            actions = self._withdraw(self._speculator.abandon(event.seq))
            job = self._context.new_job(self.index, event.seq, JobKind.FINAL, event.start, event.audio)
            self._finals.expect(FinalSlot(event.seq, event.start, event.end, event.reason, job.revision, now))
            actions.append(SubmitJob(job))
            return actions
        revision = speculation.job.revision
        self._finals.expect(FinalSlot(event.seq, event.start, event.end, event.reason, revision, now))
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
        abandoned = self._speculator.check_open(self.segmenter)
        actions = self._withdraw(abandoned)
        if abandoned is not None and self.segmenter.is_open and self._context.params.turn_notices:
            actions.append(Notice(SpeculationAbandonedEvent(self.index, self.segmenter.open_speech_end())))
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
            self._interims.forget_in_flight()
        return actions

    @staticmethod
    def _withdraw(job: Job | None) -> list[Action]:
        return [] if job is None else [WithdrawJob(job)]

    def _final(
        self,
        start: float,
        duration: float,
        words: tuple[Word, ...],
        reason: CloseReason,
        end_of_turn_s: float | None = None,
    ) -> SendMessage:
        redaction = self._redactor.redact(words, final=True)
        self._context.redacted.extend((self.index, span) for span in redaction.spans)
        typed = TranscriptEvent(
            channel=self.index,
            start=start,
            duration=duration,
            words=tuple(redaction.words),
            is_final=True,
            speech_final=reason is CloseReason.ENDPOINT,
            from_finalize=reason is CloseReason.FINALIZE,
            stable=len(redaction.words),
        )
        message = results_message(
            request_id=self._context.session_id,
            model=self._context.model,
            channel=self.index,
            channels=self._context.output_channels,
            start=start,
            duration=duration,
            words=typed.words,
            is_final=True,
            speech_final=typed.speech_final,
            from_finalize=typed.from_finalize,
        )
        self._context.finals.append(message)
        return SendMessage(message, end_of_turn_s, final=True, event=typed)

    def _segment_end(self, end: float, reason: CloseReason) -> list[Action]:
        if not self._context.params.turn_notices:
            return []
        return [Notice(SegmentEndEvent(self.index, end, reason is CloseReason.ENDPOINT))]

    def _empty_final(self, start: float, duration: float, reason: CloseReason) -> TranscriptEvent:
        """A segment's final without words, which /v1/listen does not send (streaming.actions.Notice)."""
        endpoint, finalize = reason is CloseReason.ENDPOINT, reason is CloseReason.FINALIZE
        return TranscriptEvent(self.index, start, duration, (), True, endpoint, finalize, 0)

    def _release_finalize_markers(self) -> list[Action]:
        actions: list[Action] = []
        while self._finalize_markers and self._finalize_markers[0] < self._finals.next_release:
            self._finalize_markers.pop(0)
            actions.append(self._final(self.segmenter.clock, 0.0, (), CloseReason.FINALIZE))
        return actions
