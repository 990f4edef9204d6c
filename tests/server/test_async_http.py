"""POST /v1/listen?callback= and GET /v1/listen/{request_id} over the app (embedded runtime, a stand-in
transcriber, keys with tenants): Deepgram's `{"request_id"}` at once, bad requests refused before anything is
queued, the status readable by its tenant only, the queue bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import Settings
from server.credentials import new_key_entry
from server.http.app import create_app
from server.webhook_security import SIGNATURE_HEADER, verify_signature
from testbed import audio, corpora
from testbed.receiver import WebhookReceiver
from tests.server.test_async_runner import SECRET, serving, settings_for
from tests.server.test_pipeline import FakeTranscriber

OPERATOR = "operator-key-0123456789"


class Keys:
    """A keys file: acme's upload key, globex's (another tenant), and acme's kiosk that may only listen."""

    def __init__(self, root: Path) -> None:
        self.acme, acme = new_key_entry("acme-web", "acme", ["upload"])
        self.globex, globex = new_key_entry("globex", None, ["upload"])
        self.kiosk, kiosk = new_key_entry("kiosk", "acme", ["listen"])
        self.file = root / "keys.toml"
        self.file.write_text(f"{acme}\n{globex}\n{kiosk}")


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Token {key}"}


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("http") / "jfk.wav"
    audio.write_wav(path, corpora.jfk().audio)
    return path.read_bytes()


def stored(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*"))


def keyed(settings: Settings, keys: Keys, **changes: Any) -> Settings:
    return settings.model_copy(update={"api_keys": [OPERATOR], "api_keys_file": keys.file, **changes})


@contextlib.asynccontextmanager
async def app_client(settings: Settings, transcriber: FakeTranscriber) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a started runtime and runner (the app's lifespan, in the test's loop)."""
    async with serving(settings, transcriber) as (runtime, _):
        transport = httpx.ASGITransport(app=create_app(settings, runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as http:
            yield http


async def status_when_delivered(http: httpx.AsyncClient, request_id: str, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        answer: dict[str, Any] = (await http.get(f"/v1/listen/{request_id}", headers=auth(key))).json()
        if answer["callback"]["delivered"] is not None or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def test_the_answer_is_the_request_id_and_the_status_is_for_its_tenant(tmp_path: Path, speech: bytes) -> None:
    keys = Keys(tmp_path)
    settings = keyed(settings_for(tmp_path), keys)
    with WebhookReceiver() as hook:
        async with app_client(settings, FakeTranscriber()) as http:
            params = {"callback": hook.url, "callback_method": "post", "utterances": "true", "token": "not kept"}
            accepted = await http.post("/v1/listen", params=params, content=speech, headers=auth(keys.acme))
            assert accepted.status_code == 200, accepted.text
            (request_id,) = accepted.json().values()
            assert accepted.json() == {"request_id": request_id}
            url = f"/v1/listen/{request_id}"
            assert (await http.get(url, headers=auth(keys.globex))).status_code == 404, "another tenant's"
            assert (await http.get(url)).status_code == 401
            kiosk = await http.get(url, headers=auth(keys.kiosk))
            assert kiosk.status_code == 403 and "upload" in kiosk.json()["err_msg"]
            for unknown in ("/v1/listen/0000-unknown", "/v1/listen/..%2F..%2Fetc"):
                assert (await http.get(unknown, headers=auth(keys.acme))).status_code == 404
            answer = await status_when_delivered(http, request_id, keys.acme)
            assert (await http.get(url, headers=auth(OPERATOR))).json() == answer, "admins see every tenant's"
    assert answer["status"] == "done" and answer["callback"] == {"delivered": True} and answer["error"] is None
    (delivery,) = hook.deliveries
    assert delivery.json() == answer["result"] and answer["result"]["metadata"]["request_id"] == request_id
    assert answer["result"]["results"]["utterances"], "utterances=true was kept for the job"
    assert verify_signature(SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
    assert answer["created"] <= answer["updated"] and answer["created"].endswith("Z")
    job_file = (tmp_path / "intake" / f"{request_id}.json").read_text()
    assert "not kept" not in job_file, "only the parameters the transcript depends on are stored"


@pytest.mark.parametrize(
    ("params", "body", "code", "words"),
    [
        ({"callback_method": "put"}, "speech", "INVALID_QUERY_PARAMETER", "callback_method=put is not supported"),
        ({"callback_method": "get"}, "speech", "INVALID_QUERY_PARAMETER", "callback_method must be post"),
        ({"callback": "http://127.0.0.1:9/hook"}, "speech", "INVALID_QUERY_PARAMETER", "must be a public address"),
        ({"callback": "ftp://example.com/hook"}, "speech", "INVALID_QUERY_PARAMETER", "http:// or https://"),
        ({}, "text", "UNSUPPORTED_FILE_TYPE", "not audio"),
        ({}, "empty", "EMPTY_BODY", "empty"),
        ({}, "truncated", "INVALID_FILE", "truncated"),
    ],
)
async def test_bad_requests_are_refused_at_once_and_nothing_is_queued(
    tmp_path: Path, speech: bytes, params: dict[str, str], body: str, code: str, words: str
) -> None:
    contents = {
        "speech": speech,
        "text": b"These are the meeting notes and not a recording\n" * 40,
        "empty": b"",
        "truncated": speech[: len(speech) // 2],
    }
    query = {"callback": "https://hooks.example.com/streamscribe", **params}
    settings = settings_for(tmp_path).model_copy(update={"webhook_allow_private_callbacks": False})
    async with app_client(settings, FakeTranscriber()) as http:
        answer = await http.post("/v1/listen", params=query, content=contents[body])
    assert answer.status_code == 400
    assert answer.json()["err_code"] == code and words in answer.json()["err_msg"], answer.json()
    assert stored(tmp_path / "intake") == [], "nothing stored, nothing queued"


async def test_the_queue_is_bounded_with_429_in_words(tmp_path: Path, speech: bytes) -> None:
    settings = settings_for(tmp_path).model_copy(update={"async_max_queued": 1})
    with WebhookReceiver() as hook:
        async with app_client(settings, FakeTranscriber(first_delay_s=2.0)) as http:
            first = await http.post("/v1/listen", params={"callback": hook.url}, content=speech)
            second = await http.post("/v1/listen", params={"callback": hook.url}, content=speech)
            assert first.status_code == 200 and second.status_code == 429
            assert second.json()["err_code"] == "QUEUE_FULL"
            assert "async_max_queued=1" in second.json()["err_msg"] and "try again later" in second.json()["err_msg"]
            synchronous = await http.post("/v1/listen", content=speech)
            assert synchronous.status_code == 200, "the bound is on asynchronous uploads only"
