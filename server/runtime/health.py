"""Health signals for containers: the worker's ready file and `streamscribe healthcheck`.

A worker has no HTTP port, so it says it is warm with a file: written once the
model is loaded and warmed, touched while the worker runs, removed when it stops.
A stale file (the process hung or died without cleaning up) counts as not ready.
The gateway is checked over HTTP (`/healthz`, or `/readyz` with ``ready=True``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.request
from pathlib import Path

READY_FILE_TOUCH_S = 5.0
READY_FILE_MAX_AGE_S = 30.0
"""A ready file older than this is stale: six missed touches."""


async def keep_ready_file(path: Path, touch_every_s: float = READY_FILE_TOUCH_S) -> None:
    """Write `path`, touch it every `touch_every_s` until cancelled, then remove it."""
    # A few bytes on a local disk: writing from the event loop costs less than a thread hop.
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        while True:
            path.write_text(f"{time.time():.0f}\n")  # noqa: ASYNC240
            await asyncio.sleep(touch_every_s)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # noqa: ASYNC240


def worker_problem(path: Path | None, max_age_s: float = READY_FILE_MAX_AGE_S) -> str | None:
    """None when the worker's ready file says it is warm; else why not, in words."""
    if path is None:
        return "no ready file configured (STREAMSCRIBE_READY_FILE)"
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"not ready: {path} does not exist (model still loading, or the worker stopped)"
    if age > max_age_s:
        return f"stale: {path} was last touched {age:.0f} s ago (more than {max_age_s:.0f} s)"
    return None


def gateway_problem(host: str, port: int, ready: bool = False, timeout_s: float = 3.0) -> str | None:
    """None when the gateway listening on host:port answers /healthz (or /readyz) with 200; else why not."""
    from server.addresses import local_url

    url = f"{local_url(host, port)}/{'readyz' if ready else 'healthz'}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}: {error.read(200).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} did not answer: {getattr(error, 'reason', error)}"
    return None if status == 200 else f"{url} answered {status}"
