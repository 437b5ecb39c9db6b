"""ECDP HTTP: POST /customers, the four GET lookups, attribute and consent definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import fastsql, offloop, tenants
from simulator.core.clock import tenant_now
from simulator.core.db import get_session, new_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import JsonRefused, fits, read_json
from simulator.core.store import unit_of_work
from simulator.ecdp.auth import ecdp_tenant
from simulator.ecdp.errors import EcdpError
from simulator.ecdp.models import EcdpCustomer
from simulator.ecdp.operations import OPERATIONS
from simulator.ecdp.service.definitions import list_attributes, list_consents
from simulator.ecdp.service.lookups import find_customer_for_key, lookup_key
from simulator.ecdp.service.parsing import child, validation_error
from simulator.ecdp.service.upsert import upsert_customers
from simulator.ecdp.service.views import customer_view

# Chosen: the docs give no body limit; 5 MiB is ample for the 10,000-customer batch cap.
MAX_BODY_BYTES = 5 * 1024 * 1024
ID = EcdpCustomer.id  # an id beyond its column names no customer (404)

router = APIRouter(tags=["ecdp"])


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 once it passes MAX_BODY_BYTES (before any parsing)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
    return bytes(body)


def too_large() -> EcdpError:
    return EcdpError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def parse_json(raw: bytes, content_type: str) -> object:
    if content_type and "json" not in content_type.lower():
        raise EcdpError(
            415, f"Content-Type '{content_type}' is not supported; use application/json."
        )
    if not raw.strip():
        raise validation_error({"$": ["A non-empty request body is required."]})
    try:
        return read_json(raw)
    except JsonRefused as refused:
        subject = "The value" if refused.pointer else "The request body"
        raise validation_error(
            {field_path(refused.pointer): [f"{subject} {refused.problem}."]}
        ) from None


def field_path(pointer: str) -> str:
    """A JSON pointer as ECDP names fields: `/data/3/email` -> `data[3].email`, "" -> `$`."""
    path = ""
    for step in pointer.split("/")[1:]:
        step = step.replace("~1", "/").replace("~0", "~")
        path = f"{path}[{step}]" if step.isdigit() else child(path, step)
    return path or "$"


@OPERATIONS.route(router, "PostCustomers")
async def post_customers(
    request: Request,
    session: Session = Depends(get_session),
    tenant: Tenant = Depends(ecdp_tenant),
) -> Response:
    raw, content_type = await read_body(request), request.headers.get("content-type", "")
    engine, seed = request.app.state.engine, request.app.state.settings.seed
    # Up to 10,000 customers: parsed, checked and written in a worker thread (core/offloop).
    result = await offloop.run(
        post_customers_call, engine, tenant, raw, content_type, tenant_now(tenant), seed
    )
    return json_response(
        {"status": 0, "data": {"added": len(result.added), "updated": len(result.updated)}},
        status=201,
    )


def post_customers_call(
    engine: Engine, tenant: Tenant, raw: bytes, content_type: str, now: datetime, seed: int
) -> Any:
    body = parse_json(raw, content_type)
    with new_session(engine) as session, offloop.writing(engine):
        try:
            with unit_of_work(session):
                return upsert_customers(session, tenant, body, now, seed)
        except IntegrityError:
            # A concurrent batch took one of our identifiers between our read and write: run
            # again against what is stored now (rolled back here too: the commit may be what
            # failed, after the unit of work's own rollback point).
            session.rollback()
        try:
            with unit_of_work(session):
                return upsert_customers(session, tenant, body, now, seed)
        except IntegrityError:
            raise EcdpError(409, "A concurrent request changed these customers; retry.") from None


async def lookup(request: Request, kind: str, raw: str) -> Response:
    """One query (customer joined to its tenant by API key) on a bare connection; only a miss
    pays a second query, to tell 401 from 404. The handlers read the path parameter from
    `request.path_params` (no per-request validation model: it is a plain string)."""
    key = lookup_key(kind, raw)
    api_key = request.headers.get("x-api-key", "").strip()
    usable = key is not None and key != "" and not (isinstance(key, int) and not fits(ID, key))
    row = None
    if api_key and usable:
        with fastsql.read_lease(request.app.state.engine) as db:
            row = find_customer_for_key(db, api_key, kind, key)
    if row is None:
        with new_session(request.app.state.engine) as session:
            await ecdp_tenant(request, session)  # 401 when the key is wrong
        if key is None:
            raise validation_error({"id": [f"The value '{raw}' is not valid."]})
        raise EcdpError(404, f"Customer with {kind} '{raw}' was not found.")
    tenants.admit_found(request, row["tenant_id"], row["quota_requests_per_second"])
    return json_response({"status": 0, "data": customer_view(row)})


@OPERATIONS.route(router, "GetCustomerById")
async def get_by_id(request: Request) -> Response:
    return await lookup(request, "id", request.path_params["id"])


@OPERATIONS.route(router, "GetCustomerByEmail")
async def get_by_email(request: Request) -> Response:
    return await lookup(request, "email", request.path_params["email"])


@OPERATIONS.route(router, "GetCustomerByPhone")
async def get_by_phone(request: Request) -> Response:
    return await lookup(request, "phone", request.path_params["phone"])


@OPERATIONS.route(router, "GetCustomerByCrmId")
async def get_by_crm_id(request: Request) -> Response:
    return await lookup(request, "crmId", request.path_params["crmId"])


@OPERATIONS.route(router, "GetCustomerAttributes")
async def get_attributes(
    request: Request,
    session: Session = Depends(get_session),
    tenant: Tenant = Depends(ecdp_tenant),
) -> Response:
    return json_response({"status": 0, "data": list_attributes(session, tenant.id)})


@OPERATIONS.route(router, "GetCustomerConsents")
async def get_consents(
    request: Request,
    session: Session = Depends(get_session),
    tenant: Tenant = Depends(ecdp_tenant),
) -> Response:
    return json_response({"status": 0, "data": list_consents(session, tenant.id)})
