"""Admin inspection of ECDP: the consent confirmation messages "sent" to customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import within
from simulator.ecdp.models import EcdpConfirmation
from simulator.ecdp.service import confirmations
from simulator.ecdp.service.views import confirmation_view

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
    message = confirmations.confirm(session, tenant.id, confirmation_id, tenant_now(tenant))
    if message is None:
        raise HTTPException(404, f"no confirmation message {confirmation_id}")
    view = confirmation_view(message)
    session.commit()
    return json_response(view)
