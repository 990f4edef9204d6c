"""The metrics of bench/first_text.py, pure functions over what a client
received: what a caption client shows after each message, when each
reference word is first shown, the age of the oldest unshown word, and
whether text keeps flowing. The same code judges every server."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from testbed import audio

GAP_S = 1.5
CHUNK_S = 0.1
WORD_SLACK_S = 0.5
"""Reference words starting up to this long after the audio sent so far may already be shown."""
STALE_S = 0.1


@dataclass(frozen=True)
class Piece:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Update:
    """One message with text: when it came, the pieces it makes final, the open piece it sets."""

    t: float
    finals: tuple[Piece, ...] = ()
    partial: Piece | None = None
    sets_partial: bool = True


@dataclass
class StreamLog:
    send_times: list[float] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    ready_s: float = 0.0


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    utterance: int


def shown_texts(updates: Sequence[Update]) -> list[tuple[float, str]]:
    """(arrival, text a caption client shows) after each update, as whisper-live's own client keeps it: a
    final piece is kept if it starts where the last kept one ends or later (so resent ones are not), an
    update without an open piece leaves the shown one, which is hidden once a final piece ends past its start."""
    finals: list[Piece] = []
    partial: Piece | None = None
    shown: list[tuple[float, str]] = []
    for update in updates:
        for piece in update.finals:
            if not finals or piece.start >= finals[-1].end - STALE_S:
                finals.append(piece)
        if update.sets_partial:
            partial = update.partial
        pieces = list(finals)
        if partial is not None and (not finals or partial.start >= finals[-1].end - STALE_S):
            pieces.append(partial)
        shown.append((update.t, audio.normalize_text(" ".join(p.text for p in pieces))))
    return shown


def frontier(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The length of the reference prefix that `hypothesis` matches at the least edit distance (longest on ties)."""
    previous = list(range(len(hypothesis) + 1))
    best, best_length = previous[-1], 0
    for i, word in enumerate(reference, 1):
        row = [i]
        for j, said in enumerate(hypothesis, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != said)))
        if row[-1] <= best:
            best, best_length = row[-1], i
        previous = row
    return best_length


def chunk_index(stream_s: float) -> int:
    return int(stream_s / CHUNK_S + 1e-9)


def sent_at(send_times: Sequence[float], stream_s: float) -> float:
    """Wall time at which the frame holding stream time `stream_s` was sent."""
    return send_times[min(chunk_index(stream_s), len(send_times) - 1)]


def reach_times(shown: Sequence[tuple[float, str]], words: Sequence[Word], send_times: Sequence[float]) -> list[float]:
    """Per reference word, the arrival of the first message whose frontier passes it (inf: never)."""
    reach = [math.inf] * len(words)
    starts = [w.start for w in words]
    reference = [w.text for w in words]
    reached, previous = 0, ""
    for t, text in shown:
        if text == previous:
            continue
        previous = text
        audio_s = bisect.bisect_right(send_times, t) * CHUNK_S
        window = bisect.bisect_right(starts, audio_s + WORD_SLACK_S)
        passed = frontier(reference[:window], text.split())
        for k in range(reached, passed):
            reach[k] = t
        reached = max(reached, passed)
    return reach


def first_cover(reach: Sequence[float], words: Sequence[Word], send_times: Sequence[float]) -> list[float | None]:
    """Per utterance, seconds from sending its speech end (its last word's end) to showing its last word."""
    last: dict[int, int] = {w.utterance: i for i, w in enumerate(words)}
    return [
        reach[i] - sent_at(send_times, words[i].end) if math.isfinite(reach[i]) else None
        for _, i in sorted(last.items())
    ]


def oldest_unshown_ages(reach: Sequence[float], words: Sequence[Word], send_times: Sequence[float]) -> list[float]:
    """At each frame sent, the age of the oldest word whose audio was sent and that is not shown yet."""
    ages: list[float] = []
    oldest = 0
    for k, t in enumerate(send_times):
        while oldest < len(words) and reach[oldest] <= t:
            oldest += 1
        sent_frame = chunk_index(words[oldest].end) if oldest < len(words) else k + 1
        ages.append(t - send_times[sent_frame] if sent_frame <= k else 0.0)
    return ages


def flow(shown: Sequence[tuple[float, str]], send_times: Sequence[float]) -> dict[str, float | None]:
    """First text after the stream start, text changes per minute, longest wait between changes while sending."""
    changes: list[float] = []
    previous = ""
    for t, text in shown:
        if text and text != previous:
            changes.append(t)
        previous = text
    started, ended = send_times[0], send_times[-1] + CHUNK_S
    during = [t for t in changes if t <= ended]
    waits = np.diff([started, *during, ended]) if during else np.array([ended - started])
    return {
        "first_text_s": changes[0] - started if changes else None,
        "updates_per_min": len(changes) / ((ended - started) / 60),
        "longest_wait_s": float(waits[1:].max()) if len(waits) > 1 else float(waits[0]),
    }


def stream_figures(log: StreamLog, words: Sequence[Word], reference: str) -> dict[str, Any]:
    """The figures of one stream; ages and flow over its speech and one pause after it, not the long tail."""
    shown = shown_texts(log.updates)
    reach = reach_times(shown, words, log.send_times)
    spoken = log.send_times[: chunk_index(words[-1].end + GAP_S)]
    ages = oldest_unshown_ages(reach, words, spoken)
    return {
        "first_cover_s": first_cover(reach, words, log.send_times),
        "oldest_unshown_mean_s": statistics.fmean(ages),
        "oldest_unshown_max_s": max(ages),
        **flow(shown, spoken),
        "wer": audio.wer(reference, shown[-1][1] if shown else ""),
        "shown_at_end": shown[-1][1] if shown else "",
        "ready_s": log.ready_s,
        "messages": len(log.updates),
    }


def ms(value: float | None) -> int | None:
    return None if value is None or math.isnan(value) else round(1000 * value)


def summarize(server: str, concurrent: int, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """One row over every stream of every run with `concurrent` streams at once."""
    covers = [x for s in streams for x in s["first_cover_s"] if x is not None]
    firsts = [s["first_text_s"] for s in streams if s["first_text_s"] is not None]
    per_min = [s["updates_per_min"] for s in streams]
    return {
        "server": server,
        "streams": concurrent,
        "runs": len(streams) // concurrent,
        "utterances": sum(len(s["first_cover_s"]) for s in streams),
        "never_shown": sum(x is None for s in streams for x in s["first_cover_s"]),
        "first_cover_p50_ms": ms(float(np.percentile(covers, 50)) if covers else None),
        "first_cover_p95_ms": ms(float(np.percentile(covers, 95)) if covers else None),
        "oldest_unshown_mean_ms": ms(statistics.fmean(s["oldest_unshown_mean_s"] for s in streams)),
        "oldest_unshown_max_ms": ms(max(s["oldest_unshown_max_s"] for s in streams)),
        "first_text_p50_ms": ms(statistics.median(firsts) if firsts else None),
        "first_text_max_ms": ms(max(firsts) if firsts else None),
        "no_text_streams": len(streams) - len(firsts),
        "updates_per_min_mean": round(statistics.fmean(per_min), 1),
        "updates_per_min_min": round(min(per_min), 1),
        "longest_wait_s": round(max(s["longest_wait_s"] for s in streams), 2),
        "wer_median": round(statistics.median(s["wer"] for s in streams), 3),
        "per_stream": streams,
    }
