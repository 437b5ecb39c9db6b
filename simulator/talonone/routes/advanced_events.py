"""Talon.One routes: advanced events (POST /v3/events, GET /v3/events/{integrationId}). The
query flags are read as TrackEventV2 reads them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import fastsql
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.dispatch import query_param
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.talonone.auth import talonone_tenant, talonone_tenant_of
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import parse_body, query_dry, query_silent
from simulator.talonone.routes.core import commit_or_rollback
from simulator.talonone.service.advanced_events import get_advanced_event, track_advanced_event

router = APIRouter(tags=["talonone"])


@OPERATIONS.route(router, "TrackEventV3")
async def track_event_v3(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    silent = query_silent(query_param(request, "silent"))
    dry = query_dry(query_param(request, "dry"), query_param(request, "forceCompleteEvaluation"))
    body = parse_body(await request.body())
    result = track_advanced_event(db, tenant, tenant_now(tenant), body, dry=dry)
    commit_or_rollback(db, dry)
    if silent:
        return Response(status_code=204)
    return json_response(result)


@OPERATIONS.route(router, "GetEventV3")
async def get_event_v3(
    integrationId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        return json_response(get_advanced_event(db, tenant, integrationId))
