"""Applying faults to API requests: decide, before the handler runs, whether a request gets one,
then delay it, answer an error in the API's own shape, drop the connection or damage the answer.

What a rule needs to know of a request beyond its method, path and headers it asks the request's
API, through its spec (core/registry): the operation (from the route the request will match;
ClientToolbox reads its form first, `spec.read_form`), the tenant (`spec.tenant_of`, the API's
own auth) and the error body (`spec.render_error`). Nothing here knows an API by name.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from simulator.core.db import new_session
from simulator.core.errors import BodyTooLarge, reason, render_for_path
from simulator.core.faults import dice, matching, network
from simulator.core.faults.document import load_file
from simulator.core.faults.header import parse_header
from simulator.core.faults.plan import Plan, plan_of
from simulator.core.faults.rules import ErrorAction, FaultError
from simulator.core.faults.store import ensure_table
from simulator.core.registry import ApiSpec
from simulator.core.requestinfo import noted

FAULT_HEADER = b"x-simulator-fault"
NO_RESPONSE = 0  # the journal's status of a request whose connection was dropped

DEFAULT_MESSAGES = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}


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
        ensure_table(self.engine)
        path = getattr(self.settings, "faults", None)
        if path:
            load_file(self.engine, path)

    async def handle(
        self, scope: Scope, spec: ApiSpec, receive: Receive, send: Send, status_box: list[int]
    ) -> None:
        if self.engine is None:
            self.bind(scope.get("app"))
        if self.engine is None:
            await self.app(scope, receive, send)
            return
        try:
            plan, receive = await self.plan(scope, spec, receive)
            if plan is not None and not plan.empty:
                receive = await self.note_fault(scope, spec, plan, receive)
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
        await self.apply(plan, scope, spec, receive, send, status_box)

    def keep_flushing(self) -> None:
        """Write buffered hit counts even when the traffic stops (a task per process)."""
        if self.flusher is not None and not self.flusher.done():
            return
        if dice.has_pending_hits(self.engine):
            self.flusher = asyncio.get_running_loop().create_task(self.flush_forever())

    async def flush_forever(self) -> None:
        while dice.has_pending_hits(self.engine):
            await asyncio.sleep(dice.FLUSH_SECONDS)
            try:
                dice.flush_hits(self.engine)
            except Exception:  # counting must never take requests down; retried next round
                continue

    async def note_fault(
        self, scope: Scope, spec: ApiSpec, plan: Plan, receive: Receive
    ) -> Receive:
        """Name the rules in the journal entry, and its tenant, so the tenant's journal shows
        the fault even though the handler (which would name the tenant) may never run."""
        info = noted(scope)
        info["fault"] = plan.fault_label
        handler_runs = plan.drop is None and plan.error is None  # it names the tenant itself
        if not handler_runs and spec.read_form is not None:
            receive = await spec.read_form(scope, receive)  # the operation may need it too
        if "tenant_id" not in info and not handler_runs:
            tenant = self.tenant_of(scope, spec)
            if tenant is not None:
                info["tenant_id"] = tenant.id
        return receive

    def tenant_of(self, scope: Scope, spec: ApiSpec) -> Any:
        """The tenant the request's credential selects, as the API's own auth finds it."""
        with new_session(self.engine) as session:
            return spec.tenant_of(session, Request(scope))

    # --- deciding ---------------------------------------------------------------------------

    async def plan(
        self, scope: Scope, spec: ApiSpec, receive: Receive
    ) -> tuple[Plan | None, Receive]:
        plan = None
        header = _header(scope, FAULT_HEADER)
        if header is not None and self.settings is not None and self.settings.allow_fault_header:
            plan = parse_header(header, getattr(self.settings, "seed", 0))
        rules = matching.active_rules(self.engine)
        if not rules:
            return plan, receive
        method, path = scope["method"], scope["path"]
        headers = _headers(scope) if any(rule.headers for rule in rules) else {}
        candidates = [r for r in rules if r.matches_request(spec.name, method, path, headers)]
        if not candidates:
            return plan, receive
        asks_operation = any(r.operation for r in candidates)
        if spec.read_form is not None and (asks_operation or any(r.tenant_id for r in candidates)):
            receive = await spec.read_form(scope, receive)
        if asks_operation:
            operation = spec.operation_for(scope)
            names = operation.names if operation is not None else ()
            candidates = [r for r in candidates if r.operation is None or r.operation in names]
        tenant = None
        if any(r.tenant_id for r in candidates):
            tenant = self.tenant_of(scope, spec)
            if tenant is not None:
                noted(scope).setdefault("tenant_id", tenant.id)
            tenant_id = tenant.id if tenant is not None else None
            candidates = [r for r in candidates if r.tenant_id in (None, tenant_id)]
        if not candidates:
            return plan, receive
        seed = self.settings.seed if self.settings is not None else 0
        fired = dice.fire(self.engine, candidates, tenant, seed)
        self.keep_flushing()
        if not fired:
            return plan, receive
        return plan_of(fired, plan), receive

    # --- applying ---------------------------------------------------------------------------

    async def apply(
        self,
        plan: Plan,
        scope: Scope,
        spec: ApiSpec,
        receive: Receive,
        send: Send,
        status_box: list[int],
    ) -> None:
        if plan.delay > 0:
            await asyncio.sleep(plan.delay)
        drop = plan.drop
        if drop is not None:
            if drop.processed:
                await self.app(scope, receive, network.discard)
            status_box[0] = NO_RESPONSE
            await network.drop_connection(scope, drop)
            return
        if plan.error is not None:
            response = error_response(spec, Request(scope), plan.error)
            await response(scope, receive, send)
            return
        damage = plan.damage
        if damage is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = await network.capture(self.app, scope, receive)
        if damage.action == "slow":
            await network.dribble(send, status, headers, body, damage.duration)
        elif damage.action == "malformed":
            await network.send_whole(send, 200, headers, network.malformed(body))
        else:
            await network.truncate(scope, send, headers, body)


def error_message(spec: ApiSpec, error: ErrorAction) -> str:
    """The rule's message, else the API's own for the status, else a generic one."""
    if error.message:
        return error.message
    return spec.fault_messages.get(error.status) or DEFAULT_MESSAGES.get(
        error.status, reason(error.status)
    )


def error_response(spec: ApiSpec, request: Request, error: ErrorAction) -> Any:
    """The API's own error body for an injected error (its renderer; a rule's `code` replaces
    the API's native code where it has one), with `Retry-After` where asked (and always on a
    429) and the rule's headers."""
    response = spec.render_error(request, error.status, error_message(spec, error), error.code)
    retry_after = error.retry_after
    if retry_after is None and error.status == 429:
        retry_after = 1
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
