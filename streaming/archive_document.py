"""The document the archive keeps beside each recording's audio.

One builder for every source: live sessions (streaming.session), uploads
(server/uploads/pipeline.py) and recordings a restart cut off
(server/archive/spool.py), so that all documents have the same fields and the
same `transcript`: the non-empty transcripts of the results, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Source = Literal["live", "upload", "cut_off"]


def joined_transcript(results: Sequence[Mapping[str, Any]]) -> str:
    """The results' first alternatives' transcripts, empty ones left out."""
    texts = (result["channel"]["alternatives"][0]["transcript"] for result in results)
    return " ".join(text for text in texts if text)


def archive_document(
    *,
    request_id: str,
    created: str,
    source: Source,
    channels: int,
    duration_s: float | None,
    params: Mapping[str, Any],
    model_info: Mapping[str, Any] | None,
    results: Sequence[dict[str, Any]],
    errors: Sequence[str],
    close: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Everything the archive keeps about a recording besides its audio.

    `created`: ISO 8601; `duration_s`: None when unknown (a cut-off recording);
    `close`: how a live session ended (code, reason); `tenant`: whose recording it is
    (None when the server has no keys), set by the shell that knows the caller."""
    document: dict[str, Any] = {
        "request_id": request_id,
        "created": created,
        "source": source,
        "duration": None if duration_s is None else round(duration_s, 3),
        "channels": channels,
        "params": dict(params),
        "model_info": None if model_info is None else dict(model_info),
        "tenant": tenant,
    }
    if close is not None:
        document["close"] = dict(close)
    document["errors"] = list(errors)
    document["transcript"] = joined_transcript(results)
    document["results"] = list(results)
    return document
