"""Every Redis key name streamscribe uses, in one place."""

from __future__ import annotations

PREFIX = "streamscribe"

JOBS_FINAL = f"{PREFIX}:jobs:final"
JOBS_INTERIM = f"{PREFIX}:jobs:interim"
JOB_STREAMS = (JOBS_FINAL, JOBS_INTERIM)
"""Read in this order: finals always before interims."""
WORKER_GROUP = "workers"
WORKERS_PATTERN = f"{PREFIX}:worker:*"


def results_stream(gateway_id: str) -> str:
    """Where workers publish the results of one gateway's jobs."""
    return f"{PREFIX}:results:{gateway_id}"


def worker_heartbeat(worker_id: str) -> str:
    """Present (with a TTL) while the worker is alive and its model warm."""
    return f"{PREFIX}:worker:{worker_id}"


def latest_revision(session_id: str, channel: int) -> str:
    """The newest job revision of a stream: an interim below it is superseded."""
    return f"{PREFIX}:revision:{session_id}:{channel}"


def session_ended(session_id: str) -> str:
    """Present (with a TTL) once a session has ended: workers skip its jobs still queued."""
    return f"{PREFIX}:ended:{session_id}"


def live_call(call_id: str) -> str:
    """A hash of the streams live under a call id (stream id -> tenant), with a TTL its gateways refresh."""
    return f"{PREFIX}:call:{call_id}"


def call_events(call_id: str) -> str:
    """The pub/sub channel of a live call's messages."""
    return f"{PREFIX}:call:{call_id}:events"


ASYNC_GROUP = "gateways"
"""The consumer group of the gateways that run asynchronous uploads."""


def async_queue(location: str) -> str:
    """The stream of the asynchronous uploads whose bodies are at `location` (server/jobs/intake.py)."""
    return f"{PREFIX}:async:queue:{location}"


def async_job(request_id: str) -> str:
    """A hash, with a TTL: an asynchronous upload's record (`job`) and how its callback ended (`delivered`)."""
    return f"{PREFIX}:async:job:{request_id}"
