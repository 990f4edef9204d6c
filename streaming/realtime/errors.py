"""The `error` of an OpenAI Realtime session: what the client sent wrong, worded as OpenAI words it."""

from __future__ import annotations

from typing import Any


class RealtimeError(Exception):
    """A client event refused: answered with an `error` server event; the session goes on."""

    def __init__(
        self, code: str, message: str, param: str | None = None, *, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.kind = kind
        """OpenAI's error `type`: invalid_request_error (the client's mistake) or server_error."""
        self.code = code
        self.message = message
        self.param = param

    def body(self, event_id: str | None) -> dict[str, Any]:
        """The `error` object of the `error` event; `event_id`: the client event it answers."""
        return {
            "type": self.kind,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": event_id,
        }


_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _KINDS.items() if type(value) is kind), type(value).__name__)


def invalid_type(param: str, expected: type, value: object) -> RealtimeError:
    return RealtimeError(
        "invalid_type",
        f"Invalid type for '{param}': expected {_KINDS[expected]}, but got {_kind_of(value)} instead.",
        param,
    )


def invalid_value(param: str, value: object, supported: tuple[str, ...]) -> RealtimeError:
    listed = ", ".join(f"'{option}'" for option in supported[:-1]) + f", and '{supported[-1]}'"
    if len(supported) == 1:
        listed = f"'{supported[0]}'"
    shown = str(value)[:64]
    return RealtimeError("invalid_value", f"Invalid value: '{shown}'. Supported values are: {listed}.", param)


def out_of_range(param: str, value: float, low: float, high: float) -> RealtimeError:
    number = "integer" if isinstance(value, int) else "decimal"
    if value < low:
        return RealtimeError(
            f"{number}_below_min_value",
            f"Invalid '{param}': {number} below minimum value. Expected a value >= {low:g}, but got {value:g} instead.",
            param,
        )
    return RealtimeError(
        f"{number}_above_max_value",
        f"Invalid '{param}': {number} above maximum value. Expected a value <= {high:g}, but got {value:g} instead.",
        param,
    )


def unknown_parameter(param: str) -> RealtimeError:
    return RealtimeError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def missing_parameter(param: str) -> RealtimeError:
    return RealtimeError("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


def string_too_long(param: str, length: int, limit: int) -> RealtimeError:
    return RealtimeError(
        "string_above_max_length",
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param,
    )
