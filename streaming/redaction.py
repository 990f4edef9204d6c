"""Redaction of card numbers, social security numbers or all numbers in transcripts, sans I/O.

Deepgram's `redact=` query parameter: `pci`, `ssn`, `numbers` (or `true`). A call-center
product must never write these down, so the words of every result are redacted before
anything leaves the process: a redacted run of consecutive words becomes one word whose text
is a marker (`[PCI]`, `[SSN]`, `[NUMBER]`), and the time ranges redacted come along as spans,
for silencing the archived audio later.

Which words are numbers, and which digits they say, is streaming.spoken_numbers' part: a run
is a maximal sequence of consecutive numeric words, and the rules decide on whole runs. Under

- pci: a run with a word-aligned window of 13 to 19 digits that passes the Luhn check (a card
  number); a run that continues the last final's trailing run into one; within 12 words after
  a card number, a run of 3 or 4 digits (CVV), an expiry (M/YYYY, MM/YYYY, a month name and a
  year); within 6 words after a trigger (cvv, cvc, security code, expiration, expiry, expires,
  exp), any run. And, because the rest of a card number may come in the next final, a run of
  4 digits or more that ends a final (in an interim, any such run).
- ssn: a run of exactly 9 digits (with the last final's trailing run, where it continues it);
  within 8 words after "social security" or "ssn", a run of 4 digits.
- numbers: a run of 3 digits or more, or with a magnitude word ("a hundred").

Where several apply the label is the first of pci, ssn, numbers.

The caller's duties:

- One `Redactor` per audio channel, fed every final of that channel in segment order (a card
  number is often split over two finals when the speaker pauses between digit groups, so the
  redactor carries the end of each final over to the next). A final that is skipped, or fed
  out of order, may let a split card number through.
- Interims go through the same redactor with `final=False`: they read what earlier finals left
  and change nothing.
- Everything written down comes from the redacted words: the transcript text (JobResult.text
  joins the words), alternatives, archived documents, logs. Words already sent cannot be taken
  back, which is why a possible card-number prefix at the end of a final is redacted at once.
- Redaction is text only: silencing the audio of the spans is the archive's part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from streaming.jobs import Word
from streaming.spoken_numbers import NumberRun, find_runs, luhn_valid
from streaming.stabilizer import normalize_word

CARD_DIGITS = range(13, 20)
"""Payment card numbers have 13 to 19 digits, the last one a Luhn check digit."""
PREFIX_DIGITS = 4
"""A run this long at the end of a final may be the first groups of a card number."""
CARD_WINDOW_WORDS = 12
"""After a card number, a CVV or an expiry date within this many words is redacted too."""
PCI_TRIGGER_WORDS = 6
SSN_TRIGGER_WORDS = 8
CARRY_WORDS = 40
"""Words of a final's trailing run carried to the next final: a spelled 19-digit card with hesitations."""

_PCI_TRIGGERS = frozenset({"cvv", "cvc", "cvv2", "cvc2", "expiration", "expiry", "expires", "expiring", "exp"})
_MONTHS = frozenset(
    {
        *("january", "february", "march", "april", "may", "june", "july"),
        *("august", "september", "october", "november", "december"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_TRAILING_PUNCTUATION = re.compile(r"[.,;:!?…]*$")


class RedactionMode(StrEnum):
    PCI = "pci"
    SSN = "ssn"
    NUMBERS = "numbers"


MARKERS = {RedactionMode.PCI: "[PCI]", RedactionMode.SSN: "[SSN]", RedactionMode.NUMBERS: "[NUMBER]"}
PRIORITY = (RedactionMode.PCI, RedactionMode.SSN, RedactionMode.NUMBERS)
"""The label of a run that more than one mode would redact: the first of these."""


@dataclass(frozen=True, slots=True)
class RedactedSpan:
    """A time range of the stream (seconds) whose words were redacted."""

    start: float
    end: float
    label: RedactionMode


@dataclass(frozen=True, slots=True)
class Redaction:
    words: tuple[Word, ...]
    """The words with each redacted run replaced by one marker word."""
    spans: tuple[RedactedSpan, ...] = ()


def parse_redact(values: Iterable[str]) -> frozenset[RedactionMode]:
    """The modes asked for by the values of repeated `redact=` query parameters.

    Each value may be a comma-separated list (`redact=pci,ssn`); case and surrounding
    whitespace do not matter; `true` means `numbers` and `false` adds nothing. Raises
    ValueError, with a message fit for the client, on any other value."""
    modes: set[RedactionMode] = set()
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if name == "true":
                modes.add(RedactionMode.NUMBERS)
            elif name != "false":
                try:
                    modes.add(RedactionMode(name))
                except ValueError:
                    accepted = ", ".join(mode.value for mode in RedactionMode)
                    raise ValueError(f"redact must be {accepted}, true or false, got {item.strip()[:40]!r}") from None
    return frozenset(modes)


def redaction_marker(modes: Iterable[RedactionMode]) -> str | None:
    """The marker for a digit that comes without words (a keypad press) under `modes`, None without modes.

    Such a digit cannot be judged on its own (one keypad digit of a card number is a digit), so
    under any mode the caller shows the marker of the mode first in PRIORITY instead."""
    chosen = frozenset(modes)
    return next((MARKERS[mode] for mode in PRIORITY if mode in chosen), None)


@dataclass(frozen=True, slots=True)
class _Carry:
    """What one final leaves for the next."""

    numbers: tuple[str, ...] = ()
    """The texts of the final's last run, if it ended the final: the next final may continue it."""
    last_key: str = ""
    """The final's last word, normalized: "social" | "security" is a trigger across finals too."""
    card_words: int = 0
    """Words left in the window for a CVV or expiry after a card number."""
    pci_words: int = 0
    ssn_words: int = 0


@dataclass(frozen=True, slots=True)
class _Cut:
    start: int
    stop: int
    label: RedactionMode


class Redactor:
    """Redacts the results of one audio channel: see the module's docstring for the caller's duties."""

    def __init__(self, modes: Iterable[RedactionMode]) -> None:
        self._modes = frozenset(modes)
        self._carry = _Carry()

    @property
    def modes(self) -> frozenset[RedactionMode]:
        return self._modes

    def redact(self, words: Sequence[Word], *, final: bool) -> Redaction:
        """Redact the words of one result; `final` says whether it is the channel's next final.

        With no modes the words pass through. An empty final changes nothing."""
        if not self._modes or not words:
            return Redaction(tuple(words))
        scan = _Scan(self._modes, self._carry, words, final=final)
        cuts = scan.scan()
        if final:
            self._carry = scan.carry()
        return _apply(words, cuts)


def redact_finals(finals: Iterable[Sequence[Word]], modes: Iterable[RedactionMode]) -> list[Redaction]:
    """Redact the finals of one channel at once (an upload), in order, through one Redactor."""
    redactor = Redactor(modes)
    return [redactor.redact(words, final=True) for words in finals]


class _Scan:
    """One result's pass, left to right, over the words carried from the last final and its own.

    Positions count from the first carried word; the result's own words start at `lead`."""

    def __init__(self, modes: frozenset[RedactionMode], carry: _Carry, words: Sequence[Word], *, final: bool) -> None:
        self._modes = modes
        self._final = final
        self._lead = len(carry.numbers)
        self._texts = carry.numbers + tuple(word.text for word in words)
        self._keys = ("",) * self._lead + tuple(normalize_word(word.text) for word in words)
        # A run that starts among the carried words is taken from the first word of this result.
        self._runs = {max(run.start, self._lead): run for run in find_runs(self._texts) if run.stop > self._lead}
        self._previous_key = carry.last_key
        self._card_words = carry.card_words
        self._pci_words = carry.pci_words
        self._ssn_words = carry.ssn_words
        self._cuts: list[_Cut] = []

    def scan(self) -> list[_Cut]:
        """The word ranges (this result's positions) to redact, in order."""
        position = self._lead
        while position < len(self._texts):
            run = self._runs.get(position)
            if run is not None:
                position = self._take_run(run, position)
            elif (stop := self._take_month_expiry(position)) is not None:
                position = stop
            else:
                position = self._take_word(position)
        return self._cuts

    def carry(self) -> _Carry:
        last = next((run for run in self._runs.values() if run.stop == len(self._texts)), None)
        numbers = self._texts[last.start :][-CARRY_WORDS:] if last is not None else ()
        return _Carry(numbers, self._previous_key, self._card_words, self._pci_words, self._ssn_words)

    def _take_run(self, run: NumberRun, position: int) -> int:
        own = "".join(run.digits[position - run.start :])
        label, card = self._judge(run, position, own)
        if label is not None:
            self._cut(position, run.stop, label)
        self._advance(run.stop - position)
        if card:
            self._card_words = CARD_WINDOW_WORDS
        self._previous_key = self._keys[run.stop - 1]
        return run.stop

    def _judge(self, run: NumberRun, position: int, own: str) -> tuple[RedactionMode | None, bool]:
        """The label of a run (`own`: the digits of its words in this result), and whether it is a card."""
        whole = run.text
        if RedactionMode.PCI in self._modes:
            if _has_card(run.digits, position - run.start):
                return RedactionMode.PCI, True
            if self._card_words and (len(own) in (3, 4) or _is_long_expiry(own)):
                return RedactionMode.PCI, False
            if self._pci_words and own:
                return RedactionMode.PCI, False
            # The rest of a card number may come in the next final, and what is sent stays sent;
            # an interim is a hypothesis of the open segment, any of whose runs may still grow.
            if len(whole) >= PREFIX_DIGITS and (run.stop == len(self._texts) or not self._final):
                return RedactionMode.PCI, False
        if RedactionMode.SSN in self._modes and (len(whole) == 9 or (self._ssn_words and len(own) == 4)):
            return RedactionMode.SSN, False
        if RedactionMode.NUMBERS in self._modes and (len(whole) >= 3 or run.magnitude):
            return RedactionMode.NUMBERS, False
        return None, False

    def _take_month_expiry(self, position: int) -> int | None:
        """An expiry date with the month in words ("May 27", "May of 2027") near a card or a trigger."""
        if RedactionMode.PCI not in self._modes or self._keys[position] not in _MONTHS:
            return None
        if not (self._card_words or self._pci_words):
            return None
        year_at = position + 2 if self._keys[position + 1 : position + 2] == ("of",) else position + 1
        run = self._runs.get(year_at)
        if run is None or len(run.text) not in (2, 4):
            return None
        self._cut(position, run.stop, RedactionMode.PCI)
        self._advance(run.stop - position)
        self._previous_key = self._keys[run.stop - 1]
        return run.stop

    def _take_word(self, position: int) -> int:
        key = self._keys[position]
        self._advance(1)
        if key in _PCI_TRIGGERS or (key == "code" and self._previous_key == "security"):
            self._pci_words = PCI_TRIGGER_WORDS
        if key == "ssn" or (key == "security" and self._previous_key == "social"):
            self._ssn_words = SSN_TRIGGER_WORDS
        self._previous_key = key
        return position + 1

    def _advance(self, words: int) -> None:
        self._card_words = max(0, self._card_words - words)
        self._pci_words = max(0, self._pci_words - words)
        self._ssn_words = max(0, self._ssn_words - words)

    def _cut(self, start: int, stop: int, label: RedactionMode) -> None:
        start, stop = start - self._lead, stop - self._lead
        if self._cuts and self._cuts[-1].stop == start and self._cuts[-1].label is label:
            start = self._cuts.pop().start  # one marker for adjacent ranges of one label
        self._cuts.append(_Cut(start, stop, label))


def _has_card(digits: Sequence[str], first_own: int) -> bool:
    """Whether a word-aligned window of a run, ending in this result's words, is a card number."""
    ends = [0]
    for said in digits:
        ends.append(ends[-1] + len(said))
    joined = "".join(digits)
    for first in range(len(digits)):
        if not digits[first]:
            continue  # the same windows as from the next word
        for stop in range(max(first, first_own) + 1, len(digits) + 1):
            length = ends[stop] - ends[first]
            if length > CARD_DIGITS.stop - 1:
                break
            if length in CARD_DIGITS and luhn_valid(joined[ends[first] : ends[stop]]):
                return True
    return False


def _is_long_expiry(digits: str) -> bool:
    """M/YYYY or MM/YYYY (shorter dates have the length of a CVV and are redacted as such)."""
    if len(digits) == 5:
        return digits[0] != "0" and digits[1:3] in ("19", "20")
    return len(digits) == 6 and "01" <= digits[:2] <= "12" and digits[2:4] in ("19", "20")


def _apply(words: Sequence[Word], cuts: Sequence[_Cut]) -> Redaction:
    out: list[Word] = []
    spans: list[RedactedSpan] = []
    done = 0
    for cut in cuts:
        out.extend(words[done : cut.start])
        run = words[cut.start : cut.stop]
        match = _TRAILING_PUNCTUATION.search(run[-1].text.rstrip())
        punctuation = match.group() if match else ""
        marker = Word(MARKERS[cut.label] + punctuation, run[0].start, run[-1].end, min(w.confidence for w in run))
        out.append(marker)
        spans.append(RedactedSpan(marker.start, marker.end, cut.label))
        done = cut.stop
    out.extend(words[done:])
    return Redaction(tuple(out), tuple(spans))
