"""GetCustomerInventory: exactly the blocks asked for, in the API's shapes.

Every block is read with prepared statements on the request's read lease (the serving thread's
connection, as the other hot reads): no ORM Session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from simulator.core import caches, fastsql
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
EXTRAS_OF_PROFILES = fastsql.prepared(
    select(EXTRAS.c.profile_integration_id, EXTRAS.c.kind, EXTRAS.c.body)
    .where(
        EXTRAS.c.tenant_id == bindparam("tenant"),
        EXTRAS.c.profile_integration_id.in_(bindparam("profiles", expanding=True)),
    )
    .order_by(EXTRAS.c.pk)
)

# What this process has read of each tenant's giveaways and achievements: {profile: {kind:
# [body, ...]}, or None for a profile with none}, under the tenant's cache revision then.
# Fixtures are their only writer, and loading them renews the revision.
_declared_extras: caches.KnownUnderRevision[str, dict[str, list]] = caches.KnownUnderRevision(
    "talonone.inventory_extras",
    "(store, tenant) -> a profile's fixture-declared giveaways and achievements; right while "
    "the tenant's cache_revision (read with the tenant on each request, renewed when its "
    "fixtures load, their only writer) is the one they were read under",
)


def read_extras(
    db: fastsql.Lease, tenant_id: str, profile_ids: set[str]
) -> dict[str, dict[str, list]]:
    """The giveaways / achievements that fixtures declared for these profiles, by profile and
    kind, in declaration order (one query)."""
    found: dict[str, dict[str, list]] = {}
    parameters = {"tenant": tenant_id, "profiles": sorted(profile_ids)}
    for profile_id, kind, body in fastsql.execute(db, EXTRAS_OF_PROFILES, parameters):
        found.setdefault(profile_id, {}).setdefault(kind, []).append(body)
    return found


def extras(db: fastsql.Lease, tenant: Tenant, profile_id: str, kinds: list[str]) -> dict[str, list]:
    """The profile's giveaways / achievements by kind, in the order of `kinds`: read once under
    the tenant's cache revision, each answer with lists and bodies of its own."""
    if not kinds:
        return {}
    known = _declared_extras.lookup(
        db.get_bind(),
        tenant.id,
        tenant.cache_revision,
        {profile_id},
        lambda missing: read_extras(db, tenant.id, missing),
    )
    declared = known[profile_id] or {}
    return {kind: [dict(body) for body in declared.get(kind, ())] for kind in kinds}


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
    for kind, items in extras(db, tenant, integration_id, kinds).items():
        inventory[f"{kind}s"] = items
    if "achievements" in flags:  # the progress kept, after the fixtures' static entries
        inventory["achievements"] += achievements.inventory_achievements(
            db, tenant.id, now, integration_id
        )
    return inventory
