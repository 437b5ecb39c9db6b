"""Talon.One routes: the best prior price of catalog items, and the admin view of the price
history it reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.admindeps import path_tenant
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.talonone.auth import talonone_tenant
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import parse_body
from simulator.talonone.service.best_prior_price import best_prior_prices
from simulator.talonone.service.price_fixtures import observations

router = APIRouter(tags=["talonone"])


@OPERATIONS.route(router, "BestPriorPrice")
async def best_prior_price(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = parse_body(await request.body())
    return json_response(best_prior_prices(session, tenant.id, body))


admin_router = APIRouter(prefix="/__admin/tenants/{tenant_id}/talonone", tags=["admin"])


@admin_router.get("/price_history")
async def admin_price_history(
    sku: str | None = None,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Every price observation of the tenant (or of one SKU), oldest first, as fixtures write
    them (`priceHistory`)."""
    return json_response({"priceHistory": observations(session, tenant.id, sku)})
