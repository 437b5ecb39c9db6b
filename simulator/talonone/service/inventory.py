"""GetCustomerInventory: exactly the blocks asked for, in the API's shapes.

The profile, its block and the coupons are read with prepared statements on the request's read
lease (the serving thread's connection, as the other hot reads); the other blocks' services use
the ORM, on a Session of their own opened only when one of them is asked for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from simulator.core import fastsql
from simulator.core.db import new_session
from simulator.core.models import Tenant
from simulator.core.store import Store
from simulator.talonone.models.engagement import TalonInventoryExtra
from simulator.talonone.service import achievements, coupons, referrals
from simulator.talonone.service.customer_data import profile_not_found
from simulator.talonone.service.loyalty.balances import profile_loyalty_block
from simulator.talonone.service.profile_store import profile_state
from simulator.talonone.service.profile_view import profile_view

FLAGS = ("profile", "referrals", "coupons", "loyalty", "giveaways", "achievements")
EXTRA_KINDS = {"giveaways": "giveaway", "achievements": "achievement"}
LEASE_BLOCKS = {"profile", "coupons"}  # read on the request's lease; the others need the ORM
# The answer's keys come in this order (docs/behaviour.md), whichever connection read them.
ORDER = ("profile", "loyalty", "referrals", "coupons", "giveaways", "achievements")


def extras(db: Store, tenant_id: str, profile_id: str, kinds: list[str]) -> dict[str, list]:
    """Giveaways / achievements that fixtures declared for this profile, by kind in the order
    of `kinds` (one query)."""
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
    db: fastsql.Lease, tenant: Tenant, now: datetime, integration_id: str, flags: set[str]
) -> dict[str, Any]:
    """The CustomerInventory of a profile: a key per flag set, none other; 404 if unknown."""
    profile = profile_state(db, tenant.id, integration_id)
    if profile is None:
        raise profile_not_found(integration_id)
    inventory: dict[str, Any] = {}
    if "profile" in flags:
        inventory["profile"] = profile_view(db, tenant, profile)
    if flags - LEASE_BLOCKS:
        with new_session(db.engine) as session:
            inventory.update(orm_blocks(session, tenant.id, now, integration_id, flags))
    if "coupons" in flags:
        inventory["coupons"] = coupons.profile_coupons(db, tenant.id, now, integration_id)
    return {flag: inventory[flag] for flag in ORDER if flag in inventory}


def orm_blocks(
    db: Store, tenant_id: str, now: datetime, integration_id: str, flags: set[str]
) -> dict[str, Any]:
    """The blocks of `flags` read through the ORM (those not in LEASE_BLOCKS)."""
    blocks: dict[str, Any] = {}
    if "loyalty" in flags:
        blocks["loyalty"] = profile_loyalty_block(db, tenant_id, now, integration_id)
    if "referrals" in flags:
        blocks["referrals"] = referrals.profile_referrals(db, tenant_id, integration_id)
    kinds = [EXTRA_KINDS[flag] for flag in FLAGS if flag in flags and flag in EXTRA_KINDS]
    for kind, items in extras(db, tenant_id, integration_id, kinds).items():
        blocks[f"{kind}s"] = items
    if "achievements" in flags:  # the progress kept, after the fixtures' static entries
        blocks["achievements"] += achievements.inventory_achievements(
            db, tenant_id, now, integration_id
        )
    return blocks
