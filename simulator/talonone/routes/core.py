"""Talon.One routes, core part: sessions, returns, profiles, events and catalog sync.

HTTP only: read the query and body, call the service, answer with the documented status.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.middleware import note
from simulator.core.models import Tenant
from simulator.talonone.auth import talonone_tenant
from simulator.talonone.errors import TalonOneError
from simulator.talonone.schemas import parse_body, query_bool, query_instant, query_silent
from simulator.talonone.service import catalogs, events, profiles, sessions

router = APIRouter(tags=["talonone"])


def evaluation_instant(request: Request, tenant: Tenant, dry: bool) -> datetime:
    """The tenant's clock, or `now` (future only, dry only) as documented."""
    now = tenant_now(tenant)
    given = request.query_params.get("now")
    if given is None:
        return now
    if not dry:
        raise TalonOneError(
            400, "now can only be used with dry=true", title="Invalid value", parameter="now"
        )
    instant = query_instant(given, "now")
    if instant < now:
        raise TalonOneError(
            400, "now must be a date in the future", title="Invalid value", parameter="now"
        )
    return instant


def check_session_id(value: str) -> None:
    if not 1 <= len(value) <= 1000:
        raise TalonOneError(
            400,
            "customerSessionId must be 1 to 1000 characters",
            title="Invalid value",
            parameter="customerSessionId",
        )


def commit_or_rollback(db: Session, dry: bool) -> None:
    if dry:
        db.rollback()
    else:
        db.commit()


@router.put("/v2/customer_sessions/{customerSessionId}")
async def update_customer_session_v2(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="UpdateCustomerSessionV2")
    check_session_id(customerSessionId)
    dry = query_bool(request.query_params.get("dry"), "dry")
    now = evaluation_instant(request, tenant, dry)
    body = parse_body(await request.body())
    result = sessions.update_session(db, tenant, now, customerSessionId, body, dry=dry)
    commit_or_rollback(db, dry)
    return json_response(result)


@router.get("/v2/customer_sessions/{customerSessionId}")
async def get_customer_session(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="GetCustomerSession")
    return json_response(sessions.read_session(db, tenant, customerSessionId))


@router.put("/v2/customer_sessions/{customerSessionId}/reopen")
async def reopen_customer_session(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="ReopenCustomerSession")
    result = sessions.reopen_session(db, tenant, tenant_now(tenant), customerSessionId)
    db.commit()
    return json_response(result)


@router.post("/v2/customer_sessions/{customerSessionId}/returns")
async def return_cart_items(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="ReturnCartItems")
    dry = query_bool(request.query_params.get("dry"), "dry")
    query_bool(request.query_params.get("runRuleEngine"), "runRuleEngine")
    body = parse_body(await request.body())
    result = sessions.return_items(
        db,
        tenant,
        tenant_now(tenant),
        customerSessionId,
        body,
        dry=dry,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    commit_or_rollback(db, dry)
    return json_response(result)


@router.put("/v2/customer_profiles/{integrationId}")
async def update_customer_profile_v2(
    integrationId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="UpdateCustomerProfileV2")
    run = query_bool(request.query_params.get("runRuleEngine"), "runRuleEngine")
    dry = query_bool(request.query_params.get("dry"), "dry")
    body = parse_body(await request.body())
    result = profiles.update_profile(
        db, tenant, tenant_now(tenant), integrationId, body, run_rule_engine=run, dry=dry
    )
    commit_or_rollback(db, dry)
    return json_response(result)


@router.put("/v2/customer_profiles")
async def update_customer_profiles_v2(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="UpdateCustomerProfilesV2")
    silent = query_silent(request.query_params.get("silent"))
    body = parse_body(await request.body())
    states = profiles.update_profiles(db, tenant, tenant_now(tenant), body)
    db.commit()
    if silent:
        return Response(status_code=204)
    return json_response({"integrationStates": states})


@router.post("/v2/events")
async def track_event_v2(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="TrackEventV2")
    silent = query_silent(request.query_params.get("silent"))
    dry = query_bool(request.query_params.get("dry"), "dry")
    if (
        query_bool(request.query_params.get("forceCompleteEvaluation"), "forceCompleteEvaluation")
        and not dry
    ):
        raise TalonOneError(
            400,
            "forceCompleteEvaluation can only be used with dry=true",
            title="Invalid value",
            parameter="forceCompleteEvaluation",
        )
    body = parse_body(await request.body())
    result = events.track_event(db, tenant, tenant_now(tenant), body, dry=dry)
    commit_or_rollback(db, dry)
    if silent:
        return Response(status_code=204)
    return json_response(result)


@router.put("/v1/catalogs/{catalogId}/sync")
async def sync_catalog(
    catalogId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    note(request, operation="SyncCatalog")
    if not catalogId.isdigit():
        raise TalonOneError(
            400, "catalogId must be an integer", title="Invalid value", parameter="catalogId"
        )
    body = parse_body(await request.body())
    result = catalogs.sync_catalog(db, tenant.id, tenant_now(tenant), int(catalogId), body)
    db.commit()
    return json_response(result)
