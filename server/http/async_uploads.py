"""Asynchronous uploads over HTTP (Deepgram's pre-recorded callbacks).

`POST /v1/listen?callback=URL` is the synchronous upload (server/http/uploads.py: the same authentication,
limits and checks of the body) up to the transcription: instead, once the body is checked and stored, it
answers `{"request_id": ...}` and the job runs later (server/uploads/async_runner.py), its outcome POSTed
to URL. `GET /v1/listen/{request_id}` reports the job's status, and its result once done, for
`async_retention_s` after it finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.credentials import Identity, Scope
from server.http.intake import RawBody
from server.jobs.async_uploads import AsyncJob, IntakeUnavailable, QueueFull
from server.jobs.intake import checked_id
from server.policy import Denial, authenticate
from server.runtime.gateway import Gateway
from server.uploads.deepgram import DeepgramRequest, check_deepgram_body, replayable_query
from server.uploads.pipeline import UploadError
from server.webhook_security import check_callback_url

log = logging.getLogger("streamscribe.upload")


def callback_of(query: QueryParams, gateway: Gateway, request: DeepgramRequest) -> str | None:
    """The client's callback URL when the upload is to be answered asynchronously (None: answer with the
    transcript). UploadError (400) for a callback or `callback_method` this server will not use."""
    method = query.get("callback_method")
    if method is not None and method.strip().lower() != "post":
        words = (
            "callback_method=put is not supported: callbacks are POSTed (leave callback_method out, or post)"
            if method.strip().lower() == "put"
            else f"callback_method must be post, got {method[:40]!r}"
        )
        raise UploadError(400, "invalid_query_parameter", words, "callback_method")
    callback = request.params.callback
    if callback is None:
        return None
    if gateway.webhooks is None or gateway.async_jobs is None:
        message = "callback: this server does not run asynchronous uploads"
        raise UploadError(400, "invalid_query_parameter", message, "callback")
    try:
        check_callback_url(callback, allow_private=gateway.webhooks.config.allow_private_callbacks)
    except ValueError as error:
        raise UploadError(400, "invalid_query_parameter", f"callback: {error}", "callback") from None
    return callback


async def accept_async_upload(
    gateway: Gateway,
    body: RawBody,
    request: DeepgramRequest,
    query: Iterable[tuple[str, str]],
    request_id: str,
    callback: str,
    *,
    owner: str,
    tenant: str | None,
) -> dict[str, Any]:
    """Check the received `body` (the caller closes it) as the synchronous upload would, store it and queue
    its job; Deepgram's answer. The caller has admitted the request and checked `callback` (`callback_of`).
    UploadError: 400/413 for the file, 429 when the queue is full, 503 when the job cannot be stored."""
    store = gateway.async_jobs
    assert store is not None, "callback_of refuses callbacks without a store"
    await check_deepgram_body(gateway, body.file, request)
    now = time.time()
    job = AsyncJob(request_id, callback, replayable_query(query), owner, tenant, body.sha256, body.size, now, now)
    try:
        await store.accept(job, body.file)
    except QueueFull as error:
        raise UploadError(429, "queue_full", str(error)) from None
    except IntakeUnavailable as error:
        raise UploadError(503, "intake_unavailable", f"the upload cannot be queued now: {error}") from None
    log.info("asynchronous upload %s accepted (%d bytes)", request_id, body.size)
    return {"request_id": request_id}


def _not_found() -> JSONResponse:
    message = "no asynchronous upload with this request id (a finished one is kept for async_retention_s)"
    return JSONResponse({"err_code": "NOT_FOUND", "err_msg": message}, status_code=404)


def _may_see(gateway: Gateway, identity: Identity, job: AsyncJob) -> bool:
    """Anyone without keys; else an admin key or a key of the job's tenant."""
    return gateway.policy.keyring.open or Scope.ADMIN in identity.scopes or identity.tenant == job.tenant


async def async_upload_status(request: Request) -> Response:
    """GET /v1/listen/{request_id}: the job's status (server/jobs/async_uploads.py AsyncJob.status_answer).
    Authorised like the upload; another tenant's job is answered as if there were none."""
    gateway: Gateway = request.app.state.gateway
    identity = authenticate(request.headers, gateway.policy.keyring).admit(Scope.UPLOAD)
    if isinstance(identity, Denial):
        return identity.response()
    store = gateway.async_jobs
    try:
        request_id = checked_id(request.path_params["request_id"])
    except ValueError:
        return _not_found()
    if store is None:
        return _not_found()
    try:
        job = await store.lookup(request_id)
    except IntakeUnavailable as error:
        message = f"asynchronous uploads cannot be read now: {error}"
        return JSONResponse({"err_code": "UNAVAILABLE", "err_msg": message}, status_code=503)
    if job is None or not _may_see(gateway, identity, job):
        return _not_found()
    return JSONResponse(job.status_answer())
