"""Faults below HTTP: a dropped connection (reset, empty reply, held open) or a damaged answer
(malformed, truncated, dribbled).

Dropping a connection needs its socket, which ASGI does not give an app: `simulator serve` runs
uvicorn with a protocol of its own (simulator/server.py) that puts a `ConnectionControl` in every
request's scope under `scope["extensions"][CONNECTION_EXTENSION]`. Without one (another server,
the in-process test client) a drop fails the request inside the app, which answers the API's own
500.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where the server's protocol leaves a request's ConnectionControl (reset(), close(), hold()).
CONNECTION_EXTENSION = "simulator.connection"


def control_of(scope: Scope) -> Any | None:
    """The request's ConnectionControl, when the server lends one."""
    return scope.get("extensions", {}).get(CONNECTION_EXTENSION)


async def drop_connection(scope: Scope, drop: Any) -> None:
    """Reset, close without answering, or hold then close."""
    control = control_of(scope)
    if control is None:
        if drop.action == "timeout":
            await asyncio.sleep(drop.duration)
        raise ConnectionError(f"simulated network fault: {drop.action}")
    if drop.action == "reset":
        control.reset()
    elif drop.action == "empty":
        control.close()
    else:
        await control.hold(drop.duration)


async def capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list, bytes]:
    """Run the app and keep its whole answer instead of sending it."""
    status = [200]
    headers: list = []
    body = bytearray()

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
            headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, keep)
    return status[0], headers, bytes(body)


async def discard(message: Message) -> None:
    """A send that sends nothing (a request processed whose answer is lost)."""
    return None


def malformed(body: bytes) -> bytes:
    """The body cut short and followed by bytes no JSON or XML parser accepts."""
    keep = max(1, len(body) * 2 // 3) if body else 0
    return body[:keep] + b"\x00\xff<<garbled"


def _with_length(headers: list, length: int) -> list:
    kept = [
        (k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")
    ]
    return [*kept, (b"content-length", str(length).encode())]


async def send_whole(send: Send, status: int, headers: list, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _with_length(headers, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def dribble(send: Send, status: int, headers: list, body: bytes, seconds: float) -> None:
    """The real answer, its bytes spread evenly over `seconds` (at most 50 pieces)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _with_length(headers, len(body)),
        }
    )
    pieces = max(1, min(50, len(body)))
    size = -(-len(body) // pieces) if body else 0
    pause = seconds / pieces
    for index in range(pieces):
        await asyncio.sleep(pause)
        chunk = body[index * size : (index + 1) * size]
        await send({"type": "http.response.body", "body": chunk, "more_body": index < pieces - 1})


async def truncate(scope: Scope, send: Send, headers: list, body: bytes) -> None:
    """Status 200 and the full Content-Length, then half the body and the connection closes."""
    body = body if len(body) >= 2 else b'{"status":"ok"}'
    await send(
        {"type": "http.response.start", "status": 200, "headers": _with_length(headers, len(body))}
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    control = control_of(scope)
    if control is not None:
        control.close()
