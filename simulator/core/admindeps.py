"""Dependencies of the admin API that the API packages' own admin routers use too (their
inspection routes under `/__admin/tenants/{tenant_id}/<api>/`). The admin token is checked in
front of every admin route, by admin/guard.py."""

from __future__ import annotations

from fastapi import Depends, HTTPException
from sqlmodel import Session

from simulator.core.db import get_session
from simulator.core.models import Tenant


async def path_tenant(tenant_id: str, session: Session = Depends(get_session)) -> Tenant:
    """The tenant named in the path; 404 when there is none."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise HTTPException(404, f"no tenant {tenant_id!r}")
    return tenant
