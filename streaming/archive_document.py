"""The document the archive keeps beside each recording's audio.

One builder for every source: live sessions (streaming.session), uploads
(server/uploads/pipeline.py) and recordings a restart cut off
(server/archive/spool.py), so that all documents have the same fields and the
same `transcript`: the non-empty transcripts of the results, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Source = Literal["live", "upload", "cut_off", "twilio"]


def joined_transcript(results: Sequence[Mapping[str, Any]]) -> str:
    """The results' first alternatives' transcripts, empty ones left out."""
    texts = (result["channel"]["alternatives"][0]["transcript"] for result in results)
    return " ".join(text for text in texts if text)


def dialogue(results: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The non-empty finals of every channel in the order they were said (by
    start time): a multichannel recording read as a conversation. `names`: what
    to call each channel (Twilio's tracks); without, "channel N"."""
    turns = []
    for result in results:
        text = result["channel"]["alternatives"][0]["transcript"]
        if not text:
            continue
        channel = result["channel_index"][0]
        speaker = names[channel] if names is not None and channel < len(names) else f"channel {channel}"
        end = round(result["start"] + result["duration"], 3)
        turns.append({"channel": channel, "speaker": speaker, "start": result["start"], "end": end, "text": text})
    return sorted(turns, key=lambda turn: (turn["start"], turn["channel"]))


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
    redactions: Sequence[Mapping[str, Any]] = (),
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
    if redactions:
        # Where words were redacted (channel, start, end, label): never what they were.
        document["redactions"] = [dict(redaction) for redaction in redactions]
    document["transcript"] = joined_transcript(results)
    if len({result.get("channel_index", (0,))[0] for result in results}) > 1:
        document["dialogue"] = dialogue(results)
    document["results"] = list(results)
    return document
