"""Limits of open sign-up (`SIM_OPEN_SIGNUP=true`): what a caller without the admin token may
create. The operator (the token) is not limited; the guard (admin/guard.py) says which is which.

- `SIM_MAX_TENANTS`: no sign-up once the store holds that many tenants (`default` included).
- `SIM_SIGNUPS_PER_HOUR`: sign-up attempts per client address and clock hour, every process
  of a deployment counted together (the rate-quota table, under a `signup:` key). The client
  address is the peer's, or the one X-Forwarded-For names when the peer is a proxy listed in
  `SIM_FORWARDED_ALLOW_IPS` (uvicorn resolves it before the app sees the request).
- `SIM_SIGNUP_MAX_RECORDS`: the stored-records quota of a signed-up tenant, its fixtures
  included (tenants.create refuses a document over it with quotas.TooManyRecords).

The first two are checked by the guard before the request's body is read; both answer 429 in
the admin error shape.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from starlette.types import Scope

from simulator.config import Settings
from simulator.core import quotas
from simulator.core.models import Tenant, TenantRate
from simulator.core.store import Store, session_unit

RATE_KEY_PREFIX = "signup:"
HOUR = 3600


class SignupRefused(Exception):
    """Answered 429 in the admin error shape."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def admit_request(engine: Engine, settings: Settings, scope: Scope) -> None:
    """`admit` for the sign-up a request asks for, before its body is read (the guard calls
    it: an attempt over the limits costs no parsing)."""
    refusal = None
    with session_unit(engine) as session:  # a refused attempt is counted too
        refusal = refused(session, settings, client_address(scope))
    if refusal is not None:
        raise refusal


def refused(
    session: Store, settings: Settings, client: str, now: float | None = None
) -> SignupRefused | None:
    """Count this attempt against the client's hour (in the caller's unit of work); the
    refusal when it is over a limit, else None."""
    now = time.time() if now is None else now
    hour = int(now) // HOUR * HOUR
    attempts = count_attempt(session, client, hour)
    if attempts > settings.signups_per_hour:
        return SignupRefused(
            f"sign-up rate limit: {settings.signups_per_hour} tenants an hour per client address",
            retry_after=max(1, hour + HOUR - int(now)),
        )
    stored = session.execute(select(func.count()).select_from(Tenant)).scalar_one()
    if stored >= settings.max_tenants:
        return SignupRefused(
            f"sign-up closed: the sandbox holds its maximum of {settings.max_tenants} tenants"
        )
    return None


def count_attempt(session: Store, client: str, hour: int) -> int:
    """This client's attempts in this hour, this one included."""
    session.execute(
        delete(TenantRate).where(
            col(TenantRate.tenant_id).startswith(RATE_KEY_PREFIX), col(TenantRate.second) < hour
        )
    )
    key = f"{RATE_KEY_PREFIX}{client}"[:64]
    return quotas.count_request(session, key, hour)
