"""The tenant's clock: real time by default, frozen or shifted on request.

Every service reads time only from here, so tests can freeze and advance it. The state lives
on the tenant row, so every process of a deployment reads the same time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator
from sqlmodel import Session

from simulator.core.models import Tenant


def real_now() -> datetime:
    return datetime.now(UTC)


def tenant_now(tenant: Tenant) -> datetime:
    """The current instant on this tenant's clock (timezone-aware UTC)."""
    if tenant.clock_frozen and tenant.clock_frozen_at is not None:
        return tenant.clock_frozen_at
    return real_now() + timedelta(seconds=tenant.clock_offset_seconds)


def set_clock(
    session: Session, tenant: Tenant, now: datetime | None = None, frozen: bool | None = None
) -> datetime:
    """Set the clock to `now` (if given) and freeze or release it (if given)."""
    current = now.astimezone(UTC) if now is not None else tenant_now(tenant)
    if frozen is None:
        frozen = tenant.clock_frozen
    tenant.clock_frozen = frozen
    tenant.clock_frozen_at = current if frozen else None
    tenant.clock_offset_seconds = 0.0 if frozen else (current - real_now()).total_seconds()
    session.add(tenant)
    session.commit()
    return tenant_now(tenant)


def advance_clock(session: Session, tenant: Tenant, seconds: float) -> datetime:
    """Move the clock forward; a frozen clock stays frozen at the later instant."""
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    if tenant.clock_frozen and tenant.clock_frozen_at is not None:
        tenant.clock_frozen_at = tenant.clock_frozen_at + timedelta(seconds=seconds)
    else:
        tenant.clock_offset_seconds += seconds
    session.add(tenant)
    session.commit()
    return tenant_now(tenant)


def reset_clock(tenant: Tenant) -> None:
    tenant.clock_frozen = False
    tenant.clock_frozen_at = None
    tenant.clock_offset_seconds = 0.0


def as_utc(value: datetime) -> datetime:
    """Aware UTC; an instant without zone is taken as UTC (as the real APIs do)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A pydantic field of that kind: any ISO 8601 instant, held as aware UTC.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


def parse_instant(value: str) -> datetime:
    """RFC 3339 / ISO 8601 to aware UTC (a value without zone is taken as UTC)."""
    return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def format_instant(value: datetime) -> str:
    """RFC 3339 with a `Z`, as the real APIs print UTC instants."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
