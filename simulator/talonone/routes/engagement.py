"""Talon.One routes: engagement part (coupon reservations, referrals, audiences, customer data,
customer inventory). HTTP only: parse, call the service, render the native response."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.responses import Response

from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import JsonRefused, parse_int, read_json
from simulator.talonone.auth import talonone_tenant
from simulator.talonone.errors import TalonOneError
from simulator.talonone.operations import OPERATIONS
from simulator.talonone.service import (
    audiences,
    coupons,
    customer_data,
    inventory,
    referrals,
)

router = APIRouter(tags=["talonone"])

Model = TypeVar("Model", bound=BaseModel)


# --- parsing helpers --------------------------------------------------------------------------


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise TalonOneError(400, "The request body is missing", title="Missing body")
    try:
        return read_json(raw)
    except JsonRefused as refused:
        raise TalonOneError(
            400, refused.reason, title="Invalid JSON", pointer=refused.pointer
        ) from None


def json_pointer(location: tuple[Any, ...], model: type[BaseModel]) -> str:
    """('data', 0, 'audienceId') -> '/data/0/audienceId' (aliases as the wire spells them)."""
    parts = []
    for index, part in enumerate(location):
        if index == 0 and isinstance(part, str) and part in model.model_fields:
            part = model.model_fields[part].alias or part
        parts.append(str(part))
    return "/" + "/".join(parts)


def parse(model: type[Model], body: Any) -> Model:
    """Validate a body; the first problem becomes the API's 400 with a JSON pointer."""
    if not isinstance(body, dict):
        raise TalonOneError(400, "The request body must be a JSON object", title="Invalid type")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        pointer = json_pointer(tuple(error["loc"]), model)
        field = pointer.rsplit("/", 1)[-1]
        message = f"{field}: {error['msg']}" if field else error["msg"]
        raise TalonOneError(400, message, title="Invalid value", pointer=pointer) from None


def path_int(value: str, name: str) -> int:
    """Plain ASCII digits only (Python's int() would also take `1_000` or ` 7`); one beyond the
    store's range is looked up as any other, and found nowhere (core/storable `lookup`)."""
    number = parse_int(value)
    if number is None:
        raise TalonOneError(400, f"{name} must be an integer", title="Invalid type", parameter=name)
    return number


def query_flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise TalonOneError(400, f"{name} must be true or false", title="Invalid value", parameter=name)


def silent_flag(request: Request) -> bool:
    value = request.query_params.get("silent", "yes")
    if value not in ("yes", "no"):
        raise TalonOneError(
            400, "silent must be yes or no", title="Invalid value", parameter="silent"
        )
    return value == "yes"


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
    body = await json_body(request)
    if not isinstance(body, dict):
        raise TalonOneError(400, "The request body must be a JSON object", title="Invalid type")
    ids = coupons.check_integration_ids(body.get("integrationIDs"))
    view = coupons.create_reservations(session, tenant.id, tenant_now(tenant), couponValue, ids)
    session.commit()
    return json_response(view, status=201)


@OPERATIONS.route(router, "DeleteCouponReservation")
async def delete_coupon_reservation(
    couponValue: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise TalonOneError(400, "The request body must be a JSON object", title="Invalid type")
    ids = coupons.check_integration_ids(body.get("integrationIDs"))
    coupons.delete_reservations(session, tenant.id, couponValue, ids)
    session.commit()
    return no_content()


@OPERATIONS.route(router, "GetReservedCustomers")
async def get_reserved_customers(
    couponValue: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    data = coupons.reserved_customers(session, tenant, couponValue)
    return json_response({"totalResultSize": len(data), "data": data})


# --- referrals --------------------------------------------------------------------------------


@OPERATIONS.route(router, "CreateReferral")
async def create_referral(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = parse(referrals.NewReferral, await json_body(request))
    seed = request.app.state.settings.seed
    view = referrals.create_referral(session, tenant.id, tenant_now(tenant), seed, body)
    session.commit()
    return json_response(view, status=201)


@OPERATIONS.route(router, "CreateReferralsForMultipleAdvocates")
async def create_referrals_for_multiple_advocates(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    silent = silent_flag(request)
    body = parse(referrals.NewReferralsForMultipleAdvocates, await json_body(request))
    seed = request.app.state.settings.seed
    views = referrals.create_referrals_for_advocates(
        session, tenant.id, tenant_now(tenant), seed, body
    )
    session.commit()
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
    body = parse(audiences.NewAudience, await json_body(request))
    view = audiences.create_audience(session, tenant.id, tenant_now(tenant), body)
    session.commit()
    return json_response(view, status=201)


@OPERATIONS.route(router, "UpdateAudienceV2")
async def update_audience(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audience_id = path_int(audienceId, "audienceId")
    body = parse(audiences.UpdateAudience, await json_body(request))
    view = audiences.rename_audience(session, tenant.id, audience_id, body.name)
    session.commit()
    return json_response(view)


@OPERATIONS.route(router, "DeleteAudienceV2")
async def delete_audience(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audiences.delete_audience(session, tenant.id, path_int(audienceId, "audienceId"))
    session.commit()
    return no_content()


@OPERATIONS.route(router, "DeleteAudienceMembershipsV2")
async def delete_audience_memberships(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audiences.delete_memberships(session, tenant.id, path_int(audienceId, "audienceId"))
    session.commit()
    return no_content()


@OPERATIONS.route(router, "UpdateAudienceCustomersAttributes")
async def update_audience_customers_attributes(
    audienceId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    audience_id = path_int(audienceId, "audienceId")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise TalonOneError(
            400, "The request body must be an object of attributes", title="Invalid type"
        )
    audiences.update_members_attributes(session, tenant.id, audience_id, body)
    session.commit()
    return no_content()


@OPERATIONS.route(router, "UpdateCustomerProfileAudiences")
async def update_customer_profile_audiences(
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    body = parse(audiences.CustomerProfileAudienceRequest, await json_body(request))
    audiences.change_profile_audiences(session, tenant.id, tenant_now(tenant), body.data)
    session.commit()
    return no_content()


# --- customer data and inventory --------------------------------------------------------------


@OPERATIONS.route(router, "DeleteCustomerData")
async def delete_customer_data(
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    customer_data.delete_customer_data(session, tenant.id, integrationId)
    session.commit()
    return no_content()


@OPERATIONS.route(router, "GetCustomerInventory")
async def get_customer_inventory(
    integrationId: str,
    request: Request,
    tenant: Tenant = Depends(talonone_tenant),
    session: Session = Depends(get_session),
) -> Response:
    flags = {flag for flag in inventory.FLAGS if query_flag(request, flag)}
    body = inventory.customer_inventory(session, tenant, tenant_now(tenant), integrationId, flags)
    return json_response(body)
