"""LocalAgreement-2 over successive interim hypotheses of one segment.

Each interim transcription re-reads the whole segment so far. A word is
committed once two consecutive hypotheses agree on it (and on every word
before it); committed words never change in later interims of the segment.
What follows the committed prefix is the tentative tail.

The segment's first words wait for more readings (`opening_readings`, three
by default): the first readings hear a second or two of speech, and two of
them can make the same wrong guess of it ("And so my fellow" read twice as
"And so am I"), which would then stay on screen until the final. Measured
with bench/interim_commits.py (README "Opening agreement").
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

_NORMALIZE = re.compile(r"[^\w']+")


def normalize_word(word: str) -> str:
    """Compare words without case or surrounding punctuation."""
    return _NORMALIZE.sub("", word.lower())


@dataclass(frozen=True, slots=True)
class Stabilized:
    committed: tuple[str, ...]
    tentative: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return self.committed + self.tentative


class LocalAgreement:
    """Keeps the committed prefix of one segment's interim hypotheses.

    `opening_readings`: how many consecutive hypotheses must agree on the
    segment's first committed words (2: plain LocalAgreement-2); later words
    need two."""

    def __init__(self, opening_readings: int = 2) -> None:
        if opening_readings < 2:
            raise ValueError(f"opening_readings must be at least 2, not {opening_readings}")
        self._opening_readings = opening_readings
        self._committed: tuple[str, ...] = ()
        self._recent: deque[tuple[str, ...]] = deque(maxlen=opening_readings)

    @property
    def committed(self) -> tuple[str, ...]:
        return self._committed

    def update(self, hypothesis: Sequence[str]) -> Stabilized:
        """Add one hypothesis (words in order) and return committed + tentative."""
        words = tuple(hypothesis)
        self._recent.append(words)
        needed = 2 if self._committed else self._opening_readings
        if self._agrees_with_committed(words) and len(self._recent) >= needed:
            agreed = self._common_prefix_length(*list(self._recent)[-needed:])
            if agreed > len(self._committed):
                # Extend only: committed words keep the spelling they were
                # committed with, even if this reading changes case or punctuation.
                self._committed = self._committed + words[len(self._committed) : agreed]
        # A hypothesis that contradicts committed words does not revise them:
        # its reading continues after them, aligned by position.
        return Stabilized(self._committed, words[len(self._committed) :])

    def reset(self) -> None:
        self._committed = ()
        self._recent.clear()

    def _agrees_with_committed(self, words: tuple[str, ...]) -> bool:
        return self._common_prefix_length(self._committed, words) == len(self._committed)

    @staticmethod
    def _common_prefix_length(*readings: Sequence[str]) -> int:
        length = 0
        for column in zip(*readings, strict=False):
            if len({normalize_word(word) for word in column}) > 1:
                break
            length += 1
        return length
