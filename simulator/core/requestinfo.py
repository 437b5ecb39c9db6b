"""What the API middleware records about a request besides what the ASGI scope holds: the tenant
its auth found (for the journal and faults), its request id, the fault rules that touched it.

An API's auth calls `note(request, tenant_id=...)` (core/tenants `admit` does it for every API);
the middleware reads `noted(scope)` when it journals the request. The operation is not noted:
the middleware knows it from the route the request matched (core/operations).
"""

from __future__ import annotations

from typing import Any

SCOPE_KEY = "simulator"


def note(request: Any, *, tenant_id: str | None = None) -> None:
    """Record on the request what the journal (and faults) should know about it."""
    info = request.scope.setdefault(SCOPE_KEY, {})
    if tenant_id is not None:
        info["tenant_id"] = tenant_id


def noted(scope: Any) -> dict[str, Any]:
    return scope.setdefault(SCOPE_KEY, {})


def noted_tenant(scope: Any) -> str | None:
    """The tenant the request's auth found, if it has run."""
    return scope.get(SCOPE_KEY, {}).get("tenant_id")


# --- what an API parsed of the request, kept on its state -----------------------------------------


def kept_on_state(scope: Any, key: str) -> Any | None:
    """What `keep_on_state` kept under `key` for this request (`request.state.<key>`), or None.
    Read from the scope's state dict, the one `request.state` wraps: Starlette's State raises
    an exception for a missing attribute, which cost every request's first look."""
    state = scope.get("state")
    return state.get(key) if state else None


def keep_on_state(scope: Any, key: str, value: Any) -> None:
    """Keep `value` for the rest of the request (its handler, its error renderer, the journal
    and fault rules read it with `kept_on_state`)."""
    scope.setdefault("state", {})[key] = value


# --- reading a body ahead of the handler --------------------------------------------------------


async def read_body(receive: Any) -> bytes:
    """The whole body from an ASGI `receive`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return bytes(body)


def replay(body: bytes, receive: Any) -> Any:
    """A receive that hands the already-read body over once, then asks the real one."""
    pending = [True]

    async def replayed() -> dict[str, Any]:
        if pending[0]:
            pending[0] = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
