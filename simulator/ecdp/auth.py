"""ECDP authentication: the `x-api-key` header selects the tenant."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlmodel import Session

from simulator.core import tenants
from simulator.core.db import get_session
from simulator.core.models import Tenant
from simulator.ecdp.errors import EcdpError


def tenant_of(session: Session, request: Request) -> Tenant | None:
    """The tenant of the `x-api-key` header, without quotas (ApiSpec.tenant_of)."""
    return tenants.by_credential(session, "ecdp", request.headers.get("x-api-key", "").strip())


async def ecdp_tenant(request: Request, session: Session = Depends(get_session)) -> Tenant:
    tenant = tenant_of(session, request)
    if tenant is None:
        raise EcdpError(401, "Missing or invalid API key (x-api-key header).")
    return tenants.admit(request, session, tenant)
