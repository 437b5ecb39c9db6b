"""DeleteCustomerData: a profile and everything that references it, across the three parts."""

from __future__ import annotations

from simulator.core import fastsql
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.service import achievements, audiences, coupons, referrals
from simulator.talonone.service.loyalty.balances import delete_profile_data
from simulator.talonone.service.profile_store import delete_profile, get_profile, profile_exists


def profile_not_found(integration_id: str) -> TalonOneError:
    return TalonOneError(
        404,
        f"Customer profile with integration ID {integration_id!r} not found",
        title="Not found",
        parameter="integrationId",
    )


def require_stored_profile(db: Store | fastsql.Lease, tenant_id: str, integration_id: str) -> None:
    """404 (`profile_not_found`) unless the profile is stored."""
    if not profile_exists(db, tenant_id, integration_id):
        raise profile_not_found(integration_id)


def delete_customer_data(db: Store, tenant_id: str, integration_id: str) -> None:
    """Remove the profile (with its sessions and events), its loyalty data,
    its audience memberships, coupon reservations, personal coupons and referral codes.

    404 when no such profile exists. The caller commits.
    """

    if get_profile(db, tenant_id, integration_id) is None:
        raise profile_not_found(integration_id)
    audiences.delete_profile_data(db, tenant_id, integration_id)
    coupons.delete_profile_data(db, tenant_id, integration_id)
    referrals.delete_profile_data(db, tenant_id, integration_id)
    delete_profile_data(db, tenant_id, integration_id)
    achievements.delete_profile_progress(db, tenant_id, integration_id)
    delete_profile(db, tenant_id, integration_id)
    db.flush()
