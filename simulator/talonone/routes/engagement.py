"""Talon.One routes: engagement part (coupon reservations, referrals, audiences, customer data,
customer inventory). HTTP only: parse, call the service, render the native response."""

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
from simulator.core.store import unit_of_work
from simulator.talonone.auth import talonone_tenant, talonone_tenant_of
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.parsing import (
    object_body,
    path_int,
    query_bool,
    query_silent,
    validate_model,
)
from simulator.talonone.service import audiences, coupons, customer_data, inventory, referrals

router = APIRouter(tags=["talonone"])


def no_content() -> Response:
    return Response(status_code=204)


# --- coupon reservations ----------------------------------------------------------------------


@OPERATIONS.route(router, "CreateCouponReservation")
async def create_coupon_reservation(
    couponValue: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = object_body(await request.body())
    ids = coupons.check_integration_ids(body)
    with unit_of_work(session):
        view = coupons.create_reservations(session, tenant.id, tenant_now(tenant), couponValue, ids)
    return json_response(view, status=201)


@OPERATIONS.route(router, "DeleteCouponReservation")
async def delete_coupon_reservation(
    couponValue: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = object_body(await request.body())
    ids = coupons.check_integration_ids(body)
    with unit_of_work(session):
        coupons.delete_reservations(session, tenant.id, couponValue, ids)
    return no_content()


@OPERATIONS.route(router, "GetReservedCustomers")
async def get_reserved_customers(
    couponValue: str,
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        data = coupons.reserved_customers(db, tenant, couponValue)
        return json_response({"totalResultSize": len(data), "data": data})


# --- referrals --------------------------------------------------------------------------------


@OPERATIONS.route(router, "CreateReferral")
async def create_referral(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = validate_model(referrals.NewReferral, object_body(await request.body()))
    seed = request.app.state.settings.seed
    with unit_of_work(session):
        view = referrals.create_referral(session, tenant.id, tenant_now(tenant), seed, body)
    return json_response(view, status=201)


@OPERATIONS.route(router, "CreateReferralsForMultipleAdvocates")
async def create_referrals_for_multiple_advocates(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    silent = query_silent(query_param(request, "silent"))
    body = validate_model(
        referrals.NewReferralsForMultipleAdvocates, object_body(await request.body())
    )
    seed = request.app.state.settings.seed
    with unit_of_work(session):
        views = referrals.create_referrals_for_advocates(
            session, tenant.id, tenant_now(tenant), seed, body
        )
    if silent:
        return no_content()
    return json_response({"totalResultSize": len(views), "data": views}, status=201)


# --- audiences --------------------------------------------------------------------------------


@OPERATIONS.route(router, "CreateAudienceV2")
async def create_audience(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = validate_model(audiences.NewAudience, object_body(await request.body()))
    with unit_of_work(session):
        view = audiences.create_audience(session, tenant.id, tenant_now(tenant), body)
    return json_response(view, status=201)


@OPERATIONS.route(router, "UpdateAudienceV2")
async def update_audience(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audience_id = path_int(audienceId, "audienceId")
    body = validate_model(audiences.UpdateAudience, object_body(await request.body()))
    with unit_of_work(session):
        view = audiences.rename_audience(session, tenant.id, audience_id, body.name)
    return json_response(view)


@OPERATIONS.route(router, "DeleteAudienceV2")
async def delete_audience(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    with unit_of_work(session):
        audiences.delete_audience(session, tenant.id, path_int(audienceId, "audienceId"))
    return no_content()


@OPERATIONS.route(router, "DeleteAudienceMembershipsV2")
async def delete_audience_memberships(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    with unit_of_work(session):
        audiences.delete_memberships(session, tenant.id, path_int(audienceId, "audienceId"))
    return no_content()


@OPERATIONS.route(router, "UpdateAudienceCustomersAttributes")
async def update_audience_customers_attributes(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audience_id = path_int(audienceId, "audienceId")
    body = object_body(await request.body())
    with unit_of_work(session):
        audiences.update_members_attributes(session, tenant.id, audience_id, body)
    return no_content()


@OPERATIONS.route(router, "UpdateCustomerProfileAudiences")
async def update_customer_profile_audiences(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = validate_model(
        audiences.CustomerProfileAudienceRequest, object_body(await request.body())
    )
    with unit_of_work(session):
        audiences.change_profile_audiences(session, tenant.id, tenant_now(tenant), body.data)
    return no_content()


# --- customer data and inventory --------------------------------------------------------------


@OPERATIONS.route(router, "DeleteCustomerData")
async def delete_customer_data(
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    with unit_of_work(session):
        customer_data.delete_customer_data(session, tenant.id, integrationId)
    return no_content()


@OPERATIONS.route(router, "GetCustomerInventory")
async def get_customer_inventory(integrationId: str, request: Request) -> Response:
    """A plain endpoint (core/dispatch's fast lane, as the other hot reads): no dependency for
    FastAPI to solve, which was a quarter of this read's time; the key is checked first, as the
    dependency did."""
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = talonone_tenant_of(request, db)
        flags = {flag for flag in inventory.FLAGS if query_bool(query_param(request, flag), flag)}
        body = inventory.customer_inventory(db, tenant, tenant_now(tenant), integrationId, flags)
    return json_response(body)
