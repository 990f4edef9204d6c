"""Jobs and results as Redis stream entries (distributed mode): what a
gateway writes and a worker reads, and back."""

from __future__ import annotations

import json
import time

import numpy as np

from streaming.jobs import Job, JobKind, JobResult, TranscribeOptions, Word

Fields = dict[bytes, bytes]


def encode_job(job: Job) -> dict[str, bytes]:
    meta = {
        "session_id": job.session_id,
        "channel": job.channel,
        "seq": job.seq,
        "kind": job.kind.value,
        "revision": job.revision,
        "start": job.start,
        "reply_to": job.reply_to,
        "live": job.live,
        "options": {
            "language": job.options.language,
            "prompt": job.options.prompt,
            "hotwords": list(job.options.hotwords),
            "model": job.options.model,
        },
        "enqueued_at": time.time(),
    }
    return {"meta": json.dumps(meta).encode(), "audio": job.audio.astype("<i2").tobytes()}


def decode_job(fields: Fields) -> tuple[Job, float]:
    meta = json.loads(fields[b"meta"])
    options = meta["options"]
    job = Job(
        session_id=meta["session_id"],
        channel=meta["channel"],
        seq=meta["seq"],
        kind=JobKind(meta["kind"]),
        revision=meta["revision"],
        start=meta["start"],
        audio=np.frombuffer(fields[b"audio"], dtype="<i2").astype(np.int16),
        options=TranscribeOptions(
            language=options["language"],
            prompt=options["prompt"],
            hotwords=tuple(options["hotwords"]),
            model=options["model"],
        ),
        reply_to=meta["reply_to"],
        live=bool(meta.get("live", False)),  # absent from an older gateway's jobs
    )
    return job, float(meta["enqueued_at"])


def encode_result(result: JobResult) -> dict[str, bytes]:
    body = {
        "session_id": result.session_id,
        "channel": result.channel,
        "seq": result.seq,
        "kind": result.kind.value,
        "revision": result.revision,
        "words": [[w.text, w.start, w.end, w.confidence] for w in result.words],
        "error": result.error,
        "withheld": result.withheld,
        "hurried": result.hurried,
        "queue_seconds": result.queue_seconds,
        "transcribe_seconds": result.transcribe_seconds,
        "published_at": time.time(),
    }
    return {"result": json.dumps(body).encode()}


def decode_result(fields: Fields) -> tuple[JobResult, float]:
    body = json.loads(fields[b"result"])
    result = JobResult(
        session_id=body["session_id"],
        channel=body["channel"],
        seq=body["seq"],
        kind=JobKind(body["kind"]),
        revision=body["revision"],
        words=tuple(Word(t, s, e, c) for t, s, e, c in body["words"]),
        error=body["error"],
        withheld=bool(body.get("withheld", False)),  # absent from an older worker's results
        hurried=bool(body.get("hurried", False)),
        queue_seconds=body["queue_seconds"],
        transcribe_seconds=body["transcribe_seconds"],
        published_at=float(body["published_at"]),
    )
    return result, result.published_at


# -- gateway side ---------------------------------------------------------------
