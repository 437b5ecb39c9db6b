"""The CustomerProfile JSON of the API, with the profile's audience memberships."""

from __future__ import annotations

from typing import Any

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonProfile
from simulator.talonone.service import campaigns
from simulator.talonone.service.audiences import profile_audience_memberships
from simulator.talonone.service.profile_store import ProfileState


def profile_view(
    db: Store | fastsql.Lease, tenant: Tenant, profile: TalonProfile | ProfileState
) -> dict[str, Any]:
    """The CustomerProfile JSON of the API (of the stored row, or of its plain state)."""
    config = campaigns.load_config(db, tenant.id)
    view: dict[str, Any] = {
        "id": profile.id,
        "created": format_instant(profile.created),
        "integrationId": profile.integration_id,
        "attributes": profile.attributes or {},
        "accountId": config.account_id,
        "closedSessions": profile.closed_sessions,
        "totalSales": round(profile.total_sales, 2),
        "lastActivity": format_instant(profile.last_activity),
        "sandbox": True,
    }
    view["audienceMemberships"] = profile_audience_memberships(
        db, tenant.id, profile.integration_id
    )
    return view
