"""One pure-ASGI middleware in front of every API path: body ceiling, timing, journal, faults.

Handlers tell it which tenant and operation a request was for through `note()`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.core import faults, offloop
from simulator.core.clock import real_now
from simulator.core.dispatch import FastLane, error_response
from simulator.core.errors import BodyTooLarge, render_for_path
from simulator.core.faults import FaultError, Plan
from simulator.core.formats import dump_json
from simulator.core.journal import KEPT_HEADERS, Journal
from simulator.core.registry import SPEC_SCOPE_KEY, api_for_path

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
    # NUL is replaced too: PostgreSQL text cannot hold it (a damaged body may contain one).
    text = data[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text + ("…" if len(data) > limit else "")


class ApiMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, max_body: int, body_limit: int) -> None:
        self.app = app
        self.journal = journal
        self.max_body = max_body
        self.body_limit = body_limit
        # SQLite: a request that may write waits (off the loop) for this process's worker
        # threads in a write phase, rather than for their lock on the loop (core/offloop).
        self.gate = offloop.gate_of(journal.engine)
        # Plain endpoints are awaited directly, the rest goes through FastAPI (core/dispatch).
        self.faults = FaultApplier(FastLane(app))

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
            self._record(scope, spec.name, refused[0], started, b"", response.body)
            return

        request_body = bytearray()
        response_body = bytearray()
        status_box = [500]
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
                message["headers"] = [
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
            await self.faults.handle(scope, spec.name, receive_limited, send_recording, status_box)
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
            self._record(scope, spec.name, status_box[0], started, request_body, response_body)

    def _record(
        self, scope: Scope, api: str, status: int, started: float, body: bytes, out: bytes
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
                "api": api,
                "operation": info.get("operation", ""),
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "fault": info.get("fault"),
                "request_headers": dump_json(headers).decode(),
                "request_body": _clip(bytes(body), self.body_limit),
                "response_body": _clip(bytes(out), self.body_limit),
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


FAULT_HEADER = b"x-simulator-fault"
NO_RESPONSE = 0  # the journal's status of a request whose connection was dropped


class FaultApplier:
    """Decides, before the handler runs, whether a request gets a fault, and applies it.

    The no-rule path is a scan of the cached rule list; the operation (which may need the
    ClientToolbox form body), the tenant (a credential lookup) and the dice (a counter update)
    are only worked out when a rule still matches.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.engine: Any = None
        self.settings: Any = None
        self.flusher: asyncio.Task | None = None

    def bind(self, outer_app: Any) -> None:
        """Take engine and settings from the FastAPI app; store the --faults file's rules."""
        if self.engine is not None:
            return
        state = getattr(outer_app, "state", None)
        self.engine = getattr(state, "engine", None)
        self.settings = getattr(state, "settings", None)
        if self.engine is None:
            return
        faults.ensure_table(self.engine)
        path = getattr(self.settings, "faults", None)
        if path:
            faults.load_file(self.engine, path)

    async def handle(
        self, scope: Scope, api: str, receive: Receive, send: Send, status_box: list[int]
    ) -> None:
        if self.engine is None:
            self.bind(scope.get("app"))
        if self.engine is None:
            await self.app(scope, receive, send)
            return
        try:
            plan, receive = await self.plan(scope, api, receive)
            if plan is not None and not plan.empty:
                receive = await self.note_fault(scope, api, plan, receive)
        except FaultError as exc:
            response = render_for_path(Request(scope), 400, str(exc))
            await response(scope, receive, send)
            return
        except BodyTooLarge as exc:
            response = render_for_path(Request(scope), 413, str(exc))
            await response(scope, receive, send)
            return
        if plan is None or plan.empty:
            await self.app(scope, receive, send)
            return
        await self.apply(plan, scope, api, receive, send, status_box)

    def keep_flushing(self) -> None:
        """Write buffered hit counts even when the traffic stops (a task per process)."""
        if self.flusher is not None and not self.flusher.done():
            return
        if faults.has_pending_hits(self.engine):
            self.flusher = asyncio.get_running_loop().create_task(self.flush_forever())

    async def flush_forever(self) -> None:
        while faults.has_pending_hits(self.engine):
            await asyncio.sleep(faults.FLUSH_SECONDS)
            try:
                faults.flush_hits(self.engine)
            except Exception:  # counting must never take requests down; retried next round
                continue

    async def note_fault(self, scope: Scope, api: str, plan: Plan, receive: Receive) -> Receive:
        """Name the rules in the journal entry, and its tenant, so the tenant's journal shows
        the fault even though the handler (which would name the tenant) may never run."""
        info = noted(scope)
        info["fault"] = plan.fault_label
        handler_runs = plan.drop is None and plan.error is None  # it names the tenant itself
        if "tenant_id" not in info and not handler_runs:
            fields: dict[str, str] = {}
            if api == "clienttoolbox":
                fields, receive = await clienttoolbox_fields(scope, receive)
            tenant = resolve_tenant(self.engine, api, scope, fields)
            if tenant is not None:
                info["tenant_id"] = tenant.id
        return receive

    # --- deciding ---------------------------------------------------------------------------

    async def plan(self, scope: Scope, api: str, receive: Receive) -> tuple[Plan | None, Receive]:
        plan = None
        header = _header(scope, FAULT_HEADER)
        if header is not None and self.settings is not None and self.settings.allow_fault_header:
            plan = faults.parse_header(header, getattr(self.settings, "seed", 0))
        rules = faults.active_rules(self.engine)
        if not rules:
            return plan, receive
        method, path = scope["method"], scope["path"]
        headers = _headers(scope) if any(rule.headers for rule in rules) else {}
        candidates = [r for r in rules if r.matches_request(api, method, path, headers)]
        if not candidates:
            return plan, receive
        fields: dict[str, str] | None = None
        needs_fields = api == "clienttoolbox" and (
            any(r.operation for r in candidates) or any(r.tenant_id for r in candidates)
        )
        if needs_fields:
            fields, receive = await clienttoolbox_fields(scope, receive)
        if any(r.operation for r in candidates):
            operation = (
                (fields or {}).get("type")
                if api == "clienttoolbox"
                else faults.operation_from_path(api, method, path)
            )
            names = faults.operation_aliases(api, method, path, operation)
            candidates = [r for r in candidates if r.operation is None or r.operation in names]
        tenant = None
        if any(r.tenant_id for r in candidates):
            tenant = resolve_tenant(self.engine, api, scope, fields or {})
            if tenant is not None:
                noted(scope).setdefault("tenant_id", tenant.id)
            tenant_id = tenant.id if tenant is not None else None
            candidates = [r for r in candidates if r.tenant_id in (None, tenant_id)]
        if not candidates:
            return plan, receive
        seed = self.settings.seed if self.settings is not None else 0
        fired = faults.fire(self.engine, candidates, tenant, seed)
        self.keep_flushing()
        if not fired:
            return plan, receive
        return faults.plan_of(fired, plan), receive

    # --- applying ---------------------------------------------------------------------------

    async def apply(
        self,
        plan: Plan,
        scope: Scope,
        api: str,
        receive: Receive,
        send: Send,
        status_box: list[int],
    ) -> None:
        if plan.delay > 0:
            await asyncio.sleep(plan.delay)
        drop = plan.drop
        if drop is not None:
            if drop.processed:
                await self.app(scope, receive, _discard)
            status_box[0] = NO_RESPONSE
            await drop_connection(scope, drop)
            return
        if plan.error is not None:
            if api == "clienttoolbox":
                _, receive = await clienttoolbox_fields(scope, receive)
            response = faults.error_response(api, Request(scope), plan.error)
            await response(scope, receive, send)
            return
        damage = plan.damage
        if damage is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = await capture(self.app, scope, receive)
        if damage.action == "slow":
            await dribble(send, status, headers, body, damage.duration)
        elif damage.action == "malformed":
            await send_whole(send, 200, headers, faults.malformed(body))
        else:
            await truncate(scope, send, headers, body)


async def _discard(message: Message) -> None:
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body over once, then asks the real one."""
    pending = [True]

    async def replayed() -> Message:
        if pending[0]:
            pending[0] = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def clienttoolbox_fields(scope: Scope, receive: Receive) -> tuple[dict[str, str], Receive]:
    """The ClientToolbox fields (query and form), parsed the way its handlers parse them and
    cached on the request state they read; the body is replayed to the app afterwards."""
    cached = scope.get("state", {}).get("clienttoolbox_fields")
    if cached is not None:
        return cached, receive
    body = await read_body(receive) if scope["method"] == "POST" else b""
    from simulator.clienttoolbox.auth import request_fields

    try:
        fields = await request_fields(Request(scope, replay(body, receive)))
    except Exception:  # a form its handler will refuse in its own words
        fields = {k.lower(): v for k, v in Request(scope).query_params.items()}
    return fields, replay(body, receive)


def resolve_tenant(engine: Any, api: str, scope: Scope, fields: dict[str, str]) -> Any:
    """The tenant the request's credential selects, as the API's own auth would find it."""
    from simulator.core.db import new_session
    from simulator.core.tenants import by_credential

    headers = _headers(scope)
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    credential = ""
    if (api, scheme.lower()) in (("customergauge", "api_key"), ("talonone", "apikey-v1")):
        credential = value
    elif api == "ecdp":
        credential = headers.get("x-api-key", "").strip()
    elif api == "clienttoolbox":
        credential = (
            headers.get("api_access_key")
            or fields.get("user_api_key")
            or fields.get("user_password")
            or ""
        ).strip()
    if not credential:
        return None
    with new_session(engine) as session:
        return by_credential(session, api, credential)


async def drop_connection(scope: Scope, drop: Any) -> None:
    """Reset, close without answering, or hold then close; needs the socket (simulator.server).

    Without it (another server, the in-process test client) the request fails inside the app,
    which answers the API's own 500.
    """
    from simulator.server import control_of

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
    from simulator.server import control_of

    body = body if len(body) >= 2 else b'{"status":"ok"}'
    await send(
        {"type": "http.response.start", "status": 200, "headers": _with_length(headers, len(body))}
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    control = control_of(scope)
    if control is not None:
        control.close()
