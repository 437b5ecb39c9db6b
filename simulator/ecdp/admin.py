"""Admin inspection of ECDP: the consent confirmation messages "sent" to customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import Paging, paging, path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import contains, get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import within
from simulator.core.store import unit_of_work
from simulator.ecdp.models import EcdpConfirmation, EcdpCustomer
from simulator.ecdp.service import confirmations
from simulator.ecdp.service.views import confirmation_view, customer_view

router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/ecdp",
    tags=["admin: ecdp"],
)


@router.get("/confirmations")
async def list_confirmations(
    customerId: Annotated[int | None, within(EcdpConfirmation.customer_id)] = None,  # noqa: N803
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Every confirmation message sent for consents set to AwaitingConfirmation, oldest first."""
    rows = confirmations.list_confirmations(session, tenant.id, customerId)
    return json_response({"confirmations": [confirmation_view(r) for r in rows]})


@router.post("/confirmations/{confirmation_id}/confirm")
async def confirm(
    confirmation_id: Annotated[int, within(EcdpConfirmation.id)],
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Act as the customer clicking the link: the consents it awaited become True."""
    with unit_of_work(session):
        message = confirmations.confirm(session, tenant.id, confirmation_id, tenant_now(tenant))
        if message is None:
            raise HTTPException(404, f"no confirmation message {confirmation_id}")
        view = confirmation_view(message)
    return json_response(view)


# --- the Inspector's customer search ------------------------------------------------------


@router.get("/customers")
async def list_customers(
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
    page: Paging = Depends(paging),
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    crmId: Annotated[str | None, Query(max_length=128)] = None,  # noqa: N803
) -> Response:
    """Customers by id, each as the API's GET shows it (consents included); `email`, `phone`
    and `crmId` keep those whose value contains the text (e-mail without regard to case)."""
    statement = select(EcdpCustomer).where(EcdpCustomer.tenant_id == tenant.id)
    if email:
        statement = statement.where(contains(EcdpCustomer.email_key, email.lower()))
    if phone:
        statement = statement.where(contains(EcdpCustomer.phone, phone))
    if crmId:
        statement = statement.where(contains(EcdpCustomer.crm_id, crmId))
    rows = session.execute(
        statement.order_by(EcdpCustomer.id).offset(page.start).limit(page.limit)
    ).scalars()
    return json_response(
        {
            "customers": [customer_view(row.model_dump()) for row in rows],
            "start": page.start,
        }
    )
