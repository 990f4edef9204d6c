"""The server events of an OpenAI Realtime transcription session, as plain dicts
(without `event_id`: the session numbers them as they go out).

`ga`: the GA spelling (`conversation.item.added` and `.done`); otherwise the
beta one (`conversation.item.created`)."""

from __future__ import annotations

from typing import Any

TRANSCRIPTION = "conversation.item.input_audio_transcription"


def _item(item_id: str, transcript: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "object": "realtime.item",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def speech_started(item_id: str, audio_start_ms: int) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": item_id}


def speech_stopped(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": item_id}


def committed(item_id: str, previous_item_id: str | None, *, ga: bool) -> list[dict[str, Any]]:
    """`input_audio_buffer.committed` and the user item it makes."""
    item_event = "conversation.item.added" if ga else "conversation.item.created"
    return [
        {"type": "input_audio_buffer.committed", "previous_item_id": previous_item_id, "item_id": item_id},
        {"type": item_event, "previous_item_id": previous_item_id, "item": _item(item_id, None)},
    ]


def delta(item_id: str, text: str) -> dict[str, Any]:
    return {"type": f"{TRANSCRIPTION}.delta", "item_id": item_id, "content_index": 0, "delta": text}


def completed(item_id: str, previous_item_id: str | None, transcript: str, seconds: float, *, ga: bool) -> list[Any]:
    """The item's transcript, then (GA) the item done."""
    events: list[dict[str, Any]] = [
        {
            "type": f"{TRANSCRIPTION}.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": transcript,
            "usage": {"type": "duration", "seconds": round(seconds, 3)},
        }
    ]
    if ga:
        events.append({"type": "conversation.item.done", "previous_item_id": previous_item_id,
                       "item": _item(item_id, transcript)})  # fmt: skip
    return events


def failed(item_id: str, previous_item_id: str | None, message: str, *, ga: bool) -> list[dict[str, Any]]:
    error = {"type": "server_error", "code": "transcription_failed", "message": message, "param": None}
    events: list[dict[str, Any]] = [
        {"type": f"{TRANSCRIPTION}.failed", "item_id": item_id, "content_index": 0, "error": error}
    ]
    if ga:
        events.append({"type": "conversation.item.done", "previous_item_id": previous_item_id,
                       "item": _item(item_id, None)})  # fmt: skip
    return events


def cleared() -> dict[str, Any]:
    return {"type": "input_audio_buffer.cleared"}


def error(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "error", "error": body}
