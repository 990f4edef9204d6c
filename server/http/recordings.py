"""GET /v1/recordings/{session_id}: an archived session's transcript JSON and where to fetch its audio.

Authorised like /v1/listen (`Authorization: Token KEY` or `Bearer KEY` when API
keys are set). The answer is the stored transcript document with an `audio`
object added: `url` is a presigned GET URL on S3, or
`/v1/recordings/{id}/audio` for the local archive, which streams the WAV (on
S3 that path redirects to a fresh presigned URL). A recording still waiting in
the spool answers 202 with its transcript and no audio URL yet.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from server.archive.base import ArchiveUnavailable, StoredRecording, valid_session_id
from server.credentials import Scope
from server.policy import Denial, authenticate
from server.runtime.gateway import Gateway


async def _find(request: Request) -> StoredRecording | Response:
    gateway: Gateway = request.app.state.gateway
    caller = authenticate(request.headers, gateway.policy.keyring)
    identity = caller.admit(Scope.RECORDINGS_READ)
    if isinstance(identity, Denial):
        return identity.response()
    session_id = request.path_params["session_id"]
    if not valid_session_id(session_id):
        return JSONResponse({"err_code": "NOT_FOUND", "err_msg": "no such recording"}, status_code=404)
    try:
        found = await gateway.archive.lookup(session_id)
    except ArchiveUnavailable as error:
        return JSONResponse(
            {"err_code": "ARCHIVE_UNAVAILABLE", "err_msg": f"the archive cannot be read now: {error}"},
            status_code=503,
        )
    # Another tenant's recording is answered as if there were none: ids are not to be probed.
    if found is None or not (gateway.policy.keyring.open or identity.may_read(found.document.get("tenant"))):
        return JSONResponse({"err_code": "NOT_FOUND", "err_msg": f"no recording {session_id}"}, status_code=404)
    return found


async def get_recording(request: Request) -> Response:
    found = await _find(request)
    if isinstance(found, Response):
        return found
    if found.pending:
        return JSONResponse({**found.document, "audio": {"url": None, "pending": True}}, status_code=202)
    url = found.audio_url or str(request.url_for("recording_audio", session_id=request.path_params["session_id"]))
    audio: dict[str, object] = {"url": url, "content_type": "audio/wav", "pending": False}
    if found.audio_url:
        audio["expires_in"] = request.app.state.gateway.policy.recording_url_expiry_s
    return JSONResponse({**found.document, "audio": audio})


async def get_recording_audio(request: Request) -> Response:
    found = await _find(request)
    if isinstance(found, Response):
        return found
    if found.audio_url:
        return RedirectResponse(found.audio_url, status_code=307)
    if found.audio_path is None:
        return JSONResponse({"err_code": "NOT_FOUND", "err_msg": "the recording has no audio yet"}, status_code=404)
    return FileResponse(found.audio_path, media_type="audio/wav", filename=found.audio_path.name)
