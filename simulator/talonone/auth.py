"""Talon.One authentication: `Authorization: ApiKey-v1 KEY` selects the tenant."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlmodel import Session

from simulator.core import fastsql, tenants
from simulator.core.db import get_session
from simulator.core.models import Tenant
from simulator.talonone.errors import TalonOneError


async def talonone_tenant(request: Request, session: Session = Depends(get_session)) -> Tenant:
    return talonone_tenant_of(request, session)


def talonone_tenant_of(
    request: Request, session: Session | fastsql.Lease, release: bool = True
) -> Tenant:
    """The tenant of the request's API key (the native 401 without one), quotas checked."""
    tenant = tenant_of(session, request)
    if tenant is None:
        raise TalonOneError(
            401,
            "Invalid API key",
            title="Unauthorized",
            parameter="Authorization",
        )
    return tenants.admit(request, session, tenant, release)


def tenant_of(session: Session | fastsql.Lease, request: Request) -> Tenant | None:
    """The tenant of the request's API key, as `talonone_tenant_of` finds it, without quotas
    (what fault rules and the journal ask: ApiSpec.tenant_of)."""
    key = api_key_of(request)
    return tenants.by_credential(session, "talonone", key) if key else None


def api_key_of(request: Request) -> str | None:
    """The key of `Authorization: ApiKey-v1 KEY` (the scheme in any case), or None."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "apikey-v1":
        return None
    return value.strip() or None
