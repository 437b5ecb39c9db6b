"""Admin API: health, tenants, request journal, clocks, fixture export."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from simulator.admin.guard import caller_of
from simulator.core import clock, fixtures, journal, offloop, quotas, tenants, verification
from simulator.core.admindeps import path_tenant
from simulator.core.db import get_session, new_session, ping
from simulator.core.fixtures import FixtureError
from simulator.core.formats import json_response
from simulator.core.metrics import read_gauges
from simulator.core.models import Tenant
from simulator.core.storable import JsonRefused, StoredText, read_json, within
from simulator.core.store import end_reads, unit_of_work

# Who may call what is decided in front of every route, in one place (admin/guard.py).
router = APIRouter(prefix="/__admin", tags=["admin"])


def fixture_error(exc: FixtureError) -> HTTPException:
    return HTTPException(400, f"fixtures refused: {exc}")


@router.get("/health")
async def health(request: Request) -> Response:
    try:
        ping(request.app.state.engine)
    except Exception as exc:  # the store does not answer
        return json_response({"status": "unavailable", "error": str(exc)}, status=503)
    return json_response({"status": "ok"})


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText | None = Field(default=None, max_length=200)
    # An inline document's text and numbers are checked with the rest of it (fixtures.validate).
    fixtures: str | dict[str, Any] | None = None


@router.post("/tenants", status_code=201)
async def create_tenant(body: TenantCreate, request: Request) -> Response:
    """The operator's, or (open sign-up, no token) a sign-up the guard has let through: its
    tenant gets the sign-up records quota."""
    settings = request.app.state.settings
    records_quota = settings.signup_max_records if caller_of(request) == "signup" else None
    engine = request.app.state.engine
    try:
        tenant = await offloop.run(
            create_tenant_call, engine, settings, body.name, body.fixtures, records_quota
        )
    except FixtureError as exc:
        return json_response({"error": "fixtures refused", **exc.as_dict()}, status=400)
    except quotas.TooManyRecords as exc:
        return json_response({"error": str(exc), "status": 413}, status=413)
    return json_response(tenants.describe(tenant), status=201)


# A fixture load (50,000 generated customers: seconds) runs in a worker thread (core/offloop).


def create_tenant_call(
    engine: Any,
    settings: Any,
    name: str | None,
    fixtures: str | dict | None,
    records_quota: int | None,
) -> Tenant:
    """A request names a set or sends the document: files are the operator's."""
    with new_session(engine) as session:
        return tenants.create(
            session, settings, name, fixtures, allow_paths=False, records_quota=records_quota
        )


def reset_tenant_call(engine: Any, settings: Any, tenant_id: str) -> Tenant | None:
    with new_session(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is not None:
            tenants.reset(session, tenant, settings)
        return tenant


@router.get("/tenants")
async def list_tenants(session: Session = Depends(get_session)) -> Response:
    rows = session.execute(select(Tenant).order_by(Tenant.created_at)).scalars()
    return json_response({"tenants": [tenants.describe(t) for t in rows]})


@router.get("/tenants/{tenant_id}")
async def get_tenant(tenant: Tenant = Depends(path_tenant)) -> Response:
    return json_response(tenants.describe(tenant))


@router.delete("/tenants/{tenant_id}", status_code=204)
async def delete_tenant(
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    tenant_id = tenant.id
    end_reads(session)  # no connection held while the worker thread deletes
    await offloop.run(delete_tenant_call, request.app.state.engine, tenant_id)
    return Response(status_code=204)


def delete_tenant_call(engine: Any, tenant_id: str) -> None:
    """All of a tenant's rows (hundreds of thousands for a large one) in a worker thread."""
    with new_session(engine) as session, offloop.writing(engine):
        tenant = session.get(Tenant, tenant_id)
        if tenant is not None:
            tenants.remove(session, tenant)


@router.post("/tenants/{tenant_id}/reset")
async def reset_tenant(
    request: Request,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    tenant_id = tenant.id
    end_reads(session)  # no connection held while the worker thread loads
    engine, settings = request.app.state.engine, request.app.state.settings
    try:
        reset = await offloop.run(reset_tenant_call, engine, settings, tenant_id)
    except FixtureError as exc:
        return json_response({"error": "fixtures refused", **exc.as_dict()}, status=400)
    if reset is None:  # deleted meanwhile
        raise HTTPException(404, f"no tenant {tenant_id!r}")
    return json_response(tenants.describe(reset))


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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seconds: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)
    days: float = Field(default=0, ge=0)

    def parts(self) -> dict[str, float]:
        """Each field as seconds (1e308 days overflows to inf, which the clock refuses)."""
        return {
            "days": 86400 * self.days,
            "hours": 3600 * self.hours,
            "minutes": 60 * self.minutes,
            "seconds": self.seconds,
        }

    def largest_field(self) -> str:
        """The field that moves the clock furthest: the one an out-of-range error names."""
        parts = self.parts()
        return max(parts, key=lambda name: parts[name])


@router.get("/tenants/{tenant_id}/clock")
async def get_clock(tenant: Tenant = Depends(path_tenant)) -> Response:
    return json_response(clock_view(tenant))


@router.put("/tenants/{tenant_id}/clock")
async def put_clock(
    body: ClockSet,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    try:
        with unit_of_work(session):
            clock.set_clock(session, tenant, body.now, body.frozen)
    except clock.ClockOutOfRange as exc:
        raise HTTPException(400, str(exc)) from None
    return json_response(clock_view(tenant))


@router.post("/tenants/{tenant_id}/clock/advance")
async def advance_clock(
    body: ClockAdvance,
    tenant: Tenant = Depends(path_tenant),
    session: Session = Depends(get_session),
) -> Response:
    try:
        with unit_of_work(session):
            clock.advance_clock(session, tenant, sum(body.parts().values()), body.largest_field())
    except clock.ClockOutOfRange as exc:
        raise HTTPException(400, str(exc)) from None
    return json_response(clock_view(tenant))


# --- request journal ---------------------------------------------------------------------


Filter = Annotated[str | None, Query()]


def refused(exc: verification.VerificationError) -> HTTPException:
    return HTTPException(400, str(exc))


def settled(request: Request, tenant: str | None) -> None:
    """Everything journaled so far stored (and trimmed) before a read."""
    request.app.state.journal.settle({tenant} if tenant is not None else None)


@router.get("/requests")
async def list_requests(
    request: Request,
    tenant: Filter = None,
    api: Filter = None,
    operation: Filter = None,
    method: Filter = None,
    path: Filter = None,
    query: Filter = None,
    status: Filter = None,
    fault: Filter = None,
    since: Filter = None,
    until: Filter = None,
    before: Filter = None,
    after: Filter = None,
    q: Filter = None,
    limit: Filter = None,
) -> Response:
    """The request journal, newest first, filtered by any field it shows (docs/admin.md); an
    unknown filter, api or operation is a 400."""
    try:
        where = verification.query_filter(dict(request.query_params))
    except verification.VerificationError as exc:
        raise refused(exc) from None
    settled(request, where.tenant)
    entries = journal.search(request.app.state.engine, where)
    return json_response({"requests": entries, "count": len(entries)})


@router.get("/requests/unmatched")
async def list_unmatched_requests(
    request: Request,
    tenant: Filter = None,
    api: Filter = None,
    method: Filter = None,
    path: Filter = None,
    query: Filter = None,
    status: Filter = None,
    since: Filter = None,
    until: Filter = None,
    before: Filter = None,
    after: Filter = None,
    q: Filter = None,
    limit: Filter = None,
) -> Response:
    """Requests no declared operation served (a path or method the API does not have, a
    ClientToolbox `type` it does not have), each with the nearest declared operation."""
    allowed = tuple(f for f in verification.QUERY_FILTERS if f not in ("operation", "fault"))
    try:
        where = verification.query_filter(dict(request.query_params), allowed)
    except verification.VerificationError as exc:
        raise refused(exc) from None
    settled(request, where.tenant)
    where.unmatched = True
    entries = [
        verification.with_nearest(e) for e in journal.search(request.app.state.engine, where)
    ]
    return json_response({"requests": entries, "count": len(entries)})


async def matched(request: Request) -> verification.Selection:
    """The entries the body's matcher selects (the body matchers tested on each)."""
    try:
        matcher = verification.request_matcher(read_json(await request.body() or b"null"))
        where = matcher.journal_filter()
    except JsonRefused as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from None
    except verification.VerificationError as exc:
        raise refused(exc) from None
    settled(request, where.tenant)
    engine = request.app.state.engine
    if not matcher.body:
        entries = journal.search(engine, replace(where, limit=matcher.limit))
        return verification.Selection(entries, journal.count(engine, where))
    return verification.select(journal.scan(engine, where), matcher, matcher.limit)


@router.post("/requests/count")
async def count_requests(request: Request) -> Response:
    """How many journaled requests match (WireMock's verify): `{"count": n}`."""
    return json_response({"count": (await matched(request)).count})


@router.post("/requests/find")
async def find_requests(request: Request) -> Response:
    """The journaled requests that match, newest first (at most the matcher's `limit`)."""
    selection = await matched(request)
    return json_response({"requests": selection.entries, "count": selection.count})


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
    with unit_of_work(session):
        tenant.quota_requests_per_second = body.requestsPerSecond
        tenant.quota_records = body.records
        tenant.quota_journal_entries = body.journalEntries
        session.add(tenant)
    return json_response(quota_view(tenant))


metrics_router = APIRouter(tags=["admin"])


@metrics_router.get("/metrics")
async def metrics(request: Request) -> Response:
    from simulator.core.registry import api_specs

    gauges = [gauge for spec in api_specs() for gauge in spec.gauges]
    counters = request.app.state.metrics.render_counters()
    # The gauges count rows (a mail queue may hold millions): off the event loop.
    read = partial(read_gauges, request.app.state.engine, gauges)
    text = counters + await anyio.to_thread.run_sync(read)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
