"""Dependencies of the admin API: its token, the tenant named in the path."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session

from simulator.core.db import get_session
from simulator.core.models import Tenant


def token_ok(request: Request) -> bool:
    token = request.app.state.settings.admin_token
    if not token:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


async def require_admin(request: Request) -> None:
    """When SIM_ADMIN_TOKEN is set, every admin call needs `Authorization: Bearer <token>`."""
    if not token_ok(request):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


async def path_tenant(tenant_id: str, session: Session = Depends(get_session)) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise HTTPException(404, f"no tenant {tenant_id!r}")
    return tenant
