"""Keys with tenants, scopes and limits (a keys file storing hashes), short-lived tokens
from POST /v1/auth/grant, and recordings readable only by their tenant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from server.credentials import new_key_entry
from testbed import audio, corpora
from testbed.server import ServerProcess, listen_url, stream

pytestmark = pytest.mark.e2e

OPERATOR = "operator-key-0123456789"


@dataclass
class Tenants:
    server: ServerProcess
    acme: str
    globex: str
    listen_only: str

    def auth(self, key: str, scheme: str = "Token") -> dict[str, str]:
        return {"authorization": f"{scheme} {key}"}


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    root = tmp_path_factory.mktemp("tenancy")
    acme, acme_entry = new_key_entry("acme-web", "acme", ["listen", "upload", "recordings:read"])
    globex, globex_entry = new_key_entry("globex", None, ["listen", "upload", "recordings:read"])
    listen_only, listen_entry = new_key_entry("kiosk", "acme", ["listen"])
    keys = root / "keys.toml"
    keys.write_text(f"{acme_entry}max_sessions = 1\n\n{globex_entry}\n{listen_entry}")
    server = ServerProcess(
        archive_dir=root / "archive",
        env={"STREAMSCRIBE_API_KEYS": OPERATOR, "STREAMSCRIBE_API_KEYS_FILE": str(keys)},
    ).start()
    yield Tenants(server, acme, globex, listen_only)
    server.stop()


def jfk_pcm() -> bytes:
    return audio.to_linear16(corpora.jfk().audio)


async def test_a_recording_is_readable_by_its_tenant_and_admins_only(tenants: Tenants) -> None:
    url = listen_url(tenants.server.ws_url)
    done = await stream(url, jfk_pcm(), headers=tenants.auth(tenants.acme))
    session_id = done.of_type("Metadata")[0]["request_id"]
    recording = f"{tenants.server.http_url}/v1/recordings/{session_id}"
    async with httpx.AsyncClient(timeout=30) as client:
        own = await client.get(recording, headers=tenants.auth(tenants.acme))
        other = await client.get(recording, headers=tenants.auth(tenants.globex))
        operator = await client.get(recording, headers=tenants.auth(OPERATOR))
        kiosk = await client.get(recording, headers=tenants.auth(tenants.listen_only))
    assert own.status_code == 200 and own.json()["tenant"] == "acme"
    assert audio.wer(corpora.JFK_TEXT, own.json()["transcript"]) <= 0.15
    assert other.status_code == 404  # as if there were none: ids are not to be probed
    assert operator.status_code == 200
    assert kiosk.status_code == 403 and "recordings:read" in kiosk.json()["err_msg"]


async def test_a_granted_token_opens_a_session_for_a_while_and_mints_nothing(tenants: Tenants) -> None:
    base = tenants.server.http_url
    grant = f"{base}/v1/auth/grant"
    async with httpx.AsyncClient(timeout=30) as client:
        granted = await client.post(
            grant, headers=tenants.auth(tenants.globex), json={"ttl_seconds": 60, "scopes": ["listen"]}
        )
        assert granted.status_code == 200 and granted.json()["expires_in"] == 60
        token = granted.json()["access_token"]
        again = await client.post(grant, headers=tenants.auth(token, "Bearer"))
        upload = await client.post(f"{base}/v1/listen", headers=tenants.auth(token, "Bearer"), content=b"RIFF")
        bad_ttl = await client.post(grant, headers=tenants.auth(tenants.globex), json={"ttl_seconds": 0})
    assert again.status_code == 401
    assert upload.status_code == 403 and "'upload' scope" in upload.json()["err_msg"]
    assert bad_ttl.status_code == 400 and "ttl_seconds" in bad_ttl.json()["err_msg"]
    async with websockets.connect(
        listen_url(tenants.server.ws_url),
        subprotocols=[websockets.Subprotocol("bearer"), websockets.Subprotocol(token)],
    ) as ws:
        assert ws.subprotocol == "bearer"
        await ws.send(json.dumps({"type": "CloseStream"}))
        assert json.loads(await ws.recv())["type"] == "Metadata"


async def test_a_key_at_its_session_limit_is_refused_while_others_are_served(tenants: Tenants) -> None:
    url = listen_url(tenants.server.ws_url)
    async with websockets.connect(url, additional_headers=tenants.auth(tenants.acme)):  # acme's one session
        async with websockets.connect(url, additional_headers=tenants.auth(tenants.acme)) as second:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(second.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert "acme-web at its limit of 1" in closed.value.rcvd.reason
        served = await stream(url, jfk_pcm()[:32000], headers=tenants.auth(tenants.globex))
        assert served.close_code == 1000


async def test_monitoring_is_for_admins_and_the_metrics_token(tenants: Tenants) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        tenant = await client.get(f"{tenants.server.http_url}/metrics", headers=tenants.auth(tenants.acme))
        operator = await client.get(f"{tenants.server.http_url}/metrics", headers=tenants.auth(OPERATOR))
    assert tenant.status_code == 401 and operator.status_code == 200


def test_keys_new_prints_a_key_once_and_its_hashed_entry(tmp_path: Path) -> None:
    key, entry = new_key_entry("x", None, ["listen"])
    assert key.startswith("ssk_") and key not in entry and 'tenant = "x"' in entry
