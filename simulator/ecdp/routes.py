"""ECDP HTTP: POST /customers, the four GET lookups, attribute and consent definitions."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from simulator.core import fastsql, offloop, tenants
from simulator.core.clock import tenant_now
from simulator.core.db import new_session
from simulator.core.formats import json_response
from simulator.core.models import Tenant
from simulator.core.storable import JsonRefused, fits, read_json
from simulator.core.store import Transaction, unit_of_work
from simulator.ecdp.auth import ecdp_tenant_of, tenant_of, unauthorized
from simulator.ecdp.errors import EcdpError
from simulator.ecdp.models import EcdpCustomer
from simulator.ecdp.operations import OPERATIONS
from simulator.ecdp.service.definitions import list_attributes, list_consents
from simulator.ecdp.service.lookups import find_customer_for_key, lookup_key
from simulator.ecdp.service.parsing import child, validation_error
from simulator.ecdp.service.upsert import UpsertResult, upsert_customers
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


# A batch this small is written on the event loop, in the request's own (on SQLite: grouped)
# write lease, as a Talon.One session update is: a worker thread's hop, its session and its
# share of the interpreter lock cost more than such a batch itself (one customer: 4.0 ms of CPU
# a request in a thread). The bound keeps the loop's hold near a session update's (~2 ms): at
# most 10 customers, in at most 16 KiB (parsed on the loop: ~20 µs). Anything larger runs in a
# worker thread, parsed there too, so a 10,000-customer batch never holds the loop.
INLINE_ITEMS = 10
INLINE_BODY_BYTES = 16 * 1024


@OPERATIONS.route(router, "PostCustomers")
async def post_customers(request: Request) -> Response:
    # The body is read before the key is checked (nothing awaits inside the write lease), but
    # the key is answered first: 401, then 413, 415 or 400, as the dependency once did.
    refused: EcdpError | None = None
    raw = b""
    try:
        raw = await read_body(request)
    except EcdpError as error:
        refused = error
    content_type = request.headers.get("content-type", "")
    engine, seed = request.app.state.engine, request.app.state.settings.seed
    inline = refused is None and len(raw) <= INLINE_BODY_BYTES
    body: object = None
    if inline:
        try:
            body = parse_json(raw, content_type)
        except EcdpError as error:
            refused = error  # answered on the loop, after the key
        else:
            inline = item_count(body) <= INLINE_ITEMS
    if inline:
        with fastsql.write_lease(engine, grouped=True) as db:
            tenant = ecdp_tenant_of(request, db, release=False)
            if refused is not None:
                raise refused
            result = upsert_retried(db, tenant, body, tenant_now(tenant), seed)
        await db.committed()
    else:
        with fastsql.lease(engine) as reads:  # no write lock for the key check
            tenant = ecdp_tenant_of(request, reads)
        if refused is not None:
            raise refused
        result = await offloop.run(
            post_customers_call, engine, tenant, raw, content_type, tenant_now(tenant), seed
        )
    return json_response(
        {"status": 0, "data": {"added": len(result.added), "updated": len(result.updated)}},
        status=201,
    )


def item_count(body: object) -> int:
    """How many items a parsed body carries (its lists' lengths: `data`, in any case)."""
    if not isinstance(body, dict):
        return 0
    return sum(len(value) for value in body.values() if isinstance(value, list))


def post_customers_call(
    engine: Engine, tenant: Tenant, raw: bytes, content_type: str, now: datetime, seed: int
) -> UpsertResult:
    """A large batch, in a worker thread: parsed, checked and written (core/offloop)."""
    body = parse_json(raw, content_type)
    with new_session(engine) as session, offloop.writing(engine):
        return upsert_retried(session, tenant, body, now, seed)


def upsert_retried(
    db: Transaction, tenant: Tenant, body: object, now: datetime, seed: int
) -> UpsertResult:
    """The batch in one unit of work on `db`, run again once when a concurrent writer took one
    of its identifiers between its read and its write (the unique index refuses the write)."""
    try:
        with unit_of_work(db):
            return upsert_customers(db, tenant, body, now, seed)
    except IntegrityError:
        # Against what is stored now (rolled back here too: the commit may be what failed,
        # after the unit of work's own rollback point).
        db.rollback()
    try:
        with unit_of_work(db):
            return upsert_customers(db, tenant, body, now, seed)
    except IntegrityError:
        raise EcdpError(409, "A concurrent request changed these customers; retry.") from None


async def lookup(request: Request, kind: str, raw: str) -> Response:
    """One query (customer joined to its tenant by API key) on a bare connection; only a miss
    pays a second query on the same connection, the key's, to tell 401 from 404. The handlers
    read the path parameter from `request.path_params` (no per-request validation model: it is
    a plain string)."""
    key = lookup_key(kind, raw)
    api_key = request.headers.get("x-api-key", "").strip()
    usable = key is not None and key != "" and not (isinstance(key, int) and not fits(ID, key))
    tenant = None
    with fastsql.read_lease(request.app.state.engine) as db:
        row = find_customer_for_key(db, api_key, kind, key) if api_key and usable else None
        if row is None:
            tenant = tenant_of(db, request)
    if row is None:
        if tenant is None:
            raise unauthorized()
        tenants.admit_found(request, tenant.id, tenant.quota_requests_per_second)
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
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = ecdp_tenant_of(request, db)
        return json_response({"status": 0, "data": list_attributes(db, tenant.id)})


@OPERATIONS.route(router, "GetCustomerConsents")
async def get_consents(
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = ecdp_tenant_of(request, db)
        return json_response({"status": 0, "data": list_consents(db, tenant.id)})
