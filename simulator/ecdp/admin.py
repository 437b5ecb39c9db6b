"""Admin inspection of ECDP: the consent confirmation messages "sent" to customers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import Session
from starlette.responses import Response

from simulator.admin.deps import path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.ecdp import service

router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/ecdp",
    tags=["admin: ecdp"],
)


@router.get("/confirmations")
async def list_confirmations(
    customerId: int | None = None,  # noqa: N803 (the API's own spelling)
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Every confirmation message sent for consents set to AwaitingConfirmation, oldest first."""
    rows = service.list_confirmations(session, tenant.id, customerId)
    return json_response({"confirmations": [service.confirmation_view(r) for r in rows]})


@router.post("/confirmations/{confirmation_id}/confirm")
async def confirm(
    confirmation_id: int,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Act as the customer clicking the link: the consents it awaited become True."""
    message = service.confirm(session, tenant.id, confirmation_id, tenant_now(tenant))
    if message is None:
        raise HTTPException(404, f"no confirmation message {confirmation_id}")
    return json_response(service.confirmation_view(message))
