"""CustomerGauge 4.1 over HTTP: the Stream upload, file status, lists, OAuth2 token endpoint.

Paths are `/v4.1/<module>/<method>.<fmt>`: `.xml` answers XML, `.json` or no suffix JSON.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.responses import Response

from simulator.core import fastsql, offloop
from simulator.core.clock import real_now, tenant_now
from simulator.core.db import get_session, new_session
from simulator.core.formats import json_response, xml_response
from simulator.core.models import Tenant
from simulator.core.requestinfo import note
from simulator.core.storable import JsonRefused, bad_text, parse_int, read_json
from simulator.core.store import unit_of_work
from simulator.customergauge import service, worker
from simulator.customergauge.auth import (
    basic_credentials,
    customergauge_tenant,
    customergauge_tenant_of,
)
from simulator.customergauge.errors import (
    EMAIL_REQUIRED,
    INVALID_ARGUMENTS,
    METHOD_NOT_ALLOWED,
    MODULE_NOT_FOUND,
    CustomerGaugeError,
    wants_xml,
)
from simulator.customergauge.models import LIST_BOUNCE, LIST_UNSUBSCRIBE
from simulator.customergauge.operations import OPERATIONS
from simulator.customergauge.xmlinput import XML_FORM_FIELDS

router = APIRouter(tags=["customergauge"])


def known_methods() -> dict[str, dict[str, set[str]]]:
    """module -> method -> the HTTP methods it answers, from the declared operations (whose
    alias is `module/method`)."""
    known: dict[str, dict[str, set[str]]] = {}
    for operation in OPERATIONS:
        for alias in operation.aliases:
            module, _, method = alias.partition("/")
            known.setdefault(module, {}).setdefault(method, set()).add(operation.method)
    return known


# The simulated modules and methods, with the HTTP methods each answers.
KNOWN_METHODS = known_methods()
MAX_PAGE = 1000


def respond(request: Request, data: Any, xml_data: Any = None) -> Response:
    """`{"Data": …}`, or `<Data>…</Data>` on a `.xml` path."""
    if wants_xml(request.scope["path"]):
        return xml_response("Data", data if xml_data is None else xml_data)
    return json_response({"Data": data})


def invalid(message: str) -> CustomerGaugeError:
    return CustomerGaugeError(400, f"Invalid arguments supplied: {message}", INVALID_ARGUMENTS)


# --- query parameters ----------------------------------------------------------------------


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = parse_int(raw.strip())
    if value is None:
        raise invalid(f"{name} must be a whole number")
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}")
    return value


def date_param(request: Request, name: str, end_of_day: bool = False) -> datetime | None:
    """`YYYY-mm-dd` or `YYYY-mm-dd H:i:s`; a bare date as `to` includes that whole day."""
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    parsed = service.parse_cg_date(raw)
    if parsed is None:
        raise invalid(f"{name} must be a date as YYYY-mm-dd or YYYY-mm-dd H:i:s")
    if end_of_day and len(raw.strip()) == 10:
        parsed += timedelta(days=1) - timedelta(microseconds=1)
    return parsed


# --- Stream: POST transactional ------------------------------------------------------------


async def stream_transactional(
    request: Request, tenant: Tenant = Depends(customergauge_tenant)
) -> Response:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    document = body
    if content_type.lower().startswith("multipart/form-data"):
        document = await multipart_document(request)
    upload = await offloop.run(
        accept_upload,
        request.app.state.engine,
        tenant,
        document,
        content_type,
        tenant_now(tenant),
        len(body),
    )
    worker.wake(request.app)
    response = respond(request, True, "true")
    response.headers["X-Upload-Id"] = str(upload.number)
    return response


def accept_upload(
    engine: Engine, tenant: Tenant, document: bytes, content_type: str, now: datetime, size: int
) -> Any:
    """Validate the document and queue it, in a worker thread: a 2 MB document is parsed off
    the event loop, and the store's lock is held only to queue it (core/offloop). Over the
    byte or record limit: refused in `enforce` mode, else accepted with a log line."""
    with new_session(engine) as session:
        records, logs, body_bytes = service.checked_upload(
            session, tenant, document, content_type, size
        )
        with offloop.writing(engine), unit_of_work(session):
            return service.queue_upload(session, tenant, records, logs, body_bytes, now, real_now())


async def multipart_document(request: Request) -> bytes:
    """The XML of a multipart upload (`curl -F file=@records.xml`): the part named file, xml,
    data, records or body, else the first part."""
    try:
        form = await request.form(max_files=5, max_fields=20)
    except Exception:  # malformed multipart: a native 400, not the framework's
        raise invalid("malformed multipart/form-data body") from None
    parts = list(form.multi_items())
    if not parts:
        return b""
    chosen = next((v for k, v in parts if k.lower() in XML_FORM_FIELDS), parts[0][1])
    if isinstance(chosen, str):
        return chosen.encode("utf-8")
    return await chosen.read()


# --- File: GET transactional (upload status) -----------------------------------------------


def upload_view(upload: service.UploadFields) -> dict[str, Any]:
    """As the real file-status endpoint prints an upload: every number a string."""
    return {
        "id": str(upload.number),
        "status": upload.status,
        "source_filename": f"stream_transactional_{upload.number}.xml",
        "date_upload": service.cg_date(upload.received_at),
        "total_records": str(upload.total_records),
        "successful_records": str(upload.successful_records),
        "unsuccessful_records": str(upload.unsuccessful_records),
        "logs": service.upload_logs(upload),
    }


async def file_transactional(
    request: Request,
) -> Response:
    with fastsql.read_lease(request.app.state.engine) as db:
        tenant = customergauge_tenant_of(request, db)
        number_text = request.query_params.get("id")
        number = None
        if number_text is not None and number_text.strip():
            number = parse_int(number_text.strip())
            if number is None or number < 0:
                raise invalid("id must be a file upload id")
        uploads = service.upload_statuses(
            db,
            tenant.id,
            number=number,
            received_from=date_param(request, "date_range_from"),
            received_to=date_param(request, "date_range_to", end_of_day=True),
            start=int_param(request, "start", 0, 0, 10**9),
            limit=int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE),
        )
        views = [upload_view(u) for u in uploads]
        xml_views = [{**v, "logs": {"log": v["logs"]} if v["logs"] else None} for v in views]
        return respond(request, views, {"File": xml_views} if views else "")


# --- Lists: unsubscribe and bounce ---------------------------------------------------------


def entry_view(entry: service.ListEntry) -> dict[str, str]:
    view = {"Email": entry.email, "Date": service.cg_date(entry.created_at)}
    if entry.kind == LIST_BOUNCE:
        view["Reason"] = entry.reason
    else:
        view["User"] = entry.user
    return view


def list_response(request: Request, kind: str) -> Response:
    """A page of a list: the key checked and the page read on one bare connection (a plain
    endpoint: no dependencies to solve, no ORM Session)."""
    with fastsql.lease(request.app.state.engine) as db:
        tenant = customergauge_tenant_of(request, db)
        entries = service.list_entries(
            db,
            tenant.id,
            kind,
            date_from=date_param(request, "date_range_from"),
            date_to=date_param(request, "date_range_to", end_of_day=True),
            start=int_param(request, "start", 0, 0, 10**9),
            limit=int_param(request, "limit", 100, 1, MAX_PAGE),
        )
    views = [entry_view(e) for e in entries]
    return respond(request, views, {"Record": views} if views else "")


async def get_unsubscribe(request: Request) -> Response:
    return list_response(request, LIST_UNSUBSCRIBE)


async def get_bounce(request: Request) -> Response:
    return list_response(request, LIST_BOUNCE)


async def form_fields(request: Request) -> dict[str, str]:
    """Query string and form body (urlencoded or multipart) fields; the body wins."""
    fields = dict(request.query_params)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=5, max_fields=100)
        except Exception:  # malformed multipart: a native 400, not the framework's
            raise invalid("malformed multipart/form-data body") from None
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif content_type.startswith("application/json"):
        try:
            data = read_json(await request.body())
        except JsonRefused as refused:
            raise invalid(f"the body is not valid JSON: {refused.reason}") from None
        if not isinstance(data, dict):
            raise invalid("the JSON body must be an object")
        fields.update({k: v for k, v in data.items() if isinstance(v, str)})
    else:
        body = await request.body()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("the body is not UTF-8 form data") from None
        fields.update(parse_qsl(text, keep_blank_values=True, max_num_fields=100))
    for name, value in fields.items():
        reason = bad_text(name) or bad_text(value)
        if reason is not None:
            raise invalid(f"the field {name!r} holds {reason}")
    return fields


async def post_unsubscribe(
    request: Request,
    tenant: Tenant = Depends(customergauge_tenant),
    session: Session = Depends(get_session),
) -> Response:
    try:
        fields = await form_fields(request)
    except ValueError:
        raise invalid("too many form fields") from None
    email = (fields.get("email") or fields.get("Email") or "").strip()
    if not email:
        raise CustomerGaugeError(400, "Email address is required", EMAIL_REQUIRED)
    if not service.is_valid_email(email):
        raise invalid(f"'{email}' is not a valid email address")
    with unit_of_work(session):
        service.add_to_list(session, tenant.id, LIST_UNSUBSCRIBE, email, tenant_now(tenant))
    return respond(request, {"Message": "Record added"})


# --- OAuth2 client credentials -------------------------------------------------------------


def oauth_error(exc: service.OAuthError, basic: bool) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status == 401 and basic:
        headers["WWW-Authenticate"] = 'Basic realm="oauth2"'
    return json_response(
        {"error": exc.error, "error_description": exc.description},
        status=exc.status,
        headers=headers,
    )


async def oauth2_token(request: Request, session: Session = Depends(get_session)) -> Response:
    """`grant_type=client_credentials` with the client in the form or in HTTP Basic auth."""
    basic = basic_credentials(request)
    try:
        body = (await request.body()).decode("utf-8")
        fields = dict(parse_qsl(body, keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        return oauth_error(service.OAuthError(400, "invalid_request", "Malformed form body"), False)
    grant_type = fields.get("grant_type", "")
    try:
        if not grant_type:
            raise service.OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise service.OAuthError(
                400, "unsupported_grant_type", "Only client_credentials is supported"
            )
        client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
        with unit_of_work(session):
            token, ttl, tenant = service.issue_token(session, client_id, secret, tenant_now)
    except service.OAuthError as exc:
        return oauth_error(exc, basic is not None)
    note(request, tenant_id=tenant.id)
    return json_response(
        {"access_token": token, "expires_in": ttl, "token_type": "Bearer"},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


# --- anything else under /v4.1 -------------------------------------------------------------


async def unknown_path(request: Request, rest: str) -> Response:
    """Unknown module: 404 / 300002; unknown method or HTTP method: 405 / 300003."""
    module, _, method = rest.strip("/").partition("/")
    name = method.removesuffix(".json").removesuffix(".xml")
    methods = KNOWN_METHODS.get(module)
    if methods is None:
        raise CustomerGaugeError(404, "Module does not exist", MODULE_NOT_FOUND)
    allowed = methods.get(name)
    if allowed is None or name != name.strip() or "/" in name:
        raise CustomerGaugeError(405, "Method does not exist", METHOD_NOT_ALLOWED)
    error = CustomerGaugeError(
        405,
        f"Method does not exist: {module}/{name} answers {', '.join(sorted(allowed))}",
        METHOD_NOT_ALLOWED,
    )
    raise error


def register() -> None:
    """The routes, made from the declared operations (customergauge/operations.py); the API
    schema at /__admin/docs shows each once (its `.json` path)."""

    def shown(path: str) -> bool:
        return not path.startswith("/v4.1") or path.endswith(".json")

    for name, endpoint in (
        ("StreamTransactional", stream_transactional),
        ("FileTransactional", file_transactional),
        ("GetUnsubscribe", get_unsubscribe),
        ("PostUnsubscribe", post_unsubscribe),
        ("GetBounce", get_bounce),
        ("OAuth2Token", oauth2_token),
    ):
        OPERATIONS.add_route(router, name, endpoint, include_in_schema=shown)
    OPERATIONS.add_fallback(
        router,
        "/v4.1/{rest:path}",
        unknown_path,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
    )


register()
