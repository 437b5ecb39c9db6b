"""The uvicorn-level hook for network faults: an HTTP protocol that lends each request its socket.

ASGI gives an app no way to reset a connection, close it without an answer or write bytes a
well-behaved response could not contain. `FaultHttpProtocol` (uvicorn's httptools protocol plus
one line) puts a `ConnectionControl` in every request's scope under
`scope["extensions"]["simulator.connection"]` (core/faults/network reads it there); the fault
middleware uses it, nothing else does. `simulator serve` passes it to uvicorn as `http=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Any

from simulator.core.faults.network import CONNECTION_EXTENSION

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class ConnectionControl:
    """What a fault may do to the connection of one request."""

    def __init__(self, protocol: Any, scope: dict[str, Any]) -> None:
        self.protocol = protocol
        self.scope = scope

    @property
    def transport(self) -> asyncio.Transport:
        return self.protocol.transport

    def _detach(self) -> None:
        """Tell uvicorn the client is gone, so it neither answers 500 nor logs an error."""
        cycle = getattr(self.protocol, "cycle", None)
        if cycle is not None and cycle.scope is self.scope:
            cycle.disconnected = True

    def reset(self) -> None:
        """Abort with an RST: the client sees `connection reset by peer` before any byte."""
        self._detach()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def close(self) -> None:
        """Close (FIN) after whatever was written: an empty reply, or a cut-off body."""
        self._detach()
        self.transport.close()

    def closed(self) -> bool:
        return self.transport.is_closing()

    async def hold(self, seconds: float) -> None:
        """Keep the connection open without answering, until `seconds` pass or the client
        goes away, then close it."""
        deadline = time.monotonic() + seconds
        while not self.closed():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(0.1, left))
        self.close()


if HttpToolsProtocol is not None:

    class FaultHttpProtocol(HttpToolsProtocol):  # type: ignore[valid-type,misc]
        """uvicorn's httptools protocol; each request's scope carries its ConnectionControl."""

        def on_headers_complete(self) -> None:
            extensions = self.scope.setdefault("extensions", {})
            extensions[CONNECTION_EXTENSION] = ConnectionControl(self, self.scope)
            super().on_headers_complete()

else:  # pragma: no cover
    FaultHttpProtocol = None  # type: ignore[assignment,misc]


def http_protocol() -> Any:
    """What `simulator serve` passes to uvicorn as `http=`."""
    return FaultHttpProtocol if FaultHttpProtocol is not None else "auto"


def load_faults(path: str | None, database_url: str) -> None:
    """Store the --faults file's rules once, before the workers start; a bad file is refused
    here with the path of the offending rule (FaultError, a ValueError)."""
    if not path:
        return
    from simulator.core import faults
    from simulator.core.db import make_engine

    engine = make_engine(database_url)
    try:
        faults.ensure_table(engine)
        faults.load_file(engine, path)
    finally:
        engine.dispose()
