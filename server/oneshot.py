"""`streamscribe transcribe FILE`: the upload pipeline in-process, without a server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from server.app import embedded_runtime
from server.config import Settings
from server.formats import deepgram_response, openai_verbose_json, render_srt, render_text, render_vtt
from server.pipeline import Transcript, UploadOptions, prepare, transcribe_upload

FORMATS = ("text", "json", "verbose_json", "srt", "vtt")


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "srt":
        return render_srt(transcript.words())
    if fmt == "vtt":
        return render_vtt(transcript.words())
    if fmt == "json":
        return json.dumps(deepgram_response(transcript, utterances=True), ensure_ascii=False, indent=1) + "\n"
    if fmt == "verbose_json":
        return json.dumps(openai_verbose_json(transcript, words=True), ensure_ascii=False, indent=1) + "\n"
    if fmt == "text" and transcript.output_channels > 1:
        return "".join(f"[channel {c}] {transcript.text(c)}\n" for c in range(transcript.output_channels))
    return render_text(transcript)


async def transcribe_path(settings: Settings, path: Path, options: UploadOptions) -> Transcript:
    """Start the embedded runtime (model, workers, archive), run one file through it, stop it.
    Raises UploadError for a file that is not usable audio, OSError for one that cannot be read."""
    runtime = embedded_runtime(settings)
    with path.open("rb") as file:
        prepared = await asyncio.to_thread(prepare, file, path.name, multichannel=options.multichannel)
        try:
            await runtime.startup()
            try:
                return await transcribe_upload(runtime.gateway, prepared, options)
            finally:
                await runtime.shutdown()
        finally:
            prepared.close()
