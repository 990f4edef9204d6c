"""LocalAgreement-2 over successive interim hypotheses of one segment.

Each interim transcription re-reads the whole segment so far. A word is
committed once two consecutive hypotheses agree on it (and on every word
before it); committed words never change in later interims of the segment.
What follows the committed prefix is the tentative tail.
"""

from __future__ import annotations

import re
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
    """Keeps the committed prefix of one segment's interim hypotheses."""

    def __init__(self) -> None:
        self._committed: tuple[str, ...] = ()
        self._previous: tuple[str, ...] = ()

    @property
    def committed(self) -> tuple[str, ...]:
        return self._committed

    def update(self, hypothesis: Sequence[str]) -> Stabilized:
        """Add one hypothesis (words in order) and return committed + tentative."""
        words = tuple(hypothesis)
        if self._agrees_with_committed(words):
            agreed = self._common_prefix_length(self._previous, words)
            if agreed > len(self._committed):
                # Extend only: committed words keep the spelling they were
                # committed with, even if this reading changes case or punctuation.
                self._committed = self._committed + words[len(self._committed) : agreed]
        self._previous = words
        # A hypothesis that contradicts committed words does not revise them:
        # its reading continues after them, aligned by position.
        return Stabilized(self._committed, words[len(self._committed) :])

    def reset(self) -> None:
        self._committed = ()
        self._previous = ()

    def _agrees_with_committed(self, words: tuple[str, ...]) -> bool:
        return self._common_prefix_length(self._committed, words) == len(self._committed)

    @staticmethod
    def _common_prefix_length(a: Sequence[str], b: Sequence[str]) -> int:
        length = 0
        for left, right in zip(a, b, strict=False):
            if normalize_word(left) != normalize_word(right):
                break
            length += 1
        return length
