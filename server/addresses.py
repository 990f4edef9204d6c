"""Addresses a server listens on, and the URLs clients on this machine use to reach it."""

from __future__ import annotations

ALL_INTERFACES = ("", "0.0.0.0", "::")


def host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def local_url(host: str, port: int, scheme: str = "http") -> str:
    """The base URL a client on this machine uses for a server listening on host:port
    (a wildcard address is no place to connect to: its loopback is)."""
    if host in ALL_INTERFACES:
        host = "::1" if host == "::" else "127.0.0.1"
    return f"{scheme}://{host_for_url(host)}:{port}"
