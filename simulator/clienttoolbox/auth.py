"""ClientToolbox authentication: `user_id` + key (header `api_access_key` > `user_api_key` >
`user_password`) + `account_id`, all from the form (or query) fields."""

from __future__ import annotations

import asyncio
import contextlib
import re

from fastapi import Request
from sqlmodel import Session
from starlette.types import Receive, Scope

from simulator.clienttoolbox.errors import ClientToolboxError, query_fields
from simulator.clienttoolbox.operations import keep_fields, kept_fields
from simulator.core import fastsql, offloop, requestinfo, tenants
from simulator.core.dispatch import read_body
from simulator.core.formats import form_pairs
from simulator.core.models import Tenant

# Larger than any batch we accept; the middleware's body ceiling stops worse first.
MAX_FIELD_BYTES = 64 * 1024 * 1024
# Characters XML 1.0 cannot carry (and PostgreSQL cannot store: NUL): refused in any field.
INVALID_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# A form body larger than this is parsed off the event loop (a 10,000-line batch takes ~0.1 s).
LARGE_FORM = 64 * 1024


# Starlette's limit on a form's fields (Request.form's max_fields); past it, Starlette refuses.
MAX_FORM_FIELDS = 1000
URLENCODED = "application/x-www-form-urlencoded"


def urlencoded_fields(body: bytes) -> list[tuple[str, str]] | None:
    """A urlencoded body's (name, value) pairs exactly as Starlette's FormParser gives them
    (python-multipart's QuerystringParser, non-strict; core/formats `form_pairs` over the body
    read as latin-1), without building a Request and its parser; None past Starlette's field
    limit (its own parser answers that). tests/clienttoolbox/test_parsing.py compares the
    two."""
    pairs = form_pairs(body.decode("latin-1"))
    return None if len(pairs) > MAX_FORM_FIELDS else pairs


async def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a form body (urlencoded or multipart), names lower-cased, as Starlette
    parses them; an uploaded file part gives its text."""
    if content_type == URLENCODED:  # the usual call: parsed here, as Starlette would
        pairs = urlencoded_fields(body)
        if pairs is not None:
            return {name.lower(): value for name, value in pairs}
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode("latin-1"))],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(scope, receive).form(max_part_size=MAX_FIELD_BYTES)
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key.lower()] = value
        else:
            fields[key.lower()] = (await value.read()).decode("utf-8", errors="replace")
    await form.close()
    return fields


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """`form_fields` in a worker thread (its own event loop, for Starlette's parser)."""
    return asyncio.run(form_fields(content_type, body))


async def request_fields(request: Request) -> dict[str, str]:
    """Query and form fields with lower-cased names (names match case-insensitively).

    Form fields win over query fields of the same name. Kept on the request (operations
    `keep_fields`), so the auth, the handler and the error renderer parse them once.
    """
    cached = kept_fields(request.scope)
    if cached is not None:
        return cached
    fields = query_fields(request)
    if request.method == "POST":
        body = await read_body(request)
        content_type = request.headers.get("content-type", "")
        if len(body) > LARGE_FORM:  # a batch: parsed in a worker thread (core/offloop)
            fields.update(await offloop.run(parse_form, content_type, body))
        else:
            fields.update(await form_fields(content_type, body))
    keep_fields(request.scope, fields)
    refuse_invalid_characters(request, fields)
    return fields


def refuse_invalid_characters(request: Request, fields: dict[str, str]) -> None:
    """The 400 for the first field whose name or value holds a character XML cannot carry;
    only the output fields stay kept, for the error's own format. One search over every name
    and value (newline, the separator, is a character XML carries), then the field is found."""
    if not INVALID_CHARACTERS.search("\n".join([*fields, *fields.values()])):
        return
    for name, value in fields.items():
        found = INVALID_CHARACTERS.search(value) or INVALID_CHARACTERS.search(name)
        if found:
            safe = {k: v for k, v in fields.items() if k in ("output", "callback", "condensed")}
            keep_fields(request.scope, safe)
            raise ClientToolboxError(
                400,
                f"Invalid character U+{ord(found.group()):04X} in field "
                f"'{INVALID_CHARACTERS.sub('?', name)}'",
            )


def api_key_of(request: Request, fields: dict[str, str]) -> str:
    header = request.headers.get("api_access_key")
    if header:
        return header.strip()
    return (fields.get("user_api_key") or fields.get("user_password") or "").strip()


def authenticate(
    session: Session | fastsql.Lease, request: Request, fields: dict[str, str]
) -> Tenant:
    """The tenant `user_id` + key + `account_id` name (the native 401 otherwise)."""
    user_id = (fields.get("user_id") or "").strip()
    key = api_key_of(request, fields)
    if not user_id or not key:
        raise ClientToolboxError(401, "Missing credentials: user_id and user_api_key are required")
    tenant = tenants.by_credential(session, "clienttoolbox", key)
    if tenant is None or tenant.clienttoolbox_user_id != user_id:
        raise ClientToolboxError(401, "Invalid user_id or user_api_key")
    account_id = (fields.get("account_id") or "").strip()
    if account_id != tenant.clienttoolbox_account_id:
        raise ClientToolboxError(401, "Invalid account_id")
    return tenant


async def clienttoolbox_tenant(request: Request, session: Session | fastsql.Lease) -> Tenant:
    """The authenticated tenant, admitted (core/tenants.admit); a Session's connection is then
    handed back to the pool until the handler's next query."""
    fields = await request_fields(request)
    return tenants.admit(request, session, authenticate(session, request, fields))


def tenant_of(session: Session, request: Request) -> Tenant | None:
    """The tenant `authenticate` finds, without quotas, from the fields `read_form` kept
    (ApiSpec.tenant_of); None where the auth would answer 401."""
    fields = kept_fields(request.scope)
    if fields is None:
        fields = query_fields(request)
    try:
        return authenticate(session, request, fields)
    except ClientToolboxError:
        return None


async def read_form(scope: Scope, receive: Receive) -> Receive:
    """Parse the fields the way the handler will (and keep them where it looks) before it runs,
    for fault rules and the journal; the body is handed on to it (ApiSpec.read_form)."""
    if kept_fields(scope) is not None:
        return receive
    body = await requestinfo.read_body(receive) if scope["method"] == "POST" else b""
    with contextlib.suppress(Exception):  # a form its handler will refuse in its own words
        await request_fields(Request(scope, requestinfo.replay(body, receive)))
    return requestinfo.replay(body, receive)
