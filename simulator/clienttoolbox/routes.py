"""ClientToolbox HTTP: one form endpoint (`/`, `/api.php`, `/admin.php`) dispatching on `type`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from starlette.responses import Response

from simulator.clienttoolbox import customers_batch, service, transactions_batch, writes
from simulator.clienttoolbox.auth import clienttoolbox_tenant, request_fields
from simulator.clienttoolbox.errors import ClientToolboxError, render
from simulator.clienttoolbox.operations import OPERATIONS
from simulator.core import fastsql, offloop
from simulator.core.clock import tenant_now
from simulator.core.db import new_session
from simulator.core.models import Tenant

router = APIRouter(tags=["clienttoolbox"])

SUPPORTED_API_VERSIONS = {"1.5", "1.6"}

Handler = Callable[[Request, Any, Tenant, dict[str, str]], Awaitable[dict[str, Any]]]


# The batches run in a worker thread, their store's lock held only to write (clienttoolbox/writes).


async def customers_batch_call(
    request: Request, session: Session, tenant: Tenant, fields: dict[str, str]
) -> dict[str, Any]:
    engine, seed = request.app.state.engine, request.app.state.settings.seed
    outcome = await offloop.run(
        writes.customers_batch_call, engine, tenant, fields, tenant_now(tenant), seed
    )
    return customers_batch.outcome_view(outcome)


async def batch_transactions_call(
    request: Request, session: Session, tenant: Tenant, fields: dict[str, str]
) -> dict[str, Any]:
    engine = request.app.state.engine
    outcome = await offloop.run(
        writes.batch_transactions_call, engine, tenant, fields, tenant_now(tenant)
    )
    return transactions_batch.outcome_view(outcome)


def read_call(function: Callable[..., dict[str, Any]]) -> Handler:
    async def call(
        request: Request, session: Session, tenant: Tenant, fields: dict[str, str]
    ) -> dict[str, Any]:
        return function(session, tenant, fields)

    return call


# The reads: every statement prepared (core/fastsql), so the auth and the read run on a bare
# read lease, without a Session (whose begin, connection checkout and close cost more than
# these reads' own SQL); they write nothing (the quotas keep their own unit of work), so the
# tenant row is trusted while the store version holds, as other reads do. Their functions
# never await, so the lease is not held across a wait.
READS: dict[str, Handler] = {
    "manage_fields": read_call(service.list_fields),
    "campaigns_list": read_call(service.list_campaigns),
    "campaign_rewards": read_call(service.campaign_rewards),
    "customer_find": read_call(service.find_customers),
    "customer_search": read_call(service.search_customers),
    "reports": read_call(service.customers_balances),
}
# The batches await their worker thread: a Session for their auth, handed back meanwhile.
HANDLERS: dict[str, Handler] = {
    "customers_batch": customers_batch_call,
    "batch_transactions": batch_transactions_call,
    **READS,
}


async def dispatch(request: Request) -> Response:
    """Every call: a plain endpoint (no FastAPI dependencies), so core/dispatch's fast lane
    serves it (docs/adr/0001-fast-lane.md); the session and the auth are what the
    dependencies gave, in the same order."""
    fields = await request_fields(request)  # the auth's first step; kept on the request
    engine = request.app.state.engine
    if (fields.get("type") or "").strip().lower() in READS:
        with fastsql.read_lease(engine) as db:
            tenant = await clienttoolbox_tenant(request, db)
            return await answer(request, db, tenant)
    with new_session(engine) as session:
        tenant = await clienttoolbox_tenant(request, session)
        return await answer(request, session, tenant)


async def answer(request: Request, session: Session | fastsql.Lease, tenant: Tenant) -> Response:
    fields = await request_fields(request)
    call_type = (fields.get("type") or "").strip()
    version = (fields.get("api") or "").strip()
    if version and version not in SUPPORTED_API_VERSIONS:
        raise ClientToolboxError(400, f"Unsupported API version '{version}'")
    if not call_type:
        raise ClientToolboxError(400, "Missing type")
    handler = HANDLERS.get(call_type.lower())
    if handler is None:
        raise ClientToolboxError(400, f"Unknown type '{call_type}'")
    try:
        content = await handler(request, session, tenant, fields)
    except (IntegrityError, OperationalError):
        # Another process wrote the same customers at the same moment: nothing of this
        # batch was written; the client may send it again. (The request's session is
        # rolled back when it closes.)
        raise ClientToolboxError(
            409, "Another batch changed the same records at the same time; nothing was imported"
        ) from None
    return render(fields, "success", content)


# One route per path, for every call (clienttoolbox/operations.py); GET with query fields too.
OPERATIONS.add_call_route(
    router,
    dispatch,
    HANDLERS,
    methods=["GET", "POST"],
    include_in_schema=lambda path: path == "/",
)
