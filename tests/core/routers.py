"""A small router per API, defined in the tests, to exercise the foundation's auth and error
shapes independently of the real API routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from simulator.clienttoolbox.auth import clienttoolbox_tenant
from simulator.core.clock import format_instant, tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.ids import next_value
from simulator.core.models import Tenant
from simulator.customergauge.auth import customergauge_tenant
from simulator.ecdp.auth import ecdp_tenant
from simulator.talonone.auth import talonone_tenant

router = APIRouter()


def whoami(tenant: Tenant) -> dict:
    return {"tenant": tenant.id, "now": format_instant(tenant_now(tenant))}


@router.get("/v4.1/test/whoami.json")
@router.get("/v4.1/test/whoami.xml")
async def customergauge_whoami(tenant: Tenant = Depends(customergauge_tenant)):
    return json_response(whoami(tenant))


@router.post("/api.php")
async def clienttoolbox_whoami(request: Request, session: Session = Depends(get_session)):
    # ClientToolbox's auth is called by its endpoint with the store it opened (no dependency).
    return json_response(whoami(await clienttoolbox_tenant(request, session)))


@router.get("/v1/test/whoami")
async def talonone_whoami(tenant: Tenant = Depends(talonone_tenant)):
    return json_response(whoami(tenant))


@router.get("/customers/test/whoami")
async def ecdp_whoami(tenant: Tenant = Depends(ecdp_tenant)):
    return json_response(whoami(tenant))


@router.post("/v1/test/counter")
async def talonone_counter(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
):
    await request.body()
    value = next_value(session, tenant.id, "test-counter")
    session.commit()
    return json_response({"value": value})


@router.get("/v1/test/boom")
async def talonone_boom(tenant: Tenant = Depends(talonone_tenant)):
    raise RuntimeError("unexpected")
