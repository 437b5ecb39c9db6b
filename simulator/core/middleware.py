"""One pure-ASGI middleware in front of every API path: body ceiling, timing, journal, faults.

An API's auth tells it the request's tenant (core/requestinfo `note()`); the operation it reads
from the route the request matched (core/operations), with no work in the handler.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.core import offloop
from simulator.core.clock import real_now
from simulator.core.dispatch import FastLane, error_response
from simulator.core.errors import BodyTooLarge, render_for_path
from simulator.core.faults.apply import FaultApplier
from simulator.core.formats import dump_json
from simulator.core.journal import KEPT_HEADERS, Journal
from simulator.core.registry import SPEC_SCOPE_KEY, ApiSpec, api_for_path
from simulator.core.requestinfo import SCOPE_KEY, noted


def _clip(data: bytes, limit: int) -> str:
    # NUL is replaced too: PostgreSQL text cannot hold it (a damaged body may contain one).
    text = data[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text + ("…" if len(data) > limit else "")


class ApiMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        journal: Journal,
        max_body: int,
        body_limit: int,
        fast_lane: bool = True,
    ) -> None:
        self.app = app
        self.journal = journal
        self.max_body = max_body
        self.body_limit = body_limit
        # SQLite: a request that may write waits (off the loop) for this process's worker
        # threads in a write phase, rather than for their lock on the loop (core/offloop).
        self.gate = offloop.gate_of(journal.engine)
        # Plain endpoints are awaited directly, the rest goes through FastAPI (core/dispatch);
        # SIM_FAST_LANE=0: every request through FastAPI (docs/adr/0001-fast-lane.md).
        self.faults = FaultApplier(FastLane(app) if fast_lane else app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.faults.bind(scope["app"])
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec = api_for_path(scope["path"])
        if spec is None:
            if has_nul(scope):
                await render_for_path(Request(scope), 400, NUL_REFUSED)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = {}
        scope[SPEC_SCOPE_KEY] = spec
        started = time.perf_counter()
        declared = _content_length(scope)
        refused = None
        if declared is not None and declared > self.max_body:
            refused = (413, f"request body larger than {self.max_body} bytes")
        elif has_nul(scope):
            refused = (400, NUL_REFUSED)
        if refused is not None:
            response = render_for_path(Request(scope), *refused)
            await response(scope, receive, send)
            self._record(scope, spec, refused[0], started, b"", response.body, response.raw_headers)
            return

        request_body = bytearray()
        response_body = bytearray()
        status_box = [500]
        # The answer's headers as sent (bytes pairs): the journal's writer makes them text.
        headers_box: list[list[tuple[bytes, bytes]]] = [[]]
        answering = [False]  # the response has started
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

        request_id = caller_request_id(scope) or new_request_id()
        noted(scope)["request_id"] = request_id

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                answering[0] = True
                message["headers"] = headers_box[0] = [
                    *message.get("headers", []),
                    (REQUEST_ID, request_id.encode()),
                ]
            elif (
                message["type"] == "http.response.body" and journal_on and len(response_body) < keep
            ):
                response_body.extend(message.get("body", b"")[: keep - len(response_body)])
            await send(message)

        gate = self.gate
        if gate is not None and gate.writers and scope["method"] not in offloop.READ_METHODS:
            await gate.wait()
        try:
            await self.faults.handle(scope, spec, receive_limited, send_recording, status_box)
        except Exception as exc:
            # This middleware runs in front of FastAPI's own (core/app): what its error
            # middleware would do, it does (the app's handler answers, in the API's shape).
            if answering[0]:
                raise
            response = await error_response(Request(scope), exc)
            await response(scope, receive, send_recording)
        finally:
            # Always: the journal also feeds the metrics and the access log (it skips its own
            # storage when switched off).
            self._record(
                scope, spec, status_box[0], started, request_body, response_body, headers_box[0]
            )

    def _record(
        self,
        scope: Scope,
        spec: ApiSpec,
        status: int,
        started: float,
        body: bytes | bytearray | memoryview,
        out: bytes | bytearray | memoryview,
        response_headers: list[tuple[bytes, bytes]],
    ) -> None:
        info = noted(scope)
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", [])
            if k in _KEPT_HEADER_NAMES
        }
        self.journal.record(
            {
                "tenant_id": info.get("tenant_id"),
                "request_id": info.get("request_id"),
                "api": spec.name,
                "operation": spec.operation_name(scope),
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "fault": info.get("fault"),
                "request_headers": dump_json(headers).decode(),
                "request_body": _clip(bytes(body), self.body_limit),
                "response_body": _clip(bytes(out), self.body_limit),
                "response_headers": response_headers,
                "created_at": real_now(),
            }
        )


# No store keeps a NUL (PostgreSQL text cannot hold one): a path or query naming one names
# nothing any API or the admin API could have, in every API's own 400.
NUL_REFUSED = "The path or query string holds a NUL character (U+0000), which is not accepted"


def has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


REQUEST_ID = b"x-request-id"
_KEPT_HEADER_NAMES = frozenset(name.encode("latin-1") for name in KEPT_HEADERS)
# A request id the caller did not send: 16 random hex characters drawn once per process, then a
# counter (unique without asking the system for randomness on every request).
_ID_PREFIX = secrets.token_hex(8)
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


# A request id the caller sends is echoed when it is 1 to 128 visible ASCII characters; any
# other (longer, spaces, other bytes) is replaced by a new one rather than cut or re-encoded.
_CALLER_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")


def caller_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == REQUEST_ID:
            return value.decode("ascii") if _CALLER_REQUEST_ID.fullmatch(value) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
