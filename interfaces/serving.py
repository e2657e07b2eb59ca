"""Serving an ASGI app the way Evident's commands do: the one place uvicorn is started."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def serve_app(
    app: ASGIApp, host: str, port: int, log_level: str,
    *, on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` as ``oms serve`` and ``oms run`` do (and the HTTP benchmark serves its
    baseline): uvicorn, one process, no access log. ``on_ready`` is called once the socket
    listens, so that what it prints is true when it is read; a server that never starts
    exits with uvicorn's start-up failure status, as ``uvicorn.run`` does."""
    import uvicorn  # noqa: PLC0415 — imported by the commands that serve, not the others
    from uvicorn.config import STARTUP_FAILURE  # noqa: PLC0415

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and on_ready is not None:
                on_ready()

    server = Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                   access_log=False))
    with suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down; the caller unwinds
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
