"""Who may receive a webhook, and how a receiver knows it came from us.

A client's callback URL must name a public address (`check_callback_url` on its
text; `public_addresses` on what its host resolves to, when delivering): a
client must not make the server POST into the operator's network. Every POST
is signed (`signature_header`); receivers check it with `verify_signature`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
import socket
import time

import httpx

SIGNATURE_HEADER = "X-Streamscribe-Signature"
EVENT_ID_HEADER = "X-Streamscribe-Event-Id"
MAX_URL_LENGTH = 2048
_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature_header(secret: bytes, body: bytes, *, now: float | None = None) -> str:
    """The `X-Streamscribe-Signature` value for `body` sent at `now` (default: the current time)."""
    timestamp = int(time.time() if now is None else now)
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes | str, header: str, body: bytes, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """For receivers: whether `header` (the `X-Streamscribe-Signature` value) signs `body` (the raw request body,
    before any JSON parsing) with `secret`, at a time within `tolerance_s` of `now` (default: the current time).
    Any one of several `v1=` entries may match (a receiver rotating secrets). Compares in constant time."""
    key = secret.encode() if isinstance(secret, str) else secret
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and re.fullmatch(r"[0-9]{1,12}", value):
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.encode())
    current = time.time() if now is None else now
    if timestamp is None or not signatures or abs(current - timestamp) > tolerance_s:
        return False
    expected = signature_header(key, body, now=timestamp).partition(",v1=")[2].encode()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def _is_public(ip: _IpAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _names_a_private_host(host: str) -> bool:
    """Whether a URL's host is `localhost` or an address (in any form a resolver takes) that is not public."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip: _IpAddress = ipaddress.ip_address(name)
    except ValueError:
        try:  # 127.1, 2130706433, 0x7f.0.0.1: not addresses to ipaddress, but to getaddrinfo
            ip = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    return not _is_public(ip)


def check_callback_url(url: str, *, allow_private: bool) -> str:
    """`url` if it may be a client's callback, else ValueError with a message for the client: http(s), a host, no
    credentials, spaces or control characters, at most MAX_URL_LENGTH characters; unless `allow_private`, not
    `localhost` nor a loopback, private, link-local, reserved or multicast address (the sender checks what a
    host name resolves to when delivering)."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"callback URL is longer than {MAX_URL_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("callback URL must not contain spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValueError(f"callback is not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError("callback must be an http:// or https:// URL")
    if parsed.userinfo:
        raise ValueError("callback URL must not contain credentials")
    if not parsed.host:
        raise ValueError("callback URL has no host")
    if not allow_private and _names_a_private_host(parsed.host):
        raise ValueError("callback host must be a public address, not localhost, loopback, private or reserved")
    return url


class RefusedTarget(Exception):
    """A callback's host resolves to an address it may not use: a final failure."""


async def public_addresses(host: str, port: int) -> list[str]:
    """What `host` resolves to, all of it public (else RefusedTarget); socket.gaierror when it does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        try:
            public = _is_public(ipaddress.ip_address(address))
        except ValueError:
            public = False
        if not public:
            raise RefusedTarget(f"{host} resolves to {address}, not a public address")
    return addresses
