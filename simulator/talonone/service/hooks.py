"""The core part's calls into the loyalty and engagement parts.

Those parts are built alongside; each call degrades to a neutral answer while a module or a
function is missing, so the core works (and is tested) on its own. A function is looked up once
per process (the session hot path makes several of these calls).
"""

from __future__ import annotations

import functools
import importlib
from datetime import datetime
from typing import Any

from sqlmodel import Session


@functools.cache
def _function(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(f"simulator.talonone.service.{module}"), name)
    except (ImportError, AttributeError):
        return None


# --- loyalty (part 2) -------------------------------------------------------------------------


def on_session_change(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> list[dict]:
    function = _function("loyalty.session_effects", "on_session_change")
    return list(function(db, tenant_id, now, **kwargs) or []) if function else []


def tentative_card(effects: list[dict]) -> str | None:
    """What an open session with these effects records for its tentative loyalty figures (the
    card its loyalty effects name, "" for the profile's), None without loyalty effects."""
    function = _function("loyalty.session_effects", "tentative_card")
    return function(effects) if function else None


def on_session_return(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> list[dict]:
    function = _function("loyalty.session_effects", "on_session_return")
    return list(function(db, tenant_id, now, **kwargs) or []) if function else []


def available_points(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> float | None:
    """None when the loyalty part is absent (a deduction is then not checked)."""
    function = _function("loyalty.balances", "available_points")
    return function(db, tenant_id, now, **kwargs) if function else None


def lock_loyalty(db: Session, tenant_id: str, profile_id: str, card_identifier: str) -> None:
    """Lock the profile and its ledgers (and the card's) for the rest of the transaction,
    before the request takes anything else a ledger writer takes after them (an event's id):
    see loyalty_ledger.lock_ledgers. Nothing while the loyalty part is absent."""
    function = _function("loyalty_ledger", "lock_ledgers")
    if function:
        function(db, tenant_id, profile_id, card_identifier)


def profile_loyalty_block(db: Session, tenant_id: str, now: datetime, profile_id: str) -> dict:
    function = _function("loyalty.balances", "profile_loyalty_block")
    return function(db, tenant_id, now, profile_id) if function else {"programs": {}}


def delete_loyalty_data(db: Session, tenant_id: str, profile_id: str) -> None:
    function = _function("loyalty.balances", "delete_profile_data")
    if function:
        function(db, tenant_id, profile_id)


# --- engagement (part 3) ----------------------------------------------------------------------


def coupon_campaign_id(db: Session, tenant_id: str, code: str) -> int | None:
    function = _function("coupons", "coupon_campaign_id")
    return function(db, tenant_id, code) if function else None


def validate_coupon(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> str | None:
    function = _function("coupons", "validate_coupon")
    return function(db, tenant_id, now, **kwargs) if function else "CouponNotFound"


def redeem_coupons(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> None:
    function = _function("coupons", "redeem_coupons")
    if function and kwargs.get("codes"):
        function(db, tenant_id, now, **kwargs)


def release_coupons(db: Session, tenant_id: str, *, session_id: str) -> None:
    function = _function("coupons", "release_coupons")
    if function:
        function(db, tenant_id, session_id=session_id)


def referral_campaign_id(db: Session, tenant_id: str, code: str) -> int | None:
    function = _function("referrals", "referral_campaign_id")
    return function(db, tenant_id, code) if function else None


def validate_referral(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> str | None:
    function = _function("referrals", "validate_referral")
    return function(db, tenant_id, now, **kwargs) if function else "ReferralNotFound"


def redeem_referral(db: Session, tenant_id: str, now: datetime, **kwargs: Any) -> None:
    function = _function("referrals", "redeem_referral")
    if function and kwargs.get("code"):
        function(db, tenant_id, now, **kwargs)


def release_referral(db: Session, tenant_id: str, *, session_id: str) -> None:
    function = _function("referrals", "release_referral")
    if function:
        function(db, tenant_id, session_id=session_id)


def profile_audience_ids(db: Session, tenant_id: str, profile_id: str) -> set[int]:
    function = _function("audiences", "profile_audience_ids")
    return set(function(db, tenant_id, profile_id)) if function and profile_id else set()


def audience_memberships(db: Session, tenant_id: str, profile_id: str) -> list[dict] | None:
    function = _function("audiences", "profile_audience_memberships")
    return function(db, tenant_id, profile_id) if function else None


def apply_audience_changes(
    db: Session, tenant_id: str, now: datetime, profile_id: str, adds: list[int], deletes: list[int]
) -> bool:
    """False when the engagement part cannot take audience changes yet."""
    function = _function("audiences", "apply_profile_audience_changes")
    if function is None:
        return False
    function(db, tenant_id, now, profile_id, adds=adds, deletes=deletes)
    return True


def session_coupons(db: Session, tenant_id: str, codes: list[str], profile_id: str) -> list[dict]:
    """The IntegrationCoupon list of a session's known coupon codes (responseContent coupons)."""
    find = _function("coupons", "find_coupon")
    view = _function("coupons", "coupon_view")
    reservations = _function("coupons", "reservation_count")
    redemptions = _function("coupons", "redemption_count")
    if not (find and view and reservations and redemptions):
        return []
    found = []
    for code in codes:
        coupon = find(db, tenant_id, code)
        if coupon is None:
            continue
        item = view(coupon, reservations(db, tenant_id, coupon.id))
        item["profileRedemptionCount"] = (
            redemptions(db, tenant_id, coupon.id, profile_id=profile_id) if profile_id else 0
        )
        found.append(item)
    return found


def session_referral(db: Session, tenant_id: str, code: str) -> dict | None:
    """The InventoryReferral of a session's referral code (responseContent referral)."""
    find = _function("referrals", "find_referral")
    view = _function("referrals", "referral_view")
    referred = _function("referrals", "referred_customers")
    if not (find and view and referred) or not code:
        return None
    referral = find(db, tenant_id, code)
    if referral is None:
        return None
    item = view(referral)
    item["referredCustomers"] = referred(db, tenant_id, [referral.id]).get(referral.id, [])
    return item
