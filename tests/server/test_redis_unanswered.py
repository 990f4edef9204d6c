"""RedisGatewayQueue keeps the final jobs it has not seen answered, to send
them again after a Redis outage; an abandoned speculative final shares its
segment's result key, and must neither be kept nor clear the real final."""

from __future__ import annotations

from typing import Any

import numpy as np

from server.jobs.redis_codec import encode_result
from server.jobs.redis_streams import RedisGatewayQueue
from streaming.jobs import Job, JobKind, JobResult


def final(revision: int, seq: int = 1) -> Job:
    return Job("s", 0, seq, JobKind.FINAL, revision, 0.0, np.zeros(160, dtype=np.int16))


def as_read(result: JobResult) -> dict[bytes, bytes]:
    """The result's fields as XREAD returns them."""
    return {key.encode(): value for key, value in encode_result(result).items()}


class FakePipeline:
    def __init__(self, sent: list[Any]) -> None:
        self.sent = sent

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def set(self, *args: Any, **kwargs: Any) -> None:
        return None

    def xadd(self, stream: str, fields: Any) -> None:
        self.sent.append(fields)

    async def execute(self) -> list[Any]:
        return []


class FakeRedis:
    def __init__(self, results: list[JobResult]) -> None:
        self.sent: list[Any] = []
        self.entries = [(f"{i}-0".encode(), as_read(r)) for i, r in enumerate(results, 1)]

    def pipeline(self, transaction: bool) -> FakePipeline:
        return FakePipeline(self.sent)

    async def xread(self, streams: Any, count: int, block: int) -> Any:
        entries, self.entries = self.entries, []
        return [[b"results", entries]] if entries else []

    async def xdel(self, *args: Any) -> None:
        return None


async def test_withdrawn_and_stale_results_do_not_touch_the_real_final() -> None:
    speculative, real = final(3), final(7)
    stale = JobResult("s", 0, 1, JobKind.FINAL, 3)
    redis = FakeRedis([stale])
    queue = RedisGatewayQueue(redis, "gw")  # type: ignore[arg-type]
    await queue.submit(speculative)
    queue.withdraw(speculative)
    assert queue._unanswered == {}
    await queue.submit(real)
    queue.withdraw(speculative)  # a late withdraw does not drop the real final
    results = queue.results()
    assert (await anext(results)).revision == stale.revision
    assert list(queue._unanswered.values()) == [real]  # still sent again after an outage
    redis.entries = [(b"9-0", as_read(JobResult("s", 0, 1, JobKind.FINAL, 7)))]
    await anext(results)
    assert queue._unanswered == {}
    await results.aclose()
