"""API keys and the short-lived tokens minted from them.

A key is known by its SHA-256 only. Keys come from `STREAMSCRIBE_API_KEYS`
(plain: the operator's own, with every scope) or from a keys file that stores
only hashes (`streamscribe keys new` prints a key once and the entry to add).
A key has a name, a tenant (whose recordings it may read), scopes and
optional limits.

A token (`POST /v1/auth/grant`) carries the identity of the key that asked
for it, for `ttl` seconds: a web page gets one for a session instead of
holding a key. Tokens are signed with `STREAMSCRIBE_TOKEN_SECRET`; gateways
that share it accept each other's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

TOKEN_PREFIX = "sst."
MAX_TOKEN_TTL_S = 3600
DEFAULT_TOKEN_TTL_S = 30
"""Deepgram's default for its temporary tokens."""


class Scope(StrEnum):
    LISTEN = "listen"
    """Live sessions (`/v1/listen` WebSocket)."""
    UPLOAD = "upload"
    """File uploads (`POST /v1/listen`, `/v1/audio/transcriptions`)."""
    RECORDINGS_READ = "recordings:read"
    """The tenant's own recordings."""
    ADMIN = "admin"
    """Every tenant's recordings, `/metrics`."""


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a key or token speaks for."""

    name: str
    tenant: str
    scopes: frozenset[Scope]
    max_sessions: int | None = None
    """Concurrent live sessions and uploads of this key; None: only the server's limit."""
    uploads_per_minute: int | None = None

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def may_read(self, tenant: str | None) -> bool:
        """A recording of `tenant` (None: made when no keys were set)."""
        return Scope.ADMIN in self.scopes or (self.may(Scope.RECORDINGS_READ) and tenant == self.tenant)


OPEN = Identity("anonymous", "", ALL_SCOPES)
"""The caller of a server without keys."""


class CredentialsError(ValueError):
    """A keys file that cannot be used; the message says where and why."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The server's keys (by digest) and the secret its tokens are signed with."""

    keys: dict[str, Identity]
    secret: bytes

    @classmethod
    def build(cls, plain: Iterable[str], keys_file: Path | None, secret: bytes) -> KeyRing:
        keys = {digest(key): Identity(f"key-{digest(key)[:8]}", f"key-{digest(key)[:8]}", ALL_SCOPES) for key in plain}
        if keys_file is not None:
            keys |= read_keys_file(keys_file)
        return cls(keys, secret)

    @property
    def open(self) -> bool:
        """No keys: everyone may call, with every scope."""
        return not self.keys

    def identify(self, presented: str, now: float) -> Identity | None:
        """The identity behind a key or an unexpired token of this ring; None when neither."""
        if presented.startswith(TOKEN_PREFIX):
            return self._verify(presented, now)
        return self.keys.get(digest(presented))

    def grant(self, identity: Identity, ttl_s: int, now: float, scopes: frozenset[Scope] | None = None) -> str:
        """A token for `identity` (narrowed to `scopes`) valid for `ttl_s` seconds."""
        granted = identity.scopes if scopes is None else identity.scopes & scopes
        claims = {
            "name": identity.name,
            "tenant": identity.tenant,
            "scopes": sorted(granted),
            "max_sessions": identity.max_sessions,
            "uploads_per_minute": identity.uploads_per_minute,
            "exp": now + ttl_s,
            "nonce": secrets.token_hex(8),
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{TOKEN_PREFIX}{body}.{_b64(self._sign(body))}"

    def _sign(self, body: str) -> bytes:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).digest()

    def _verify(self, token: str, now: float) -> Identity | None:
        body, _, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
        try:
            if not hmac.compare_digest(_unb64(signature), self._sign(body)):
                return None
            claims = json.loads(_unb64(body))
            if float(claims["exp"]) <= now:
                return None
            return Identity(
                str(claims["name"]),
                str(claims["tenant"]),
                frozenset(Scope(s) for s in claims["scopes"]),
                claims.get("max_sessions"),
                claims.get("uploads_per_minute"),
            )
        except (ValueError, KeyError, TypeError):
            return None


def read_keys_file(path: Path) -> dict[str, Identity]:
    """`[[key]]` tables with `name`, `sha256` (of the key), and optionally `tenant`
    (default: the name), `scopes` (default: listen, upload, recordings:read),
    `max_sessions`, `uploads_per_minute`."""
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("key", [])
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CredentialsError(f"cannot read the keys file {path}: {error}") from error
    keys: dict[str, Identity] = {}
    for number, entry in enumerate(entries, 1):
        try:
            name, sha = str(entry["name"]), str(entry["sha256"]).lower()
            scopes = frozenset(Scope(s) for s in entry.get("scopes", ("listen", "upload", "recordings:read")))
            identity = Identity(name, str(entry.get("tenant", name)), scopes)
            identity = replace(
                identity, max_sessions=entry.get("max_sessions"), uploads_per_minute=entry.get("uploads_per_minute")
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise CredentialsError(f"{path}: key #{number} is not usable: {error!r}") from error
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise CredentialsError(f"{path}: key {name!r} has no valid sha256 (64 hex digits)")
        keys[sha] = identity
    return keys


def new_key_entry(name: str, tenant: str | None, scopes: Iterable[str]) -> tuple[str, str]:
    """A fresh key and the keys-file entry for it (which holds only its hash)."""
    key = "ssk_" + secrets.token_urlsafe(32)
    chosen = sorted(Scope(s) for s in scopes)
    entry = (
        f'[[key]]\nname = "{name}"\ntenant = "{tenant or name}"\n'
        f"scopes = [{', '.join(json.dumps(str(s)) for s in chosen)}]\n"
        f'sha256 = "{digest(key)}"\n'
    )
    return key, entry


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
