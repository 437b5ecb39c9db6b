"""Admin API: health, tenants, request journal, clocks, fixture export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from simulator.admin.deps import path_tenant, require_admin, token_ok
from simulator.core import clock, fixtures, journal, tenants
from simulator.core.db import get_session, ping
from simulator.core.fixtures import FixtureError
from simulator.core.formats import json_response
from simulator.core.models import JournalEntry, Tenant
from simulator.core.storable import StoredText, stored_document, within

public = APIRouter(prefix="/__admin", tags=["admin"])
router = APIRouter(prefix="/__admin", tags=["admin"], dependencies=[Depends(require_admin)])


def fixture_error(exc: FixtureError) -> HTTPException:
    return HTTPException(400, f"fixtures refused: {exc}")


@public.get("/health")
async def health(request: Request) -> Response:
    try:
        ping(request.app.state.engine)
    except Exception as exc:  # the store does not answer
        return json_response({"status": "unavailable", "error": str(exc)}, status=503)
    return json_response({"status": "ok"})


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText | None = Field(default=None, max_length=200)
    fixtures: Annotated[str | dict[str, Any] | None, AfterValidator(stored_document)] = None


@public.post("/tenants", status_code=201)
async def create_tenant(
    body: TenantCreate, request: Request, session: Session = Depends(get_session)
) -> Response:
    settings = request.app.state.settings
    if not (settings.open_signup or token_ok(request)):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})
    try:
        tenant = tenants.create(session, settings, body.name, body.fixtures)
    except FixtureError as exc:
        return json_response({"error": "fixtures refused", **exc.as_dict()}, status=400)
    return json_response(tenants.describe(tenant), status=201)


@router.get("/tenants")
async def list_tenants(session: Session = Depends(get_session)) -> Response:
    rows = session.execute(select(Tenant).order_by(Tenant.created_at)).scalars()
    return json_response({"tenants": [tenants.describe(t) for t in rows]})


@router.get("/tenants/{tenant_id}")
async def get_tenant(tenant: Tenant = Depends(path_tenant)) -> Response:
    return json_response(tenants.describe(tenant))


@router.delete("/tenants/{tenant_id}", status_code=204)
async def delete_tenant(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    tenants.remove(session, tenant)
    return Response(status_code=204)


@router.post("/tenants/{tenant_id}/reset")
async def reset_tenant(
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    try:
        tenants.reset(session, tenant, request.app.state.settings)
    except FixtureError as exc:
        return json_response({"error": "fixtures refused", **exc.as_dict()}, status=400)
    return json_response(tenants.describe(tenant))


@router.get("/tenants/{tenant_id}/fixtures")
async def export_fixtures(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    return json_response(fixtures.export(session, tenant))


# --- clock -------------------------------------------------------------------------------


def clock_view(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant": tenant.id,
        "now": clock.format_instant(clock.tenant_now(tenant)),
        "frozen": tenant.clock_frozen,
        "offsetSeconds": tenant.clock_offset_seconds if not tenant.clock_frozen else None,
    }


class ClockSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    now: datetime | None = None
    frozen: bool | None = None


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)
    days: float = Field(default=0, ge=0)

    def total_seconds(self) -> float:
        return self.seconds + 60 * self.minutes + 3600 * self.hours + 86400 * self.days


@router.get("/tenants/{tenant_id}/clock")
async def get_clock(tenant: Tenant = Depends(path_tenant)) -> Response:
    return json_response(clock_view(tenant))


@router.put("/tenants/{tenant_id}/clock")
async def put_clock(
    body: ClockSet,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    now = body.now
    if now is not None and now.tzinfo is None:
        now = clock.parse_instant(now.isoformat())
    clock.set_clock(session, tenant, now, body.frozen)
    return json_response(clock_view(tenant))


@router.post("/tenants/{tenant_id}/clock/advance")
async def advance_clock(
    body: ClockAdvance,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    clock.advance_clock(session, tenant, body.total_seconds())
    return json_response(clock_view(tenant))


# --- request journal ---------------------------------------------------------------------


@router.get("/requests")
async def list_requests(
    request: Request,
    tenant: str | None = None,
    api: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status: Annotated[int | None, within(JournalEntry.status)] = None,
    since: datetime | None = None,
    limit: int = Query(default=100, ge=1, le=10_000),
) -> Response:
    request.app.state.journal.settle({tenant} if tenant is not None else None)
    if since is not None and since.tzinfo is None:
        since = clock.parse_instant(since.isoformat())
    entries = journal.search(
        request.app.state.engine,
        tenant=tenant,
        api=api,
        method=method,
        path=path,
        status=status,
        since=since,
        limit=limit,
    )
    return json_response({"requests": entries, "count": len(entries)})


@router.delete("/requests")
async def clear_requests(request: Request, tenant: str | None = None) -> Response:
    request.app.state.journal.flush()
    removed = journal.clear(request.app.state.engine, tenant)
    return json_response({"deleted": removed})


# --- operator controls: quotas, metrics ---------------------------------------------------


class QuotaSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requestsPerSecond: Annotated[int | None, within(Tenant.quota_requests_per_second)] = Field(
        default=None, ge=1
    )
    records: Annotated[int | None, within(Tenant.quota_records)] = Field(default=None, ge=0)
    journalEntries: Annotated[int | None, within(Tenant.quota_journal_entries)] = Field(
        default=None, ge=1
    )


def quota_view(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant": tenant.id,
        "requestsPerSecond": tenant.quota_requests_per_second,
        "records": tenant.quota_records,
        "journalEntries": tenant.quota_journal_entries,
    }


@router.get("/tenants/{tenant_id}/quotas")
async def get_quotas(tenant: Tenant = Depends(path_tenant)) -> Response:
    return json_response(quota_view(tenant))


@router.put("/tenants/{tenant_id}/quotas")
async def put_quotas(
    body: QuotaSet,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    """Set (or, with null, lift) the tenant's quotas."""
    tenant.quota_requests_per_second = body.requestsPerSecond
    tenant.quota_records = body.records
    tenant.quota_journal_entries = body.journalEntries
    session.add(tenant)
    session.commit()
    return json_response(quota_view(tenant))


metrics_router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])


@metrics_router.get("/metrics")
async def metrics(request: Request) -> Response:
    from simulator.core.registry import api_specs

    gauges = [gauge for spec in api_specs() for gauge in spec.gauges]
    text = request.app.state.metrics.render(request.app.state.engine, gauges)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
