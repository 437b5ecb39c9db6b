"""The CustomerProfile JSON of the API, with the profile's audience memberships."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.db import same_tenant
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.core import TalonProfile
from simulator.talonone.models.engagement import TalonAudience, TalonAudienceMembership
from simulator.talonone.service import campaigns
from simulator.talonone.service.audiences import membership_views, profile_audience_memberships
from simulator.talonone.service.profile_store import ProfileState, state_of


def profile_view(
    db: Store | fastsql.Lease,
    tenant: Tenant,
    profile: TalonProfile | ProfileState,
    memberships: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The CustomerProfile JSON of the API (of the stored row, or of its plain state); its
    audience memberships are read unless given (`profile_with_memberships` read them)."""
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
    if memberships is None:
        memberships = profile_audience_memberships(db, tenant.id, profile.integration_id)
    view["audienceMemberships"] = memberships
    return view


PROFILES = TalonProfile.__table__
MEMBERSHIPS = TalonAudienceMembership.__table__
AUDIENCES = TalonAudience.__table__
# A profile and the audiences it belongs to, in one statement (the inventory's lease): the
# profile on its unique index, its memberships on the per-profile index (in its order, by
# audience id), each one's audience by key; a profile in no audience comes once, its audience
# None. (Joined flat: a membership
# joined to its audience in parentheses is materialized whole, every profile's.)
PROFILE_WITH_AUDIENCES = fastsql.prepared(
    select(PROFILES, AUDIENCES.c.id.label("audience_id"), AUDIENCES.c.name.label("audience_name"))
    .select_from(
        PROFILES.outerjoin(
            MEMBERSHIPS,
            same_tenant(MEMBERSHIPS.c.profile_integration_id, PROFILES.c.integration_id),
        ).outerjoin(AUDIENCES, same_tenant(AUDIENCES.c.id, MEMBERSHIPS.c.audience_id))
    )
    .where(
        PROFILES.c.tenant_id == bindparam("tenant"),
        PROFILES.c.integration_id == bindparam("integration_id"),
    )
    .order_by(MEMBERSHIPS.c.audience_id)
)


def profile_with_memberships(
    db: fastsql.Lease, tenant_id: str, integration_id: str
) -> tuple[ProfileState, list[dict[str, Any]]] | None:
    """A stored profile's state and its `audienceMemberships` ([{id, name}] by audience id),
    read together; None if there is no such profile."""
    parameters = {"tenant": tenant_id, "integration_id": integration_id}
    rows = fastsql.execute(db, PROFILE_WITH_AUDIENCES, parameters).all()
    if not rows:
        return None
    members = [(row.audience_id, row.audience_name) for row in rows if row.audience_id is not None]
    return state_of(rows[0]), membership_views(members)
