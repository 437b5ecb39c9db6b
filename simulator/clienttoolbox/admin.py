"""Admin for ClientToolbox: undo states (list, show, undo) and a customer's state."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from simulator.clienttoolbox import undo, writes
from simulator.clienttoolbox.models import CtBalance, CtCustomer, CtTransaction, CtUndoState
from simulator.clienttoolbox.parsing import number
from simulator.clienttoolbox.service import customer_view
from simulator.core import offloop
from simulator.core.admindeps import path_tenant
from simulator.core.clock import format_instant, tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import within
from simulator.core.store import end_reads

# Undo state numbers are batch numbers: positive, and a number beyond the column names none.
StateId = Annotated[int, Path(ge=1), within(CtUndoState.id)]

router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/clienttoolbox",
    tags=["admin: clienttoolbox"],
)


@router.get("/undo-states")
async def list_undo_states(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    return json_response({"undoStates": undo.list_states(session, tenant)})


@router.get("/undo-states/{state_id}")
async def get_undo_state(
    state_id: StateId,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    state = session.get(CtUndoState, (tenant.id, state_id))
    if state is None:
        raise HTTPException(404, f"no undo state {state_id}")
    return json_response(undo.state_view(state))


@router.post("/undo-states/{state_id}/undo")
async def undo_state(
    state_id: StateId,
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    now = tenant_now(tenant)
    end_reads(session)  # no connection held while the worker thread undoes (clienttoolbox/writes)
    try:
        result = await offloop.run(
            writes.undo_call, request.app.state.engine, tenant.id, state_id, now
        )
    except undo.UndoRefused as exc:
        return json_response(
            {"error": exc.message, "status": exc.status, **exc.extra}, status=exc.status
        )
    return json_response(result)


@router.get("/customers/{code}")
async def get_customer(
    code: str, tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    customer = session.get(CtCustomer, (tenant.id, code))
    if customer is None:
        raise HTTPException(404, f"no customer {code!r}")
    balances = session.execute(
        select(CtBalance)
        .where(CtBalance.tenant_id == tenant.id, CtBalance.customer_code == code)
        .order_by(CtBalance.campaign_id, CtBalance.item)
    ).scalars()
    transactions = session.execute(
        select(CtTransaction)
        .where(CtTransaction.tenant_id == tenant.id, CtTransaction.customer_code == code)
        .order_by(CtTransaction.id)
    ).scalars()
    view = customer_view(customer, None)
    view["lastBatch"] = customer.last_batch
    view["balances"] = [
        {"campaign_id": b.campaign_id, "item": b.item, "balance": number(b.balance)}
        for b in balances
    ]
    view["transactions"] = [
        {
            "id": t.id,
            "campaign_id": t.campaign_id,
            "redeemed": t.redeemed,
            "amount": t.amount,
            "value": number(t.value),
            "item": t.item,
            "date": t.date,
            "authorization": t.authorization,
            "promo_id": t.promo_id,
            "send_transaction_email": t.send_email,
            "custom_fields": json.loads(t.custom_fields),
            "batch": t.batch_id,
            "created": format_instant(t.created_at),
        }
        for t in transactions
    ]
    return json_response(view)
