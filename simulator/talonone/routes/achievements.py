"""Talon.One routes: a customer's achievements and its progress history in one, and the admin
view of the tenant's achievements. Query strings are read with the loyalty routes' `Query`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import fastsql
from simulator.core.admindeps import path_tenant
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import parse_int
from simulator.talonone.auth import talonone_tenant_of
from simulator.talonone.errors import TalonOneError
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import Query, bad_parameter
from simulator.talonone.service import achievements
from simulator.talonone.service.achievement_fixtures import export_achievements
from simulator.talonone.service.customer_data import require_stored_profile

router = APIRouter(tags=["talonone"])

ACHIEVEMENT_STATUSES = ("active", "scheduled")
PROGRESS_STATUSES = ("inprogress", "completed", "not_started")
HISTORY_STATUSES = ("inprogress", "completed", "expired")
DEFAULT_PAGE_SIZE = 1000


def chosen(query: Query, name: str, allowed: tuple[str, ...]) -> set[str] | None:
    values = query.many(name)
    for value in values or []:
        if value not in allowed:
            raise bad_parameter(name, f"{name} must be one of the following: {', '.join(allowed)}")
    return set(values) if values else None


def integers(query: Query, name: str) -> set[int] | None:
    values = query.many(name)
    if not values:
        return None
    found = set()
    for value in values:
        for part in value.split(","):
            number = parse_int(part.strip())
            if number is None:
                raise bad_parameter(name, f"{name} must hold integers")
            found.add(number)
    return found


def paging(query: Query) -> tuple[int, int]:
    size = query.integer("pageSize", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= 1000:
        raise bad_parameter("pageSize", "pageSize must be between 1 and 1000")
    skip = query.integer("skip", 0)
    if skip < 0:
        raise bad_parameter("skip", "skip must not be negative")
    return skip, size


@OPERATIONS.route(router, "GetCustomerAchievements")
async def get_customer_achievements(
    integrationId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        query = Query(request.query_params)
        campaign_ids = integers(query, "campaignIds")
        achievement_ids = integers(query, "achievementIds")
        statuses = chosen(query, "achievementStatus", ACHIEVEMENT_STATUSES)
        progress = chosen(query, "currentProgressStatus", PROGRESS_STATUSES)
        skip, size = paging(query)
        require_stored_profile(db, tenant.id, integrationId)
        body = achievements.customer_achievements(
            db,
            tenant.id,
            tenant_now(tenant),
            integrationId,
            campaign_ids=campaign_ids,
            achievement_ids=achievement_ids,
            statuses=statuses,
            progress_statuses=progress,
            skip=skip,
            page_size=size,
        )
        return json_response(body)


@OPERATIONS.route(router, "GetCustomerAchievementHistory")
async def get_customer_achievement_history(
    integrationId: str,
    achievementId: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        achievement_id = parse_int(achievementId)
        if achievement_id is None:
            raise bad_parameter("achievementId", "achievementId must be an integer")
        query = Query(request.query_params)
        statuses = chosen(query, "progressStatus", HISTORY_STATUSES)
        start, end = query.instant("startDate"), query.instant("endDate")
        skip, size = paging(query)
        require_stored_profile(db, tenant.id, integrationId)
        body = achievements.achievement_history(
            db,
            tenant.id,
            tenant_now(tenant),
            integrationId,
            achievement_id,
            statuses=statuses,
            start=start,
            end=end,
            skip=skip,
            page_size=size,
        )
        if body is None:
            raise TalonOneError(
                404,
                f"Achievement {achievement_id} not found",
                title="Not found",
                parameter="achievementId",
            )
        return json_response(body)


admin_router = APIRouter(prefix="/__admin/tenants/{tenant_id}/talonone", tags=["admin"])


@admin_router.get("/achievements")
async def admin_achievements(
    tenant: Tenant = Depends(path_tenant), session: Session = Depends(get_session)
) -> Response:
    """The tenant's achievements and every customer's progress trackers, as fixtures write
    them (`campaignAchievements`, `achievementProgress`)."""
    return json_response(export_achievements(session, tenant))
