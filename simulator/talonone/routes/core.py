"""Talon.One routes, core part: sessions, returns, profiles, events and catalog sync.

HTTP only: read the query and body, call the service, answer with the documented status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.responses import Response

from simulator.core import fastsql, offloop, tenants
from simulator.core.admindeps import MAX_PAGE, MAX_START, path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import get_session, new_session
from simulator.core.dispatch import query_param, read_body
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.store import unit_of_work
from simulator.talonone.auth import api_key_of, talonone_tenant, talonone_tenant_of
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.core import TalonEvent, TalonSession
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import (
    parse_body,
    path_int,
    query_bool,
    query_dry,
    query_instant,
    query_silent,
)
from simulator.talonone.service import catalogs
from simulator.talonone.service.campaigns import load_config
from simulator.talonone.service.event_store import event_view
from simulator.talonone.service.events import track_event
from simulator.talonone.service.profiles import update_profile, update_profiles
from simulator.talonone.service.sessions.read import session_answer, session_for_key
from simulator.talonone.service.sessions.reopen import reopen_session
from simulator.talonone.service.sessions.returns import return_items
from simulator.talonone.service.sessions.store import not_found
from simulator.talonone.service.sessions.update import update_session
from simulator.talonone.service.sessions.views import session_view

router = APIRouter(tags=["talonone"])


def evaluation_instant(request: Request, tenant: Tenant, dry: bool) -> datetime:
    """The tenant's clock, or `now` (future only, dry only) as documented."""
    now = tenant_now(tenant)
    given = query_param(request, "now")
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


def commit_or_rollback(db: Session | fastsql.Lease, dry: bool) -> None:
    if dry:
        db.rollback()
    else:
        fastsql.commit(db)


# The two hot endpoints open their lease on the store and check the API key themselves (the same
# `talonone_tenant` checks, in the same order) instead of through FastAPI dependencies, whose
# solving costs about as much as the request's SQL.


@OPERATIONS.route(router, "UpdateCustomerSessionV2")
async def update_customer_session_v2(customerSessionId: str, request: Request) -> Response:
    # The body is read (not parsed) first: from the key check to the commit nothing awaits, so
    # the request keeps one connection and one transaction.
    raw = await read_body(request)
    with fastsql.write_lease(request.app.state.engine, grouped=True) as db:
        tenant = talonone_tenant_of(request, db, release=False)
        check_session_id(customerSessionId)
        dry = query_bool(query_param(request, "dry"), "dry")
        now = evaluation_instant(request, tenant, dry)
        body = parse_body(raw)
        result = update_session(db, tenant, now, customerSessionId, body, dry=dry)
        commit_or_rollback(db, dry)
    await db.committed()
    return json_response(result)


@OPERATIONS.route(router, "GetCustomerSession")
async def get_customer_session(customerSessionId: str, request: Request) -> Response:
    """One query finds key and session together (as ECDP's lookups); without a row, the key
    check answers 401 for a wrong key, and a right key means the session is unknown: 404."""
    with fastsql.read_lease(request.app.state.engine) as db:
        key = api_key_of(request)
        row = session_for_key(db, key, customerSessionId) if key else None
        if row is None:
            talonone_tenant_of(request, db)
            raise not_found(customerSessionId)
        tenants.admit_found(request, row.tenant_id, row.quota_requests_per_second)
        result = session_answer(db, row)
    return json_response(result)


@OPERATIONS.route(router, "ReopenCustomerSession")
async def reopen_customer_session(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    with unit_of_work(db):
        result = reopen_session(db, tenant, tenant_now(tenant), customerSessionId)
    return json_response(result)


@OPERATIONS.route(router, "ReturnCartItems")
async def return_cart_items(
    customerSessionId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    dry = query_bool(query_param(request, "dry"), "dry")
    query_bool(query_param(request, "runRuleEngine"), "runRuleEngine")
    body = parse_body(await request.body())
    result = return_items(
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


@OPERATIONS.route(router, "UpdateCustomerProfileV2")
async def update_customer_profile_v2(
    integrationId: str,
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    run = query_bool(query_param(request, "runRuleEngine"), "runRuleEngine")
    dry = query_bool(query_param(request, "dry"), "dry")
    body = parse_body(await request.body())
    result = update_profile(
        db, tenant, tenant_now(tenant), integrationId, body, run_rule_engine=run, dry=dry
    )
    commit_or_rollback(db, dry)
    return json_response(result)


@OPERATIONS.route(router, "UpdateCustomerProfilesV2")
async def update_customer_profiles_v2(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    silent = query_silent(query_param(request, "silent"))
    body = parse_body(await request.body())
    with unit_of_work(db):
        states = update_profiles(db, tenant, tenant_now(tenant), body)
    if silent:
        return Response(status_code=204)
    return json_response({"integrationStates": states})


@OPERATIONS.route(router, "TrackEventV2")
async def track_event_v2(request: Request) -> Response:
    """A plain endpoint on a grouped write lease, as the session update (and for the same
    reason): the body is read first, then nothing awaits until the commit."""
    raw = await read_body(request)
    with fastsql.write_lease(request.app.state.engine, grouped=True) as db:
        tenant = talonone_tenant_of(request, db, release=False)
        silent = query_silent(query_param(request, "silent"))
        dry = query_dry(
            query_param(request, "dry"), query_param(request, "forceCompleteEvaluation")
        )
        body = parse_body(raw)
        result = track_event(db, tenant, tenant_now(tenant), body, dry=dry)
        commit_or_rollback(db, dry)
    await db.committed()
    if silent:
        return Response(status_code=204)
    return json_response(result)


@OPERATIONS.route(router, "SyncCatalog")
async def sync_catalog(
    catalogId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
) -> Response:
    catalog_id = path_int(catalogId, "catalogId", minimum=0)
    raw = await request.body()
    engine, now = request.app.state.engine, tenant_now(tenant)
    result = await offloop.run(sync_catalog_call, engine, tenant.id, now, catalog_id, raw)
    return json_response(result)


def sync_catalog_call(
    engine: Engine, tenant_id: str, now: datetime, catalog_id: int, raw: bytes
) -> dict[str, Any]:
    """A catalog sync (thousands of actions) in a worker thread, one transaction (core/offloop)."""
    body = parse_body(raw)
    with new_session(engine) as db, offloop.writing(engine), unit_of_work(db):
        return catalogs.sync_catalog(db, tenant_id, now, catalog_id, body)


# --- admin inspection (register with `admin_routers=[admin_router]` on the package SPEC) ------

admin_router = APIRouter(
    prefix="/__admin/tenants/{tenant_id}/talonone",
    tags=["admin"],
)
ADMIN_LIMIT = 100


@admin_router.get("/sessions")
async def admin_sessions(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(path_tenant),
    start: int = Query(default=0, ge=0, le=MAX_START),
    limit: int = Query(default=ADMIN_LIMIT, ge=1, le=MAX_PAGE),
) -> Response:
    """The tenant's newest sessions (filters: profileId, state), with their current effects;
    `start` and `limit` page them."""
    profile_id = query_param(request, "profileId")
    state = query_param(request, "state")
    config = load_config(db, tenant.id)
    statement = select(TalonSession).where(TalonSession.tenant_id == tenant.id)
    if profile_id is not None:
        statement = statement.where(TalonSession.profile_id == profile_id)
    if state is not None:
        statement = statement.where(TalonSession.state == state)
    rows = db.exec(statement.order_by(col(TalonSession.id).desc()).offset(start).limit(limit)).all()
    return json_response(
        [{"customerSession": session_view(config, s), "effects": s.effects} for s in rows]
    )


@admin_router.get("/events")
async def admin_events(
    request: Request,
    db: Session = Depends(get_session),
    tenant: Tenant = Depends(path_tenant),
) -> Response:
    """The tenant's newest stored events (filters: profileId, type)."""
    config = load_config(db, tenant.id)
    statement = select(TalonEvent).where(TalonEvent.tenant_id == tenant.id)
    profile_id = query_param(request, "profileId")
    if profile_id is not None:
        statement = statement.where(TalonEvent.profile_id == profile_id)
    event_type = query_param(request, "type")
    if event_type is not None:
        statement = statement.where(TalonEvent.type == event_type)
    rows = db.exec(statement.order_by(col(TalonEvent.id).desc()).limit(ADMIN_LIMIT)).all()
    return json_response([event_view(config.application_id, e) for e in rows])


@admin_router.get("/campaigns")
async def admin_campaigns(
    db: Session = Depends(get_session), tenant: Tenant = Depends(path_tenant)
) -> Response:
    """The campaigns the rule engine runs for this tenant, as loaded from its fixtures."""
    return json_response(load_config(db, tenant.id).campaigns or [])
