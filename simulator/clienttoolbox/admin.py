"""Admin for ClientToolbox: undo states (list, show, undo) and a customer's state."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import or_, select
from sqlmodel import Session
from starlette.responses import Response

from simulator.clienttoolbox import undo, writes
from simulator.clienttoolbox.models import (
    CtBalance,
    CtCampaign,
    CtCustomer,
    CtTransaction,
    CtUndoState,
)
from simulator.clienttoolbox.service import customer_view
from simulator.core import offloop
from simulator.core.admindeps import Paging, paging, path_tenant
from simulator.core.clock import format_instant, tenant_now
from simulator.core.db import contains, get_session
from simulator.core.formats import json_response, number
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
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    before: Annotated[int | None, Query(ge=1), within(CtUndoState.id)] = None,
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> Response:
    """Newest first; `before`: the states below this batch number (the next page)."""
    statement = select(CtUndoState).where(CtUndoState.tenant_id == tenant.id)
    if before is not None:
        statement = statement.where(CtUndoState.id < before)
    rows = session.execute(statement.order_by(CtUndoState.id.desc()).limit(limit)).scalars()
    return json_response({"undoStates": [undo.state_view(s) for s in rows]})


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
    view["transactions"] = [transaction_view(t) for t in transactions]
    return json_response(view)


def transaction_view(t: CtTransaction) -> dict[str, Any]:
    return {
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


# --- the Inspector's paged reads -----------------------------------------------------------


def campaign_view(campaign: CtCampaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "type": campaign.type,
        "currency": campaign.currency,
    }


@router.get("/campaigns")
async def list_campaigns(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    rows = session.execute(
        select(CtCampaign).where(CtCampaign.tenant_id == tenant.id).order_by(CtCampaign.id)
    ).scalars()
    return json_response({"campaigns": [campaign_view(c) for c in rows]})


@router.get("/customers")
async def list_customers(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    q: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    """Customers by code (`q`: a part of the code, e-mail, card number or last name), each
    with its balances."""
    statement = select(CtCustomer).where(CtCustomer.tenant_id == tenant.id)
    if q:
        statement = statement.where(
            or_(
                *(
                    contains(column, q)
                    for column in (
                        CtCustomer.code,
                        CtCustomer.email,
                        CtCustomer.card_number,
                        CtCustomer.last_name,
                    )
                )
            )
        )
    customers = list(
        session.execute(
            statement.order_by(CtCustomer.code).offset(page.start).limit(page.limit)
        ).scalars()
    )
    balances: dict[str, list[dict[str, Any]]] = {c.code: [] for c in customers}
    if customers:
        rows = session.execute(
            select(CtBalance)
            .where(CtBalance.tenant_id == tenant.id, CtBalance.customer_code.in_(list(balances)))
            .order_by(CtBalance.customer_code, CtBalance.campaign_id, CtBalance.item)
        ).scalars()
        for b in rows:
            balances[b.customer_code].append(
                {"campaign_id": b.campaign_id, "item": b.item, "balance": number(b.balance)}
            )
    return json_response(
        {
            "customers": [
                {
                    "code": c.code,
                    "name": f"{c.first_name} {c.last_name}".strip(),
                    "email": c.email,
                    "cardNumber": c.card_number,
                    "lastBatch": c.last_batch,
                    "balances": balances[c.code],
                }
                for c in customers
            ],
            "start": page.start,
        }
    )


@router.get("/customers/{code}/transactions")
async def list_transactions(
    code: str,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
) -> Response:
    """A customer's transactions, newest first."""
    if session.get(CtCustomer, (tenant.id, code)) is None:
        raise HTTPException(404, f"no customer {code!r}")
    rows = session.execute(
        select(CtTransaction)
        .where(CtTransaction.tenant_id == tenant.id, CtTransaction.customer_code == code)
        .order_by(CtTransaction.id.desc())
        .offset(page.start)
        .limit(page.limit)
    ).scalars()
    return json_response({"transactions": [transaction_view(t) for t in rows], "start": page.start})
