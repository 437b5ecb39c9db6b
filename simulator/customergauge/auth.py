"""CustomerGauge authentication: `Authorization: api_key KEY`, or `Authorization: Bearer TOKEN`
for a token from `POST /oauth2/token` still valid on the tenant's clock, selects the tenant. The
token endpoint itself authenticates an OAuth2 client (HTTP Basic, or `client_id` and
`client_secret` form fields)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.types import Receive, Scope

from simulator.core import fastsql, requestinfo, tenants
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.models import Tenant
from simulator.customergauge.errors import INVALID_API_KEY, CustomerGaugeError
from simulator.customergauge.service import OAuthError, client_tenant, tenant_for_token

TOKEN_PATH = "/oauth2/token"
# Where `read_form` leaves the token request's form fields (request state).
TOKEN_FIELDS_STATE_KEY = "customergauge_token_fields"


def credential(request: Request) -> tuple[str, str]:
    """(scheme in lower case, value) of the Authorization header."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return scheme.lower(), value.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, secret) of `Authorization: Basic`; ("", "") when it does not decode."""
    scheme, value = credential(request)
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def key_or_token_tenant(session: Session | fastsql.Lease, request: Request) -> Tenant | None:
    """The tenant of the request's API key or still valid Bearer token, or None."""
    scheme, value = credential(request)
    if scheme == "api_key":
        return tenants.by_credential(session, "customergauge", value)
    if scheme == "bearer":
        return tenant_for_token(session, value, tenant_now)
    return None


def tenant_of(session: Session, request: Request) -> Tenant | None:
    """The tenant of the request's API key or Bearer token, or (the token endpoint) of its
    OAuth2 client, as the routes find them, without quotas (ApiSpec.tenant_of)."""
    tenant = key_or_token_tenant(session, request)
    if tenant is None and request.url.path == TOKEN_PATH:
        fields = requestinfo.kept_on_state(request.scope, TOKEN_FIELDS_STATE_KEY) or {}
        client = basic_credentials(request) or (
            fields.get("client_id", ""),
            fields.get("client_secret", ""),
        )
        try:
            tenant = client_tenant(session, *client)[1]
        except OAuthError:
            return None
    return tenant


async def read_form(scope: Scope, receive: Receive) -> Receive:
    """The token request's form fields, kept for `tenant_of` before its handler runs; the
    body is handed on to it (ApiSpec.read_form). Other paths carry no credential in the body."""
    if scope["path"] != TOKEN_PATH or scope["method"] != "POST":
        return receive
    if requestinfo.kept_on_state(scope, TOKEN_FIELDS_STATE_KEY) is not None:
        return receive  # read already
    body = await requestinfo.read_body(receive)
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):  # its handler answers invalid_request
        fields = {}
    requestinfo.keep_on_state(scope, TOKEN_FIELDS_STATE_KEY, fields)
    return requestinfo.replay(body, receive)


def customergauge_tenant_of(request: Request, session: Session | fastsql.Lease) -> Tenant:
    """The tenant of the request's API key or Bearer token (401 without one), quotas checked."""
    tenant = key_or_token_tenant(session, request)
    if tenant is None:
        raise CustomerGaugeError(401, "Invalid API Key", INVALID_API_KEY)
    return tenants.admit(request, session, tenant)


async def customergauge_tenant(request: Request, session: Session = Depends(get_session)) -> Tenant:
    return customergauge_tenant_of(request, session)
