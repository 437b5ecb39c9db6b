"""GetCustomerInventory: exactly the blocks asked for, in the API's shapes.

Every block is read with prepared statements on the request's read lease (the serving thread's
connection, as the other hot reads): no ORM Session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from simulator.core import fastsql
from simulator.core.models import Tenant
from simulator.talonone.models.engagement import TalonInventoryExtra
from simulator.talonone.service import achievements, coupons, referrals
from simulator.talonone.service.customer_data import profile_not_found, require_stored_profile
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.profile_view import profile_view, profile_with_memberships

FLAGS = ("profile", "referrals", "coupons", "loyalty", "giveaways", "achievements")
EXTRA_KINDS = {"giveaways": "giveaway", "achievements": "achievement"}


EXTRAS = TalonInventoryExtra.__table__
# Built once, run on the DBAPI cursor (core/fastsql), on the request's lease.
EXTRAS_OF_PROFILE = fastsql.prepared(
    select(EXTRAS.c.kind, EXTRAS.c.body)
    .where(
        EXTRAS.c.tenant_id == bindparam("tenant"),
        EXTRAS.c.profile_integration_id == bindparam("profile"),
        EXTRAS.c.kind.in_(bindparam("kinds", expanding=True)),
    )
    .order_by(EXTRAS.c.pk)
)


def extras(db: fastsql.Lease, tenant_id: str, profile_id: str, kinds: list[str]) -> dict[str, list]:
    """Giveaways / achievements that fixtures declared for this profile, by kind in the order
    of `kinds` (one query)."""
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    if not kinds:
        return found
    parameters = {"tenant": tenant_id, "profile": profile_id, "kinds": kinds}
    for kind, body in fastsql.execute(db, EXTRAS_OF_PROFILE, parameters):
        found[kind].append(dict(body))
    return found


def customer_inventory(
    db: fastsql.Lease, tenant: Tenant, now: datetime, integration_id: str, flags: set[str]
) -> dict[str, Any]:
    """The CustomerInventory of a profile: a key per flag set, none other, in the order
    profile, loyalty, referrals, coupons, giveaways, achievements (docs/behaviour.md); 404 if
    unknown."""
    inventory: dict[str, Any] = {}
    if "profile" in flags:
        found = profile_with_memberships(db, tenant.id, integration_id)
        if found is None:
            raise profile_not_found(integration_id)
        inventory["profile"] = profile_view(db, tenant, *found)
    else:
        require_stored_profile(db, tenant.id, integration_id)
    if "loyalty" in flags:
        inventory["loyalty"] = profile_loyalty_block(db, tenant.id, now, integration_id)
    if "referrals" in flags:
        inventory["referrals"] = referrals.profile_referrals(db, tenant.id, integration_id)
    if "coupons" in flags:
        inventory["coupons"] = coupons.profile_coupons(db, tenant.id, now, integration_id)
    kinds = [EXTRA_KINDS[flag] for flag in FLAGS if flag in flags and flag in EXTRA_KINDS]
    for kind, items in extras(db, tenant.id, integration_id, kinds).items():
        inventory[f"{kind}s"] = items
    if "achievements" in flags:  # the progress kept, after the fixtures' static entries
        inventory["achievements"] += achievements.inventory_achievements(
            db, tenant.id, now, integration_id
        )
    return inventory
