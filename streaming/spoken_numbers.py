"""Numbers in transcript words, sans I/O: which words are numeric and which digits each one says.

Whisper writes a number in digits ("4111", "4111-1111-1111-1111", "4,111", "$50", "5/27", "4th",
"50%") or in words ("four one one one", "forty one eleven", "double four", "oh five"). A run is
a maximal sequence of consecutive numeric words, and a run's digits are the concatenation of its
words' digits. Each word keeps the digits it contributes, because redaction (streaming.redaction)
looks for card numbers in word-aligned windows of a run.

Spoken numbers are read the way people say digits aloud, not as arithmetic: "forty one" is "41",
"nineteen eighty five" is "1985", "double four" is "44", and "oh" is a zero only next to other
number words. Magnitudes ("four hundred") are numeric, with the zeros of the simple cases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto

_UNITS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
_TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_MAGNITUDES = {"hundred": 2, "thousand": 3, "million": 6, "billion": 9}
"""The zeros each one writes when nothing follows it."""
_OHS = frozenset({"oh", "o"})
_FILLERS = frozenset({"uh", "um", "umm", "uhm", "er", "erm", "ah", "hmm", "mm"})
"""Hesitations that do not end a run: "4111, uh, 1111" is still one number."""
_NUMBER_WORDS = frozenset(_UNITS) | _TEENS.keys() | _TENS.keys() | _REPEATS.keys() | _MAGNITUDES.keys() | _OHS

_STRIP = " \t\n\"'\u201c\u201d\u2018\u2019()[]{}<>«».,;:!?…-\u2013\u2014*"
"""Around a word: quotes, brackets, punctuation, hyphens and dashes."""
_DIGIT_FORM = re.compile(r"[$€£¥#+]?\d(?:[\d\-./,: ]*\d)?(?:st|nd|rd|th|s|%|k)?", re.IGNORECASE)
_HYPHENS = re.compile("[-\u2013]")


class _Kind(Enum):
    DIGITS = auto()
    UNIT = auto()
    OH = auto()
    TEEN = auto()
    TENS = auto()
    REPEAT = auto()
    MAGNITUDE = auto()
    CONNECTOR = auto()
    OTHER = auto()


_SAYS_DIGITS = frozenset({_Kind.DIGITS, _Kind.UNIT, _Kind.OH, _Kind.TEEN, _Kind.TENS, _Kind.REPEAT})


@dataclass(frozen=True, slots=True)
class _Piece:
    word: int
    kind: _Kind
    key: str
    """The piece lower-cased without punctuation, or the digits of a DIGITS piece."""


@dataclass(frozen=True, slots=True)
class NumberRun:
    """Consecutive numeric words `start` to `stop` (exclusive) of the texts given to `find_runs`."""

    start: int
    stop: int
    digits: tuple[str, ...]
    """The digits each word of the run contributes, in order ("" for "hundred", "uh", ...)."""
    magnitude: bool
    """A magnitude word ("hundred", "thousand", ...) is in the run: the number has three digits or more."""

    @property
    def text(self) -> str:
        return "".join(self.digits)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of payment card numbers (the last digit checks the others)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return bool(digits) and total % 10 == 0


def find_runs(texts: Sequence[str]) -> tuple[NumberRun, ...]:
    """The runs of numeric words among `texts` (word texts as Whisper wrote them), in order.

    The end of `texts` is taken as possibly not the end of the speech: a trailing "double" or
    hesitation after a number stays in the run, since the next final may continue it. A caller
    that carries a run over to the next final passes its words again in front of the new ones,
    so that "forty" | "one" reads "41" and not "40", "1"."""
    pieces = [piece for index, text in enumerate(texts) for piece in _pieces(index, text)]
    values = _resolve(pieces)
    per_word: list[str | None] = [""] * len(texts)
    magnitude = [False] * len(texts)
    for piece, value in zip(pieces, values, strict=True):
        said = per_word[piece.word]
        per_word[piece.word] = None if value is None or said is None else said + value
        magnitude[piece.word] |= piece.kind is _Kind.MAGNITUDE
    runs: list[NumberRun] = []
    start = 0
    while start < len(texts):
        if per_word[start] is None:
            start += 1
            continue
        stop = start
        while stop < len(texts) and per_word[stop] is not None:
            stop += 1
        digits = tuple(said or "" for said in per_word[start:stop])
        runs.append(NumberRun(start, stop, digits, any(magnitude[start:stop])))
        start = stop
    return tuple(runs)


def _pieces(index: int, text: str) -> list[_Piece]:
    core = text.strip(_STRIP).lower()
    if _DIGIT_FORM.fullmatch(core):
        return [_Piece(index, _Kind.DIGITS, re.sub(r"\D", "", core))]
    parts = [part.strip(_STRIP) for part in _HYPHENS.split(core)]
    if len(parts) > 1 and all(part in _NUMBER_WORDS for part in parts):
        return [_Piece(index, _kind(part), part) for part in parts]
    if core in _FILLERS or core == "and":
        return [_Piece(index, _Kind.CONNECTOR, core)]
    return [_Piece(index, _kind(core), core)]


def _kind(key: str) -> _Kind:
    if key in _UNITS:
        return _Kind.UNIT
    if key in _OHS:
        return _Kind.OH
    if key in _TEENS:
        return _Kind.TEEN
    if key in _TENS:
        return _Kind.TENS
    if key in _REPEATS:
        return _Kind.REPEAT
    if key in _MAGNITUDES:
        return _Kind.MAGNITUDE
    return _Kind.OTHER


def _resolve(pieces: Sequence[_Piece]) -> list[str | None]:
    """The digits of each piece in its context, None where the piece is not numeric."""
    values: list[str | None] = []
    weak: list[bool] = []  # numeric only in a run with a number that is not "oh" or a hesitation
    for index, piece in enumerate(pieces):
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        previous = pieces[index - 1] if index else None
        value = _strong_value(piece, following)
        if piece.kind is _Kind.MAGNITUDE:
            # What follows "and" decides: "one hundred and five" is "105".
            later = range(index + 1, len(pieces))
            after = next((pieces[i] for i in later if pieces[i].kind is not _Kind.CONNECTOR), None)
            value = _magnitude_zeros(piece, after)
        soft = piece.kind in (_Kind.OH, _Kind.CONNECTOR)
        if piece.kind is _Kind.OH and previous is not None and previous.kind is _Kind.REPEAT:
            value, soft = "0", False  # "double oh"
        elif piece.kind is _Kind.OH:
            value = "0"
        elif piece.kind is _Kind.CONNECTOR:
            after_magnitude = previous is not None and previous.kind is _Kind.MAGNITUDE
            value = "" if piece.key in _FILLERS or after_magnitude else None
        values.append(value)
        weak.append(soft)
    _settle_weak(values, weak)
    return values


def _strong_value(piece: _Piece, following: _Piece | None) -> str | None:
    if piece.kind is _Kind.DIGITS:
        return piece.key
    if piece.kind is _Kind.UNIT:
        return _UNITS[piece.key]
    if piece.kind is _Kind.TEEN:
        return _TEENS[piece.key]
    if piece.kind is _Kind.TENS:
        # "forty one" says two digits, "forty" alone says "40".
        joined = following is not None and following.kind is _Kind.UNIT and following.key != "zero"
        return _TENS[piece.key] if joined else _TENS[piece.key] + "0"
    if piece.kind is _Kind.REPEAT:
        if following is None:
            return ""  # the end of a final: the digit it repeats may open the next one
        if following.kind is _Kind.UNIT:
            return _UNITS[following.key] * (_REPEATS[piece.key] - 1)
        return "0" * (_REPEATS[piece.key] - 1) if following.kind is _Kind.OH else None
    return None


def _magnitude_zeros(piece: _Piece, following: _Piece | None) -> str:
    # Only the simple cases are exact ("four hundred", "four hundred five", "two thousand twenty");
    # otherwise the run is still numeric and still has three digits or more, which is what counts.
    zeros = _MAGNITUDES[piece.key]
    if following is None or following.kind not in _SAYS_DIGITS:
        return "0" * zeros
    if following.kind is _Kind.UNIT:
        return "0" * (zeros - 1)
    return "0" * (zeros - 2) if following.kind in (_Kind.TEEN, _Kind.TENS) else ""


def _settle_weak(values: list[str | None], weak: list[bool]) -> None:
    """Weak pieces stay numeric only in a stretch of numeric pieces that has a strong one;
    hesitations only between numbers, or after one at the end (the next final may go on)."""
    start = 0
    while start < len(values):
        if values[start] is None:
            start += 1
            continue
        stop = start
        while stop < len(values) and values[stop] is not None:
            stop += 1
        anchors = [index for index in range(start, stop) if not weak[index]]
        if not anchors and stop == len(values):
            # "... oh" ending a final may be the first digit of "oh | five twenty seven".
            anchors = [index for index in range(start, stop) if values[index] == "0"]
        if not anchors:
            values[start:stop] = [None] * (stop - start)
        last = stop - 1 if stop == len(values) else max(anchors, default=start)
        for index in range(start, stop):
            hesitation = weak[index] and values[index] == ""
            if hesitation and not (anchors and anchors[0] < index <= last):
                values[index] = None
        start = stop
