"""Typed reads of one JSON object of a client event, refusing what OpenAI refuses:
unknown keys, wrong types and values out of range, each a `RealtimeError`
naming the parameter by its path (`session.audio.input.format.type`)."""

from __future__ import annotations

from collections.abc import Collection

from streaming.realtime.errors import (
    RealtimeError,
    invalid_type,
    invalid_value,
    out_of_range,
    string_too_long,
    unknown_parameter,
)


class Fields:
    """The object at `path`, whose keys must be among `known`."""

    def __init__(self, value: object, path: str, known: Collection[str]) -> None:
        if not isinstance(value, dict):
            raise invalid_type(path, dict, value)
        for key in value:
            if key not in known:
                raise unknown_parameter(f"{path}.{str(key)[:64]}")
        self._raw: dict[str, object] = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self._raw

    def get(self, key: str) -> object:
        """The raw value (None when absent), for a reader of its own."""
        return self._raw.get(key)

    def is_null(self, key: str) -> bool:
        return key in self._raw and self._raw[key] is None

    def name(self, key: str) -> str:
        return f"{self.path}.{key}"

    def string(self, key: str, limit: int) -> str | None:
        """A string, or None when absent or null."""
        value = self._raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_type(self.name(key), str, value)
        if len(value) > limit:
            raise string_too_long(self.name(key), len(value), limit)
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.string(key, 64)
        if value is not None and value not in options:
            raise invalid_value(self.name(key), value, options)
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._raw.get(key)
        if value is not None and not isinstance(value, bool):
            raise invalid_type(self.name(key), bool, value)
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self._raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_type(self.name(key), int, value)
        if not low <= value <= high:
            raise out_of_range(self.name(key), value, low, high)
        return value

    def number(self, key: str, low: float, high: float) -> float | None:
        value = self._raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_type(self.name(key), float, value)
        if not low <= value <= high:
            raise out_of_range(self.name(key), float(value), low, high)
        return float(value)

    def strings(self, key: str, *, limit: int, count: int) -> tuple[str, ...] | None:
        """A list of strings, or None when absent or null."""
        value = self._raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise invalid_type(self.name(key), list, value)
        if len(value) > count:
            raise RealtimeError("array_above_max_length", f"Invalid '{self.name(key)}': at most {count} items.")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise invalid_type(f"{self.name(key)}[{index}]", str, item)
            if len(item) > limit:
                raise string_too_long(f"{self.name(key)}[{index}]", len(item), limit)
        return tuple(value)

    def object(self, key: str, known: Collection[str]) -> Fields | None:
        """The nested object, or None when absent or null (`is_null` tells them apart)."""
        value = self._raw.get(key)
        return None if value is None else Fields(value, self.name(key), known)
