"""Run an app under uvicorn with a drain on SIGTERM.

uvicorn's own shutdown closes every WebSocket with 1012 at once. Before that,
this server stops listening and lets the gateway's sessions flush their
segments, send their finals and close with 1012 themselves."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from server.addresses import ALL_INTERFACES, host_for_url, local_url
from server.config import Settings
from server.runtime.gateway import Gateway

log = logging.getLogger("streamscribe.serving")


class ListenError(Exception):
    """The address cannot be listened on; the message says why and which flag changes it."""


def check_can_listen(host: str, port: int) -> None:
    """Fail fast, before the model loads, when uvicorn could not listen on host:port.

    A probe socket binds and listens the way uvicorn will (SO_REUSEADDR, so a
    previous run's TIME_WAIT connections do not count) and is closed again.
    Another process could still take the port before uvicorn binds it; uvicorn
    then fails as it always did, so this only turns the common case into a
    clear message early."""
    if port == 0:
        return  # any free port
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ListenError(f"cannot listen on {host}: {error.strerror}; pick another with --host") from error
    unavailable: OSError | None = None
    bound = 0
    for family, kind, proto, _name, address in dict.fromkeys(addresses):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio's create_server
            try:
                probe.bind(address)
                probe.listen()
            except OSError as error:
                # asyncio skips an address whose family is disabled (IPv6 off) when others remain.
                if error.errno == errno.EADDRNOTAVAIL:
                    unavailable = error
                    continue
                raise ListenError(_listen_failure(host, port, error)) from error
            bound += 1
    if not bound and unavailable is not None:
        raise ListenError(_listen_failure(host, port, unavailable)) from unavailable


def _listen_failure(host: str, port: int, error: OSError) -> str:
    where = f"{host_for_url(host)}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where} is already in use (another streamscribe?); pick another with --port"
    if error.errno == errno.EACCES:
        return f"no permission to listen on {where} (ports below 1024 need privileges); pick another with --port"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; pick another with --host"
    return f"cannot listen on {where}: {error.strerror or error}"


def ready_message(host: str, port: int) -> str:
    """The line that tells a person where to go once the server listens."""
    urls = f"live captions at {local_url(host, port)}/ , API at {local_url(host, port, 'ws')}/v1/listen"
    if host in ALL_INTERFACES:
        where = f"listening on all interfaces, port {port} (from other machines use this one's name or address)"
        return f"streamscribe ready: {urls}; {where}"
    return f"streamscribe ready: {urls}"


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.drain_timeout_s = drain_timeout_s

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # uvicorn has run the lifespan (model loaded, workers warm) and listens
            port = self.config.port or self.servers[0].sockets[0].getsockname()[1]
            log.info("%s", ready_message(self.config.host, port))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await self.gateway.drain(self.drain_timeout_s)
        await super().shutdown(sockets)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn listens, the same with and without --reload."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "ws_max_size": max(16 << 20, 2 * settings.max_frame_bytes),
        "ws_ping_interval": 20,
        "timeout_graceful_shutdown": 5,
    }


def make_server(app: Starlette, settings: Settings) -> DrainingServer:
    config = uvicorn.Config(app, **_uvicorn_options(settings))
    return DrainingServer(config, app.state.gateway, settings.drain_timeout_s)


def serve(app: Starlette, settings: Settings) -> None:
    make_server(app, settings).run()


def serve_with_reload(factory: str, settings: Settings) -> None:
    """Development: uvicorn restarts the app (built by the `factory` import path, from the
    environment's settings) whenever the source changes. No drain: a restart drops sessions."""
    import streaming

    packages = [Path(__file__).resolve().parent.parent, Path(streaming.__file__).resolve().parent]
    uvicorn.run(
        factory,
        factory=True,
        reload=True,
        reload_dirs=[str(path) for path in packages],
        **_uvicorn_options(settings),
    )
