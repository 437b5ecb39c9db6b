"""The uvicorn-level hooks: an HTTP protocol that lends each request its socket, and writes an
answer's head and body as one segment.

ASGI gives an app no way to reset a connection, close it without an answer or write bytes a
well-behaved response could not contain. `FaultHttpProtocol` (uvicorn's httptools protocol plus
one line) puts a `ConnectionControl` in every request's scope under
`scope["extensions"]["simulator.connection"]` (core/faults/network reads it there); the fault
middleware uses it, nothing else does. `OneWriteHttpProtocol` is that protocol on a
`OneWriteTransport` (docs/adr/0005-one-write-per-response.md). `simulator serve` passes one of
them to uvicorn as `http=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Sized
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


class OneWriteTransport(asyncio.Transport):
    """A connection's transport that sends an answer's head and body in one write.

    uvicorn writes an answer's status line and headers, then its body, with two
    `transport.write` calls, and each would be a send(2) of its own: a packet, and the client
    woken for it (on loopback the sender pays for the receiver's side too). Here a write is
    held, and leaves with the writes after it:

    - at once, on the next write, when this connection's request is the only one the process
      is serving (`in_flight` holds one task): the head waits only for its body;
    - otherwise at the event loop's next turn (`call_soon`), when the answers written in this
      turn all leave after its work, one write each.

    Nothing waits longer than the turn that wrote it, the order of the bytes is kept, closing
    sends what is held first and aborting drops it (as an abort drops the buffer). Every other
    method is the wrapped transport's, named one by one. Measured gain and invariants:
    docs/adr/0005-one-write-per-response.md."""

    def __init__(self, transport: asyncio.Transport, in_flight: Sized) -> None:
        """`in_flight`: the requests the process is serving now (uvicorn's set of request
        tasks, shared by every connection)."""
        super().__init__()
        self._transport = transport
        self._in_flight = in_flight
        self._held: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    # --- writing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        first = not self._held
        self._held.append(bytes(data))  # the caller may reuse a buffer it passed
        if first:
            self._loop.call_soon(self._release)
        elif len(self._in_flight) <= 1:
            self._release()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _release(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write_eof(self) -> None:
        self._release()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    # --- closing

    def close(self) -> None:
        self._release()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    # --- reading and the rest

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


if HttpToolsProtocol is not None:

    class FaultHttpProtocol(HttpToolsProtocol):  # type: ignore[valid-type,misc]
        """uvicorn's httptools protocol; each request's scope carries its ConnectionControl."""

        def on_headers_complete(self) -> None:
            extensions = self.scope.setdefault("extensions", {})
            extensions[CONNECTION_EXTENSION] = ConnectionControl(self, self.scope)
            super().on_headers_complete()

    class OneWriteHttpProtocol(FaultHttpProtocol):  # type: ignore[valid-type,misc]
        """FaultHttpProtocol writing through a OneWriteTransport."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(OneWriteTransport(transport, self.tasks))

else:  # pragma: no cover
    FaultHttpProtocol = None  # type: ignore[assignment,misc]
    OneWriteHttpProtocol = None  # type: ignore[assignment,misc]


def http_protocol(one_write: bool = True) -> Any:
    """What `simulator serve` passes to uvicorn as `http=` (`one_write`: SIM_ONE_WRITE)."""
    if FaultHttpProtocol is None:
        return "auto"
    return OneWriteHttpProtocol if one_write else FaultHttpProtocol


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
