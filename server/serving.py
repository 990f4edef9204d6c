"""Run an app under uvicorn with a drain on SIGTERM.

uvicorn's own shutdown closes every WebSocket with 1012 at once. Before that,
this server stops listening and lets the gateway's sessions flush their
segments, send their finals and close with 1012 themselves."""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette

from server.config import Settings
from server.gateway import Gateway


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.drain_timeout_s = drain_timeout_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await self.gateway.drain(self.drain_timeout_s)
        await super().shutdown(sockets)


def serve(app: Starlette, settings: Settings) -> None:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=max(16 << 20, 2 * settings.max_frame_bytes),
        ws_ping_interval=20,
        timeout_graceful_shutdown=5,
    )
    DrainingServer(config, app.state.gateway, settings.drain_timeout_s).run()
