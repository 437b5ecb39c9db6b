"""GetCustomerInventory: exactly the blocks asked for, in the API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.engagement import TalonInventoryExtra
from simulator.talonone.service import achievements, coupons, referrals
from simulator.talonone.service.customer_data import profile_not_found
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.profile_store import get_profile
from simulator.talonone.service.profile_view import profile_view

FLAGS = ("profile", "referrals", "coupons", "loyalty", "giveaways", "achievements")
EXTRA_KINDS = {"giveaways": "giveaway", "achievements": "achievement"}


def extras(db: Store, tenant_id: str, profile_id: str, kinds: set[str]) -> dict[str, list]:
    """Giveaways / achievements that fixtures declared for this profile, by kind (one query)."""
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    if not kinds:
        return found
    statement = (
        select(TalonInventoryExtra.kind, TalonInventoryExtra.body)
        .where(
            TalonInventoryExtra.tenant_id == tenant_id,
            TalonInventoryExtra.profile_integration_id == profile_id,
            TalonInventoryExtra.kind.in_(kinds),
        )
        .order_by(TalonInventoryExtra.pk)
    )
    for kind, body in db.exec(statement).all():
        found[kind].append(dict(body))
    return found


def customer_inventory(
    db: Store, tenant: Tenant, now: datetime, integration_id: str, flags: set[str]
) -> dict[str, Any]:
    """The CustomerInventory of a profile: a key per flag set, none other; 404 if unknown."""

    profile = get_profile(db, tenant.id, integration_id)
    if profile is None:
        raise profile_not_found(integration_id)
    inventory: dict[str, Any] = {}
    if "profile" in flags:
        inventory["profile"] = profile_view(db, tenant, profile)
    if "loyalty" in flags:
        inventory["loyalty"] = profile_loyalty_block(db, tenant.id, now, integration_id)
    if "referrals" in flags:
        inventory["referrals"] = referrals.profile_referrals(db, tenant.id, integration_id)
    if "coupons" in flags:
        inventory["coupons"] = coupons.profile_coupons(db, tenant.id, now, integration_id)
    kinds = {EXTRA_KINDS[flag] for flag in flags if flag in EXTRA_KINDS}
    for kind, items in extras(db, tenant.id, integration_id, kinds).items():
        inventory[f"{kind}s"] = items
    if "achievements" in flags:  # the progress kept, after the fixtures' static entries
        inventory["achievements"] += achievements.inventory_achievements(
            db, tenant.id, now, integration_id
        )
    return inventory
