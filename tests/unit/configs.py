"""Core configurations for unit tests: the server's defaults (server/config.py,
`Settings`, read without the environment), with the features the server turns
on left off, so that each test switches on exactly what it exercises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from server.config import Settings
from streaming.config import SessionConfig
from streaming.protocol import parse_listen_params
from streaming.segmenter import SegmenterConfig

PLAIN = replace(
    Settings.model_construct().session_config(), speculative_ms=None, interim_pause_ms=None, interim_pacing=None
)
"""The server's session defaults without speculative finals, pause interims or load-aware pacing."""


def session_config(**changes: Any) -> SessionConfig:
    return replace(PLAIN, **changes)


def segmenter_config(**changes: Any) -> SegmenterConfig:
    """The segmenter of a default session, with `changes`."""
    return replace(PLAIN.segmenter_config(parse_listen_params([])), **changes)
