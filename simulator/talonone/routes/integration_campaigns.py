"""Talon.One routes: the running campaigns as the integration sees them. Query strings are read
with the loyalty routes' `Query` (the same 400s naming the parameter)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from simulator.core import fastsql
from simulator.core.clock import tenant_now
from simulator.core.formats import json_response
from simulator.talonone.auth import talonone_tenant_of
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import Query
from simulator.talonone.routes.achievements import integers
from simulator.talonone.service.campaign_listing import running_campaigns_page

router = APIRouter(tags=["talonone"])

BOUNDS = ("startAfter", "startBefore", "endAfter", "endBefore")


@OPERATIONS.route(router, "IntegrationGetAllCampaigns")
async def integration_get_all_campaigns(
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        page_size, skip = query.page(default_size=50)  # the spec's default
        campaign_ids = integers(query, "campaignIds")
        bounds = {name: query.instant(name) for name in BOUNDS}
        body = running_campaigns_page(
            db,
            tenant.id,
            tenant_now(tenant),
            campaign_ids=campaign_ids,
            bounds=bounds,
            skip=skip,
            page_size=page_size,
        )
        return json_response(body)
