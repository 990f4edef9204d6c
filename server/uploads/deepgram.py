"""The Deepgram pre-recorded request (`POST /v1/listen`): its query parameters and its transcription, shared
by the synchronous endpoint (server/http/uploads.py) and asynchronous jobs (server/uploads/async_runner.py),
so that a callback carries exactly what the synchronous answer would have."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from server.runtime.gateway import Gateway
from server.uploads.formats import deepgram_response
from server.uploads.pipeline import UploadError, UploadOptions, prepare, transcribe_upload
from streaming.protocol import ListenParams, ProtocolError, parse_bool, parse_listen_params

BODY_NAME = "the request body"
REPLAYED_PARAMETERS = frozenset(
    {"language", "keyterm", "keywords", "model", "multichannel", "archive", "redact", "redact_audio"}
    | {"utterances", "utt_split"}
)
"""The query parameters an upload's transcript depends on: what an asynchronous job keeps to run it later
(not the callback, nor anything else a client sent, such as a token)."""


def flag(name: str, value: str) -> bool:
    """A true/false parameter as in the live protocol, and an empty value (`?utterances=`) is false."""
    parsed = parse_bool(value) if value.strip() else False
    if parsed is not None:
        return parsed
    raise UploadError(400, "invalid_value", f"{name} must be true or false, got {value[:40]!r}", name)


def number(name: str, value: str, low: float, high: float) -> float:
    """A number parameter from `low` to `high`, else UploadError (400)."""
    try:
        parsed = float(value)
    except ValueError:
        parsed = math.nan
    if not low <= parsed <= high:
        message = f"{name} must be a number from {low:g} to {high:g}, got {value[:40]!r}"
        raise UploadError(400, "invalid_value", message, name)
    return parsed


@dataclass(frozen=True, slots=True)
class DeepgramRequest:
    params: ListenParams
    utterances: bool = False
    utt_split: float = 0.8


def parse_deepgram_query(items: Iterable[tuple[str, str]]) -> DeepgramRequest:
    """The query of `POST /v1/listen`; UploadError (400) saying what is wrong."""
    items = list(items)
    try:
        params = parse_listen_params(items)
    except ProtocolError as error:
        raise UploadError(400, "invalid_query_parameter", error.reason) from None
    query = dict(items)
    utterances = flag("utterances", query["utterances"]) if "utterances" in query else False
    utt_split = number("utt_split", query.get("utt_split", "0.8"), 0.05, 60.0)
    return DeepgramRequest(params, utterances, utt_split)


def replayable_query(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The items of a query (already parsed by `parse_deepgram_query`) to keep with an asynchronous job."""
    return tuple((key, value) for key, value in items if key in REPLAYED_PARAMETERS)


async def check_deepgram_body(gateway: Gateway, file: BinaryIO, request: DeepgramRequest) -> None:
    """What is checked before an asynchronous upload is accepted: the sniffed type, that FFmpeg opens it, and
    the duration its header declares (UploadError: 400 or 413, as the synchronous upload would answer)."""
    prepared = await asyncio.to_thread(
        prepare, file, BODY_NAME, multichannel=request.params.multichannel, max_seconds=gateway.uploads.max_seconds
    )
    prepared.close()


async def transcribe_deepgram(
    gateway: Gateway,
    file: BinaryIO,
    request: DeepgramRequest,
    *,
    request_id: str,
    sha256: str,
    owner: str,
    tenant: str | None,
) -> dict[str, Any]:
    """The Deepgram response for the upload in `file` (read from its start; the caller closes it), run as an
    upload of the key named `owner` (counted in its limits) and archived as `tenant`'s under `request_id`.
    Raises UploadError saying what went wrong."""
    params = request.params
    prepared = await asyncio.to_thread(
        prepare, file, BODY_NAME, multichannel=params.multichannel, max_seconds=gateway.uploads.max_seconds
    )
    options = UploadOptions(
        language=params.language,
        hotwords=params.keyterms,
        model=params.model,
        multichannel=params.multichannel,
        endpoint="deepgram",
        sha256=sha256,
        session_id=request_id,
        archive=params.archive,
        redact=params.redact,
        redact_audio=params.redact_audio,
        owner=owner,
        tenant=tenant,
    )
    try:
        transcript = await transcribe_upload(gateway, prepared, options)
    finally:
        prepared.close()
    return deepgram_response(transcript, utterances=request.utterances, utt_split=request.utt_split)
