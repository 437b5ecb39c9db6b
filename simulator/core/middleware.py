"""One pure-ASGI middleware in front of every API path: body ceiling, timing, journal.

Handlers tell it which tenant and operation a request was for through `note()`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.core.clock import real_now
from simulator.core.errors import BodyTooLarge, render_for_path
from simulator.core.journal import KEPT_HEADERS, Journal
from simulator.core.registry import api_for_path

SCOPE_KEY = "simulator"


def note(request: Request, *, tenant_id: str | None = None, operation: str | None = None) -> None:
    """Record on the request what the journal (and faults) should know about it."""
    info = request.scope.setdefault(SCOPE_KEY, {})
    if tenant_id is not None:
        info["tenant_id"] = tenant_id
    if operation is not None:
        info["operation"] = operation


def noted(scope: Scope) -> dict[str, Any]:
    return scope.setdefault(SCOPE_KEY, {})


def _clip(data: bytes, limit: int) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("…" if len(data) > limit else "")


class ApiMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, max_body: int, body_limit: int) -> None:
        self.app = app
        self.journal = journal
        self.max_body = max_body
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec = api_for_path(scope["path"])
        if spec is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = {}
        started = time.perf_counter()
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            response = render_for_path(
                Request(scope), 413, f"request body larger than {self.max_body} bytes"
            )
            await response(scope, receive, send)
            self._record(scope, spec.name, 413, started, b"", response.body)
            return

        request_body = bytearray()
        response_body = bytearray()
        status_box = [500]
        total = [0]
        journal_on = self.journal.enabled
        keep = self.body_limit + 1  # one byte more tells _clip that the body was cut

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                total[0] += len(chunk)
                if total[0] > self.max_body:
                    raise BodyTooLarge(self.max_body)
                if journal_on and len(request_body) < keep:
                    request_body.extend(chunk[: keep - len(request_body)])
            return message

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            elif (
                message["type"] == "http.response.body" and journal_on and len(response_body) < keep
            ):
                response_body.extend(message.get("body", b"")[: keep - len(response_body)])
            await send(message)

        try:
            await self.app(scope, receive_limited, send_recording)
        finally:
            if journal_on:
                self._record(scope, spec.name, status_box[0], started, request_body, response_body)

    def _record(
        self, scope: Scope, api: str, status: int, started: float, body: bytes, out: bytes
    ) -> None:
        info = noted(scope)
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", [])
            if k.decode("latin-1") in KEPT_HEADERS
        }
        self.journal.record(
            {
                "tenant_id": info.get("tenant_id"),
                "api": api,
                "operation": info.get("operation", ""),
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "fault": info.get("fault"),
                "request_headers": json.dumps(headers),
                "request_body": _clip(bytes(body), self.body_limit),
                "response_body": _clip(bytes(out), self.body_limit),
                "created_at": real_now(),
            }
        )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
