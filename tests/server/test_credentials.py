"""Keys stored hashed with tenants, scopes and limits; short-lived tokens minted from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from server.credentials import (
    ALL_SCOPES,
    TOKEN_PREFIX,
    CredentialsError,
    Identity,
    KeyRing,
    Scope,
    digest,
    new_key_entry,
    read_keys_file,
)
from server.policy import authenticate

SECRET = b"s" * 32


@pytest.fixture
def ring(tmp_path: Path) -> tuple[KeyRing, str, str]:
    """A keys file with two keys (and a limit on the first), plus one plain key: the ring and the two keys."""
    key_a, entry_a = new_key_entry("acme-web", "acme", ["listen", "upload", "recordings:read"])
    key_b, entry_b = new_key_entry("globex", None, ["listen"])
    path = tmp_path / "keys.toml"
    path.write_text(entry_a + "max_sessions = 3\n\n" + entry_b)
    assert key_a not in path.read_text() and digest(key_a) in path.read_text()  # only the hash is stored
    return KeyRing.build(["operator-key"], path, SECRET), key_a, key_b


def test_a_keys_file_holds_hashes_names_tenants_scopes_and_limits(ring: tuple[KeyRing, str, str]) -> None:
    keys, key_a, key_b = ring
    acme = keys.identify(key_a, 0.0)
    assert acme == Identity("acme-web", "acme", frozenset({Scope.LISTEN, Scope.UPLOAD, Scope.RECORDINGS_READ}), 3)
    globex = keys.identify(key_b, 0.0)
    assert globex is not None and globex.tenant == "globex" and not globex.may(Scope.UPLOAD)
    operator = keys.identify("operator-key", 0.0)
    assert operator is not None and operator.scopes == ALL_SCOPES
    assert keys.identify("nope", 0.0) is None


def test_tenants_read_their_own_recordings_and_admins_all() -> None:
    reader = Identity("k", "acme", frozenset({Scope.RECORDINGS_READ}))
    assert reader.may_read("acme") and not reader.may_read("globex") and not reader.may_read(None)
    assert not Identity("k", "acme", frozenset({Scope.LISTEN})).may_read("acme")
    assert Identity("op", "op", frozenset({Scope.ADMIN})).may_read("globex")


def test_tokens_carry_the_identity_narrowed_until_they_expire(ring: tuple[KeyRing, str, str]) -> None:
    keys, key_a, _ = ring
    acme = keys.identify(key_a, 0.0)
    assert acme is not None
    token = keys.grant(acme, 30, now=1000.0, scopes=frozenset({Scope.LISTEN, Scope.ADMIN}))
    assert token.startswith(TOKEN_PREFIX)
    held = keys.identify(token, 1029.0)
    assert held is not None and held.scopes == {Scope.LISTEN} and held.tenant == "acme" and held.max_sessions == 3
    assert keys.identify(token, 1030.0) is None  # expired
    assert keys.identify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], 1001.0) is None  # tampered
    assert KeyRing(keys.keys, b"other" * 8).identify(token, 1001.0) is None  # another secret


def test_tokens_work_as_bearer_header_or_subprotocol(ring: tuple[KeyRing, str, str]) -> None:
    keys, key_a, _ = ring
    acme = keys.identify(key_a, 0.0)
    assert acme is not None
    token = keys.grant(acme, 60, now=0.0)
    by_header = authenticate({"authorization": f"Bearer {token}"}, keys, now=10.0)
    by_protocol = authenticate({"sec-websocket-protocol": f"bearer, {token}"}, keys, now=10.0)
    assert by_header.identity == by_protocol.identity and by_header.identity is not None
    assert by_protocol.subprotocol == "bearer"
    assert authenticate({"sec-websocket-protocol": f"bearer, {token}"}, keys, now=61.0).identity is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[key]]\nname = 'x'\n", "sha256"),
        ("[[key]]\nname = 'x'\nsha256 = 'abc'\n", "64 hex"),
        ("[[key]]\nname = 'x'\nsha256 = '" + "a" * 64 + "'\nscopes = ['root']\n", "key #1"),
        ("not toml [", "cannot read"),
    ],
)
def test_a_bad_keys_file_is_refused_with_words(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=words):
        read_keys_file(path)
    with pytest.raises(ValueError, match=words):
        Settings(api_keys_file=path)
