"""File uploads: POST /v1/listen (Deepgram pre-recorded; with `callback=`, asynchronous: the rest of that is
server/http/async_uploads.py), POST /v1/audio/transcriptions (OpenAI) and GET /v1/models. The HTTP shells
around server.uploads.pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from server.credentials import Identity, Scope
from server.http.async_uploads import accept_async_upload, callback_of
from server.http.intake import BodyLimits, file_of, receive_body, receive_form
from server.policy import OPT_OUT_REFUSED, Denial, admission, authenticate, opt_out_refused
from server.runtime.gateway import Gateway
from server.uploads.deepgram import flag, number, parse_deepgram_query, transcribe_deepgram
from server.uploads.formats import (
    RESPONSE_FORMATS,
    openai_json,
    openai_verbose_json,
    render_srt,
    render_text,
    render_vtt,
)
from server.uploads.pipeline import (
    Prepared,
    SegmentTranscript,
    Transcript,
    UploadError,
    UploadOptions,
    prepare,
    transcribe_upload,
)
from streaming.protocol import ProtocolError, parse_listen_params

log = logging.getLogger("streamscribe.upload")
OPENAI_FIELDS = frozenset(
    {
        "file",
        "model",
        "language",
        "prompt",
        "response_format",
        "temperature",
        "timestamp_granularities[]",
        "timestamp_granularities",
        "stream",
        "include[]",
        "include",
        "chunking_strategy",
        "keywords[]",
        "keywords",
        "languages[]",
        "known_speaker_names[]",
        "known_speaker_references[]",
    }
)


def caller_of(request: Request, gateway: Gateway) -> Identity | UploadError:
    """Who may upload here, or the error (401/403) to answer."""
    caller = authenticate(request.headers, gateway.policy.keyring)
    identity = caller.admit(Scope.UPLOAD)
    if isinstance(identity, Denial):
        return UploadError(identity.status, identity.code, identity.message)
    return identity


def body_limits(gateway: Gateway) -> BodyLimits:
    uploads = gateway.uploads
    return BodyLimits(uploads.max_bytes, uploads.read_timeout_s, uploads.min_bytes_per_s)


def ownership(gateway: Gateway, identity: Identity) -> dict[str, Any]:
    """Whose upload it is: the key (for its limits) and the tenant (whose recording)."""
    return {"owner": identity.name, "tenant": None if gateway.policy.keyring.open else identity.tenant}


def _openai_auth_error(error: UploadError) -> UploadError:
    """OpenAI's own words for a bad key; ours for a missing scope."""
    return UploadError(401, "invalid_api_key", "Incorrect API key provided") if error.status == 401 else error


async def admit(gateway: Gateway, identity: Identity) -> None:
    """Refuse when the server cannot take the upload now (it never waits for a worker to appear)."""
    refusal = await admission(gateway, identity, real_time=False)
    if refusal is not None:
        raise UploadError(refusal.http_status, refusal.reason.value, refusal.message)


# -- Deepgram: POST /v1/listen ------------------------------------------------------------


def deepgram_error(error: UploadError, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"err_code": error.code.upper(), "err_msg": error.message, "request_id": request_id}, status_code=error.status
    )


async def deepgram_listen(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    request_id = str(uuid.uuid4())
    identity = caller_of(request, gateway)
    if isinstance(identity, UploadError):
        return deepgram_error(identity, request_id)
    try:
        return JSONResponse(await _deepgram(request, gateway, request_id, identity))
    except UploadError as error:
        return deepgram_error(error, request_id)
    except Exception:
        log.exception("upload %s failed", request_id)
        gateway.metrics.errors.labels("upload").inc()
        return deepgram_error(UploadError(500, "internal_error", "internal server error"), request_id)


async def _deepgram(request: Request, gateway: Gateway, request_id: str, identity: Identity) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        raise UploadError(
            400,
            "unsupported_content_type",
            "POST /v1/listen takes the audio as the raw request body, not multipart/form-data "
            "(for a multipart upload use POST /v1/audio/transcriptions)",
        )
    if content_type == "application/json":
        raise UploadError(
            400, "unsupported_content_type", "transcribing a URL is not supported: send the audio bytes as the body"
        )
    query = request.query_params.multi_items()
    parsed = parse_deepgram_query(query)
    if opt_out_refused(gateway, parsed.params.archive):
        raise UploadError(400, "invalid_query_parameter", OPT_OUT_REFUSED, "archive")
    callback = callback_of(request.query_params, gateway, parsed)  # None: answer with the transcript
    await admit(gateway, identity)
    with gateway.receiving_upload(identity.name):
        body = await receive_body(request, body_limits(gateway))
    try:
        if body.size == 0:
            raise UploadError(400, "empty_body", "the request body is empty: send the audio file as the body")
        owner = ownership(gateway, identity)
        if callback is not None:
            return await accept_async_upload(gateway, body, parsed, query, request_id, callback, **owner)
        return await transcribe_deepgram(gateway, body.file, parsed, request_id=request_id, sha256=body.sha256, **owner)
    finally:
        body.close()


# -- OpenAI: POST /v1/audio/transcriptions -------------------------------------------------


def openai_error(error: UploadError) -> JSONResponse:
    kind = "invalid_request_error" if error.status < 500 else "server_error"
    body = {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}
    return JSONResponse(body, status_code=error.status)


async def openai_transcriptions(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    identity = caller_of(request, gateway)
    if isinstance(identity, UploadError):
        return openai_error(_openai_auth_error(identity))
    try:
        return await _openai(request, gateway, identity)
    except UploadError as error:
        return openai_error(error)
    except Exception:
        log.exception("upload failed")
        gateway.metrics.errors.labels("upload").inc()
        return openai_error(UploadError(500, "internal_error", "internal server error"))


def _openai_fields(form: Any) -> dict[str, Any]:
    """Validate the form; returns the single-valued fields plus 'timestamp_granularities' (a list)."""
    keys = list(form.keys())
    unknown = sorted({key for key in keys if key not in OPENAI_FIELDS})
    if "file" not in form:
        hint = f"; unrecognized field(s): {', '.join(unknown)}" if unknown else ""
        raise UploadError(
            400,
            "missing_required_parameter",
            f"Missing required parameter: 'file' (the audio, as the multipart form field 'file'){hint}",
            "file",
        )
    if unknown:
        raise UploadError(
            400, "unknown_parameter", f"Unrecognized request argument supplied: {', '.join(unknown)}", unknown[0]
        )
    if isinstance(form["file"], str) or len(form.getlist("file")) != 1:
        raise UploadError(400, "invalid_value", "'file' must be exactly one file upload, not a text field", "file")
    fields: dict[str, Any] = {}
    for key in ("model", "language", "prompt", "response_format", "temperature", "stream"):
        value = form.get(key)
        if value is not None and not isinstance(value, str):
            raise UploadError(400, "invalid_value", f"'{key}' must be a text field, not a file", key)
        fields[key] = value
    if not (fields["model"] or "").strip():
        raise UploadError(
            400, "missing_required_parameter", "you must provide a model parameter (e.g. whisper-1)", "model"
        )
    fields["timestamp_granularities"] = form.getlist("timestamp_granularities[]") + form.getlist(
        "timestamp_granularities"
    )
    fields["keywords"] = [k for k in form.getlist("keywords[]") + form.getlist("keywords") if isinstance(k, str)]
    return fields


async def _openai(request: Request, gateway: Gateway, identity: Identity) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UploadError(
            400,
            "invalid_content_type",
            f"expected a multipart/form-data body with the audio in the field 'file', got {content_type or 'none'}",
        )
    await admit(gateway, identity)
    with gateway.receiving_upload(identity.name):
        form = await receive_form(request, body_limits(gateway))
    try:
        fields = _openai_fields(form)
        response_format = fields["response_format"] or "json"
        if response_format not in RESPONSE_FORMATS:
            raise UploadError(
                400,
                "invalid_value",
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {response_format[:40]!r}",
                "response_format",
            )
        if fields["temperature"] is not None:
            number("temperature", fields["temperature"], 0.0, 1.0)
        stream = flag("stream", fields["stream"]) if fields["stream"] is not None else False
        if stream and response_format not in ("json", "text"):
            raise UploadError(
                400, "unsupported_value", "stream=true works with response_format json or text", "response_format"
            )
        granularities = fields["timestamp_granularities"]
        if any(g not in ("word", "segment") for g in granularities):
            message = "timestamp_granularities[] takes 'word' and/or 'segment'"
            raise UploadError(400, "invalid_value", message, "timestamp_granularities")
        language = _language(fields["language"])
        upload = form["file"]
        name = getattr(upload, "filename", None) or "file"
        prepared = await asyncio.to_thread(
            prepare, file_of(upload), f"the uploaded file {name[:100]!r}", max_seconds=gateway.uploads.max_seconds
        )
        options = UploadOptions(
            language=language,
            prompt=(fields["prompt"] or None),
            hotwords=tuple(k.strip()[:100] for k in fields["keywords"][:50] if k.strip()),
            model=fields["model"].strip()[:100],
            endpoint="openai",
            filename=name[:200],
            **ownership(gateway, identity),
        )
    except BaseException:
        await form.close()
        raise
    if stream:
        events = _sse(gateway, prepared, options, form.close)
        return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
    try:
        transcript = await transcribe_upload(gateway, prepared, options)
    finally:
        prepared.close()
        await form.close()
    return _render(transcript, response_format, granularities)


def _language(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    try:
        return parse_listen_params([("language", value.strip())]).language
    except ProtocolError as error:
        raise UploadError(400, "invalid_value", error.reason, "language") from None


def _render(transcript: Transcript, response_format: str, granularities: list[str]) -> Response:
    if response_format == "text":
        return PlainTextResponse(render_text(transcript))
    if response_format == "srt":
        return PlainTextResponse(render_srt(transcript.words()))
    if response_format == "vtt":
        return PlainTextResponse(render_vtt(transcript.words()), media_type="text/vtt")
    if response_format == "verbose_json":
        segments = not granularities or "segment" in granularities
        return JSONResponse(openai_verbose_json(transcript, segments=segments, words="word" in granularities))
    return JSONResponse(openai_json(transcript))


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def _sse(
    gateway: Gateway, prepared: Prepared, options: UploadOptions, cleanup: Callable[[], Any]
) -> AsyncIterator[str]:
    """`transcript.text.delta` for each segment as soon as it is final, then `transcript.text.done`."""
    segments: asyncio.Queue[SegmentTranscript | None] = asyncio.Queue()

    async def on_segment(segment: SegmentTranscript) -> None:
        await segments.put(segment)

    task = asyncio.create_task(transcribe_upload(gateway, prepared, options, on_segment))
    task.add_done_callback(lambda _: segments.put_nowait(None))
    try:
        sent = False
        while (segment := await segments.get()) is not None:
            yield _event({"type": "transcript.text.delta", "delta": (" " if sent else "") + segment.text})
            sent = True
        try:
            transcript = task.result()
        except UploadError as error:
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            yield _event({"type": "error", "error": {"message": error.message, "type": kind, "code": error.code}})
            return
        yield _event({"type": "transcript.text.done", "text": transcript.text()})
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
        prepared.close()
        await cleanup()


# -- GET /v1/models ----------------------------------------------------------------------------


async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    if not authenticate(request.headers, gateway.policy.keyring).allowed:
        return openai_error(_openai_auth_error(UploadError(401, "invalid_auth", "")))
    model = gateway.model_info
    entry = {"id": model.name, "object": "model", "created": 0, "owned_by": "streamscribe"}
    return JSONResponse({"object": "list", "data": [entry]})
