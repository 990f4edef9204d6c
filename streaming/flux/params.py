"""Flux's query parameters and thresholds, and how they map onto a live session.

Flux decides the end of a turn with a model of its own; here the decision is
VAD silence plus what Whisper's reading says (streaming.flux.turns): the
end-of-turn confidence is 0.3 at the last voiced frame, grows by 0.1 every
100 ms of silence, gains 0.1 for a sentence-final mark and loses 0.2 for a
trailing continuation ("and", "um", a comma), and stays under 1.0. A
threshold therefore names a silence: for a neutral ending, `eot_threshold`
0.7 is 400 ms (the /v1/listen default endpointing) and each 0.1 more is 100
ms more. The session's segments follow it:

- endpointing silence = the silence at which a neutral ending reaches
  `eot_threshold` (200-1000 ms; 700 ms at 1.0, where no turn ends by itself);
- speculative-final silence = the same for `eager_eot_threshold` (at least
  100 ms, and under the endpointing silence), so that the eager reading is
  the speculative final; without it, the server's speculative silence.

Both are chosen when the stream opens. `Configure` changes the thresholds at
once for every later decision, but not the session's silences: a lowered
threshold cannot end a turn before the reading it needs has come.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from streaming.protocol import CloseCode, ListenParams, ProtocolError, parse_listen_params

EOT_RANGE = (0.5, 1.0)
EAGER_RANGE = (0.3, 0.9)
TIMEOUT_RANGE = (500, 60_000)
DEFAULT_EOT = 0.7
DEFAULT_TIMEOUT_MS = 5000
BASE_CONFIDENCE = 0.3
"""End-of-turn confidence of a neutral ending at the last voiced frame."""
CONFIDENCE_PER_S = 1.0
"""What each second of silence adds."""
MIN_ENDPOINTING_MS = 200
MAX_ENDPOINTING_MS = 1000
MIN_SPECULATIVE_MS = 100
_ENCODINGS = ("linear16", "mulaw", "alaw")
_IGNORED = ("profanity_filter", "numerals", "smart_format", "punctuate")
"""Flux parameters accepted and ignored, with a Warning (Whisper punctuates and writes numerals itself)."""
_REDACT = {"aggressive_numbers": "numbers"}
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class ThresholdError(ValueError):
    """A threshold out of its range (the message names it)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    eot: float = DEFAULT_EOT
    eager: float | None = None
    """None: no EagerEndOfTurn or TurnResumed events (Flux's default)."""
    timeout_ms: int = DEFAULT_TIMEOUT_MS

    def changed(self, values: dict[str, object]) -> Thresholds:
        """These thresholds with Configure's `thresholds` object applied (absent or null keys keep theirs)."""
        eot, eager, timeout = self.eot, self.eager, self.timeout_ms
        if values.get("eot_threshold") is not None:
            eot = _number("eot_threshold", values["eot_threshold"], *EOT_RANGE)
        if values.get("eager_eot_threshold") is not None:
            eager = _number("eager_eot_threshold", values["eager_eot_threshold"], *EAGER_RANGE)
        if values.get("eot_timeout_ms") is not None:
            timeout = _integer("eot_timeout_ms", values["eot_timeout_ms"], *TIMEOUT_RANGE)
        return Thresholds(eot, eager, timeout)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"eot_threshold": self.eot, "eager_eot_threshold": self.eager, "eot_timeout_ms": self.timeout_ms}


def silence_for(threshold: float) -> float:
    """Seconds of silence after which a neutral ending reaches `threshold`."""
    return max(0.0, (threshold - BASE_CONFIDENCE) / CONFIDENCE_PER_S)


def endpointing_ms(thresholds: Thresholds) -> int:
    """The session's endpointing silence for these thresholds."""
    return min(MAX_ENDPOINTING_MS, max(MIN_ENDPOINTING_MS, round(silence_for(thresholds.eot) * 1000)))


def speculative_ms(thresholds: Thresholds, server_ms: int | None) -> int | None:
    """The session's speculative-final silence: the eager threshold's, else the server's; None: off."""
    if thresholds.eager is not None:
        wanted = round(silence_for(thresholds.eager) * 1000)
    elif server_ms:
        wanted = server_ms
    else:
        return None
    return min(endpointing_ms(thresholds) - MIN_SPECULATIVE_MS, max(MIN_SPECULATIVE_MS, wanted))


@dataclass(frozen=True, slots=True)
class FluxOptions:
    """What the query asked of the stream besides the session's own parameters."""

    model: str = "flux-general-en"
    thresholds: Thresholds = Thresholds()
    tags: tuple[str, ...] = ()
    mip_opt_out: bool = False
    warnings: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """(code, description) of every parameter accepted but ignored, for Warning messages."""


def parse_flux_query(query: Iterable[tuple[str, str]]) -> tuple[ListenParams, FluxOptions]:
    """The session's parameters and Flux's own; a bad value raises ProtocolError (1008)."""
    pairs = list(query)
    values = {key: value for key, value in pairs}
    warnings: list[tuple[str, str]] = []
    thresholds = _query_thresholds(values)
    listen: list[tuple[str, str]] = [("interim_results", "true"), ("vad_events", "true")]
    listen.append(("endpointing", str(endpointing_ms(thresholds))))
    if "encoding" in values:
        encoding = values["encoding"].strip().lower()
        if encoding not in _ENCODINGS:
            raise _bad("encoding", "one of " + ", ".join(_ENCODINGS), values["encoding"])
        listen.append(("encoding", encoding))
    if "sample_rate" in values:
        listen.append(("sample_rate", values["sample_rate"]))
    hints = [value.strip() for key, value in pairs if key == "language_hint" and value.strip()]
    if hints and not _LANGUAGE.fullmatch(hints[0]):
        raise _bad("language_hint", "a language code such as en or en-US", hints[0])
    if hints:
        listen.append(("language", hints[0]))
    if len(hints) > 1:
        warnings.append(("UNSUPPORTED_PARAMETER", f"language_hint: only the first hint is used ({hints[0]})"))
    listen += [("keyterm", value) for key, value in pairs if key == "keyterm"]
    listen += [("redact", _REDACT.get(value.strip().lower(), value)) for key, value in pairs if key == "redact"]
    for name in ("archive", "callback", "redact_audio"):  # streamscribe's own, as on /v1/listen
        listen += [(key, value) for key, value in pairs if key == name]
    for name in _IGNORED:
        if name in values:
            warnings.append(("UNSUPPORTED_PARAMETER", f"{name} is accepted and ignored by this server"))
    params = parse_listen_params(listen)
    mip = values.get("mip_opt_out", "false").strip().lower()
    if mip not in ("true", "false"):
        raise _bad("mip_opt_out", "true or false", mip)
    options = FluxOptions(
        model=values.get("model", "flux-general-en").strip()[:100] or "flux-general-en",
        thresholds=thresholds,
        tags=tuple(value[:128] for key, value in pairs if key == "tag")[:20],
        mip_opt_out=mip == "true",
        warnings=tuple(warnings),
    )
    return replace(params, model=None, turn_notices=True), options


def _query_thresholds(values: dict[str, str]) -> Thresholds:
    try:
        return Thresholds().changed({key: values.get(key) for key in Thresholds().as_dict()})
    except ThresholdError as error:
        raise ProtocolError(CloseCode.POLICY_VIOLATION, str(error)) from None


def _bad(name: str, expected: str, value: str) -> ProtocolError:
    return ProtocolError(CloseCode.POLICY_VIOLATION, f"{name} must be {expected}, got {value!r}"[:120])


def _number(name: str, value: object, low: float, high: float) -> float:
    number = _parsed(value, float)
    if number is None or not low <= number <= high:
        raise ThresholdError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}"[:120])
    return number


def _integer(name: str, value: object, low: int, high: int) -> int:
    number = _parsed(value, float)
    if number is None or number != int(number) or not low <= number <= high:
        raise ThresholdError(f"{name} must be an integer from {low} to {high}, got {value!r}"[:120])
    return int(number)


def _parsed(value: object, kind: type[float]) -> float | None:
    """A JSON number or a numeric string (query values are strings); None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = kind(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
