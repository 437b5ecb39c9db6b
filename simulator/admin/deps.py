"""Dependencies of the admin API: the tenant named in the path. (Its token is checked in front
of every admin route, by admin/guard.py.)"""

from __future__ import annotations

from fastapi import Depends, HTTPException
from sqlmodel import Session

from simulator.core.db import get_session
from simulator.core.models import Tenant


async def path_tenant(tenant_id: str, session: Session = Depends(get_session)) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise HTTPException(404, f"no tenant {tenant_id!r}")
    return tenant
