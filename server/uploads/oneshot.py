"""`streamscribe transcribe FILE`: the upload pipeline in-process, without a server;
and the check of a file named on the command line that `transcribe` and `stream` share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.config import Settings
from server.uploads.formats import deepgram_response, openai_verbose_json, render_srt, render_text, render_vtt
from server.uploads.pipeline import (
    SUPPORTED,
    Prepared,
    Transcript,
    UploadError,
    UploadOptions,
    prepare,
    transcribe_upload,
)
from server.uploads.sniff import SNIFF_BYTES, sniff


class FileProblem(Exception):
    """A file named on the command line that is missing, unreadable or not audio; the message says which."""


@contextmanager
def open_audio(path: Path, *, multichannel: bool = False) -> Iterator[Prepared]:
    """Open, sniff and open for decoding, as the upload endpoints do (server.uploads.pipeline.prepare),
    so that the CLI refuses what they refuse, with the same words but for a file rather than an upload.
    Raises FileProblem. Cheap: run it before loading a model or connecting."""
    try:
        file = path.open("rb")
    except FileNotFoundError as error:
        raise FileProblem(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise FileProblem(f"{path} is a directory, not an audio file") from error
    except OSError as error:
        raise FileProblem(f"cannot read {path}: {error.strerror or error}") from error
    with file:
        try:
            head = file.read(SNIFF_BYTES)
            sniffed = sniff(head)
            # prepare's own test (Sniffed.acceptable) and words, with advice for a file rather than an upload.
            if head and not sniffed.acceptable:
                advice = f"give an audio or video file ({SUPPORTED}, ...)"
                raise FileProblem(f"{path} is {sniffed.summary()}, not audio; {advice}")
            prepared = prepare(file, str(path), multichannel=multichannel)
        except UploadError as error:
            raise FileProblem(error.message) from error
        except OSError as error:
            raise FileProblem(f"cannot read {path}: {error.strerror or error}") from error
        try:
            yield prepared
        finally:
            prepared.close()


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


async def transcribe_prepared(settings: Settings, prepared: Prepared, options: UploadOptions) -> Transcript:
    """Start the embedded runtime (model, workers, archive), run one opened file through it, stop it.
    Raises UploadError for audio that fails while decoding, OSError for a file that cannot be read."""
    from server.runtime.embedded import (
        embedded_runtime,  # the model and workers: only once the file is known to be audio
    )

    runtime = embedded_runtime(settings)
    await runtime.startup()
    try:
        return await transcribe_upload(runtime.gateway, prepared, options)
    finally:
        await runtime.shutdown()
