"""ECDP authentication: the `x-api-key` header selects the tenant."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlmodel import Session

from simulator.core import fastsql, tenants
from simulator.core.db import get_session
from simulator.core.models import Tenant
from simulator.ecdp.errors import EcdpError


def tenant_of(session: Session | fastsql.Lease, request: Request) -> Tenant | None:
    """The tenant of the `x-api-key` header, without quotas (ApiSpec.tenant_of)."""
    return tenants.by_credential(session, "ecdp", request.headers.get("x-api-key", "").strip())


def ecdp_tenant_of(
    request: Request, session: Session | fastsql.Lease, release: bool = True
) -> Tenant:
    """The tenant of the request's key (401 without one), quotas checked; `release=False`:
    the caller goes on in the same transaction without awaiting (tenants.admit)."""
    tenant = tenant_of(session, request)
    if tenant is None:
        raise unauthorized()
    return tenants.admit(request, session, tenant, release)


def unauthorized() -> EcdpError:
    return EcdpError(401, "Missing or invalid API key (x-api-key header).")


async def ecdp_tenant(request: Request, session: Session = Depends(get_session)) -> Tenant:
    return ecdp_tenant_of(request, session)
