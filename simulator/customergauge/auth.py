"""CustomerGauge authentication: `Authorization: api_key KEY`, or `Authorization: Bearer TOKEN`
for a token from `POST /oauth2/token` still valid on the tenant's clock, selects the tenant."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlmodel import Session

from simulator.core import tenants
from simulator.core.clock import tenant_now
from simulator.core.db import get_session
from simulator.core.models import Tenant
from simulator.customergauge.errors import INVALID_API_KEY, CustomerGaugeError
from simulator.customergauge.service import tenant_for_token


def credential(request: Request) -> tuple[str, str]:
    """(scheme in lower case, value) of the Authorization header."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return scheme.lower(), value.strip()


async def customergauge_tenant(request: Request, session: Session = Depends(get_session)) -> Tenant:
    scheme, value = credential(request)
    tenant = None
    if scheme == "api_key":
        tenant = tenants.by_credential(session, "customergauge", value)
    elif scheme == "bearer":
        tenant = tenant_for_token(session, value, tenant_now)
    if tenant is None:
        raise CustomerGaugeError(401, "Invalid API Key", INVALID_API_KEY)
    return tenants.admit(request, session, tenant)
