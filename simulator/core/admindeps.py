"""Dependencies of the admin API that the API packages' own admin routers use too (their
inspection routes under `/__admin/tenants/{tenant_id}/<api>/`). The admin token is checked in
front of every admin route, by admin/guard.py."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Query
from sqlmodel import Session

from simulator.core.db import get_session
from simulator.core.models import Tenant


async def path_tenant(tenant_id: str, session: Session = Depends(get_session)) -> Tenant:
    """The tenant named in the path; 404 when there is none."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise HTTPException(404, f"no tenant {tenant_id!r}")
    return tenant


@dataclass(frozen=True)
class Paging:
    """One page of an admin list: `limit` rows from row `start` (the Inspector's pages)."""

    start: int
    limit: int


MAX_PAGE = 1000
MAX_START = 10**9


async def paging(
    start: int = Query(default=0, ge=0, le=MAX_START),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> Paging:
    return Paging(start, limit)
