"""Coupons: reservations (hard and soft), validation for the rule engine, redemption on close.

Part 1 (sessions) calls `validate_coupon` while it evaluates a campaign, `redeem_coupons` when a
session closes and `release_coupons` when it is cancelled (or reopened).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, case, delete, func, true, union, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from simulator.core import fastsql
from simulator.core.clock import format_instant
from simulator.core.db import same_tenant
from simulator.core.formats import number
from simulator.core.store import Store
from simulator.talonone.errors import TalonOneError
from simulator.talonone.models.engagement import (
    TalonCoupon,
    TalonCouponRedemption,
    TalonCouponReservation,
)
from simulator.talonone.parsing import expect_list, expect_str, invalid
from simulator.talonone.service.campaigns import frontend_state, load_config
from simulator.talonone.service.profile_store import ensure_profile
from simulator.talonone.service.profile_view import profile_view, profile_with_memberships

MAX_RESERVATION_IDS = 1000
REDEEM_ACTION = "redeemCoupon"

# The rejection reasons this module answers, in the order they are checked.
NOT_FOUND = "CouponNotFound"
START_IN_FUTURE = "CouponStartDateInFuture"
EXPIRED = "CouponExpired"
RECIPIENT_MISMATCH = "CouponRecipientDoesNotMatch"
PROFILE_REQUIRED = "ProfileRequired"
RESERVATION_REQUIRED = "CouponReservationRequired"
LIMIT_REACHED = "CouponLimitReached"
PROFILE_LIMIT_REACHED = "ProfileLimitReached"
BUDGET_EXHAUSTED = "EffectCouldNotBeApplied"


# --- lookups and views ------------------------------------------------------------------------


def find_coupon(db: Store, tenant_id: str, code: str) -> TalonCoupon | None:
    """The coupon with exactly this value (codes are case-sensitive here)."""
    statement = select(TalonCoupon).where(
        TalonCoupon.tenant_id == tenant_id, TalonCoupon.value == code
    )
    return db.exec(statement).first()


def coupon_campaign_id(db: Store, tenant_id: str, code: str) -> int | None:
    """The campaign a code belongs to (lets the rule engine pick the campaign to evaluate)."""
    coupon = find_coupon(db, tenant_id, code)
    return coupon.campaign_id if coupon else None


def require_coupon(db: Store, tenant_id: str, code: str) -> TalonCoupon:
    coupon = find_coupon(db, tenant_id, code)
    if coupon is None:
        raise coupon_not_found(code)
    return coupon


def coupon_not_found(code: str) -> TalonOneError:
    return TalonOneError(
        404, f"Coupon with value {code!r} not found", title="Not found", parameter="couponValue"
    )


def reservation_count(db: Store, tenant_id: str, coupon_id: int) -> int:
    statement = select(func.count()).where(
        TalonCouponReservation.tenant_id == tenant_id,
        TalonCouponReservation.coupon_id == coupon_id,
    )
    return int(db.exec(statement).one())


class CouponFields(Protocol):
    """What a coupon's views read: a TalonCoupon, or a row of the inventory's prepared read
    (the coupon table's columns by name)."""

    id: int
    campaign_id: int
    value: str
    usage_limit: int
    usage_counter: int
    discount_limit: float | None
    discount_counter: float
    reservation_limit: int
    reservation: bool
    is_reservation_mandatory: bool
    implicitly_reserved: bool
    recipient_integration_id: str | None
    start_date: datetime | None
    expiry_date: datetime | None
    attributes: dict[str, Any]
    limits: list[dict[str, Any]]
    batch_id: str | None
    created: datetime


def coupon_view(coupon: CouponFields, reservations: int) -> dict[str, Any]:
    """The `Coupon` JSON of the API (optional keys left out when unset)."""
    view: dict[str, Any] = {
        "id": coupon.id,
        "created": format_instant(coupon.created),
        "campaignId": coupon.campaign_id,
        "value": coupon.value,
        "usageLimit": coupon.usage_limit,
        "reservationLimit": coupon.reservation_limit,
        "usageCounter": coupon.usage_counter,
        "reservationCounter": reservations,
        "attributes": dict(coupon.attributes or {}),
        "reservation": coupon.reservation,
        "isReservationMandatory": coupon.is_reservation_mandatory,
        "implicitlyReserved": coupon.implicitly_reserved,
    }
    if coupon.discount_limit:
        view["discountLimit"] = number(coupon.discount_limit)
        view["discountCounter"] = number(coupon.discount_counter)
        view["discountRemainder"] = number(max(coupon.discount_limit - coupon.discount_counter, 0))
    if coupon.start_date is not None:
        view["startDate"] = format_instant(coupon.start_date)
    if coupon.expiry_date is not None:
        view["expiryDate"] = format_instant(coupon.expiry_date)
    if coupon.limits:
        view["limits"] = [dict(limit) for limit in coupon.limits]
    if coupon.recipient_integration_id is not None:
        view["recipientIntegrationId"] = coupon.recipient_integration_id
    if coupon.batch_id is not None:
        view["batchId"] = coupon.batch_id
    return view


def coupon_discount_remainder(db: Store, tenant_id: str, code: str) -> float | None:
    """What the coupon's own discount budget can still give (None: no budget)."""
    coupon = find_coupon(db, tenant_id, code)
    if coupon is None or not coupon.discount_limit:
        return None
    return max(coupon.discount_limit - coupon.discount_counter, 0.0)


# --- reservations -----------------------------------------------------------------------------


def check_integration_ids(body: dict[str, Any]) -> list[str]:
    """The `integrationIDs` of a CouponReservations body, checked; duplicates dropped."""
    if "integrationIDs" not in body:
        raise invalid("/integrationIDs", "integrationIDs is required", "required")
    value = expect_list(body["integrationIDs"], "/integrationIDs", MAX_RESERVATION_IDS)
    if not value:
        raise invalid("/integrationIDs", "integrationIDs must not be empty")
    for index, item in enumerate(value):
        expect_str(item, f"/integrationIDs/{index}", max_length=1000)
        if not item.strip():
            raise invalid(f"/integrationIDs/{index}", "an integration ID must not be blank")
    return list(dict.fromkeys(value))


def reserved_profile_ids(db: Store | fastsql.Lease, tenant_id: str, coupon_id: int) -> list[str]:
    """The coupon's holders in reservation order (those the request added too)."""
    parameters = {"tenant": tenant_id, "coupon": coupon_id}
    return fastsql.execute(db, RESERVED_PROFILE_IDS, parameters).scalars()


def create_reservations(
    db: Store, tenant_id: str, now: datetime, code: str, integration_ids: list[str]
) -> dict[str, Any]:
    """Reserve the coupon for these profiles (creating unknown ones); returns the Coupon view.

    Documented: the reservation limit of the coupon does not apply to this endpoint. Chosen: a
    personal code (`reservation: false`) can be reserved for one profile only; reserving again
    for a profile that already holds it changes nothing.
    """

    coupon = require_coupon(db, tenant_id, code)
    existing = set(reserved_profile_ids(db, tenant_id, coupon.id))
    new_ids = [pid for pid in integration_ids if pid not in existing]
    if not coupon.reservation and len(existing | set(integration_ids)) > 1:
        raise TalonOneError(
            400,
            f"Coupon {code!r} is a personal code and can be reserved for one customer profile only",
            title="Invalid reservation",
            pointer="/integrationIDs",
        )
    for profile_id in new_ids:
        ensure_profile(db, tenant_id, profile_id, now)
        reservation = TalonCouponReservation(
            tenant_id=tenant_id, coupon_id=coupon.id, profile_integration_id=profile_id, created=now
        )
        # Reserved by a request running at the same time: the same outcome.
        with contextlib.suppress(IntegrityError), db.begin_nested():
            db.add(reservation)
    return coupon_view(coupon, reservation_count(db, tenant_id, coupon.id))


def delete_reservations(db: Store, tenant_id: str, code: str, integration_ids: list[str]) -> None:
    """Remove the reservations of this coupon held by these profiles (others are ignored)."""
    coupon = require_coupon(db, tenant_id, code)
    db.execute(
        delete(TalonCouponReservation).where(
            TalonCouponReservation.tenant_id == tenant_id,
            TalonCouponReservation.coupon_id == coupon.id,
            TalonCouponReservation.profile_integration_id.in_(integration_ids),
        )
    )


def reserved_customers(db: fastsql.Lease, tenant: Any, code: str) -> list[dict[str, Any]]:
    """GetReservedCustomers: the CustomerProfile of every holder, in reservation order."""
    coupon = fastsql.execute(db, COUPON_ID_BY_VALUE, {"tenant": tenant.id, "value": code}).first()
    if coupon is None:
        raise coupon_not_found(code)
    views = []
    for holder in reserved_profile_ids(db, tenant.id, coupon.id):
        found = profile_with_memberships(db, tenant.id, holder)
        if found is not None:
            views.append(profile_view(db, tenant, *found))
    return views


def has_reservation(db: Store, tenant_id: str, coupon_id: int, profile_id: str) -> bool:
    return db.get(TalonCouponReservation, (tenant_id, coupon_id, profile_id)) is not None


# --- validation and redemption (called by the rule engine) ------------------------------------


def profile_limit(coupon: CouponFields) -> int | None:
    """The per-profile redemption limit of the coupon's `limits`, if it declares one."""
    for limit in coupon.limits or []:
        if limit.get("action") == REDEEM_ACTION and "Profile" in (limit.get("entities") or []):
            return int(limit.get("limit", 0))
    return None


def redemption_count(
    db: Store,
    tenant_id: str,
    coupon_id: int,
    *,
    profile_id: str | None = None,
    exclude_session: str | None = None,
) -> int:
    statement = select(func.count()).where(
        TalonCouponRedemption.tenant_id == tenant_id,
        TalonCouponRedemption.coupon_id == coupon_id,
    )
    if profile_id is not None:
        statement = statement.where(TalonCouponRedemption.profile_id == profile_id)
    if exclude_session is not None:
        statement = statement.where(TalonCouponRedemption.session_id != exclude_session)
    return int(db.exec(statement).one())


def redeemed_by_session(db: Store, tenant_id: str, coupon_id: int, session_id: str) -> bool:
    statement = select(TalonCouponRedemption.pk).where(
        TalonCouponRedemption.tenant_id == tenant_id,
        TalonCouponRedemption.coupon_id == coupon_id,
        TalonCouponRedemption.session_id == session_id,
    )
    return db.exec(statement).first() is not None


def validate_coupon(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    code: str,
    campaign_id: int,
    profile_id: str | None,
    session_id: str | None = None,
) -> str | None:
    """None when the campaign may use this coupon for this profile, else the rejection reason.

    `session_id` (optional) names the session asking: its own redemption of the coupon (a session
    closed before) does not count against the limits.
    """
    coupon = find_coupon(db, tenant_id, code)
    if coupon is None or coupon.campaign_id != campaign_id:
        return NOT_FOUND
    if coupon.start_date is not None and coupon.start_date > now:
        return START_IN_FUTURE
    if coupon.expiry_date is not None and coupon.expiry_date <= now:
        return EXPIRED
    profile_id = profile_id or None
    if (
        coupon.recipient_integration_id is not None
        and coupon.recipient_integration_id != profile_id
    ):
        return RECIPIENT_MISMATCH
    if coupon.is_reservation_mandatory:
        if profile_id is None:
            return PROFILE_REQUIRED
        if not has_reservation(db, tenant_id, coupon.id, profile_id):
            return RESERVATION_REQUIRED
    if coupon.usage_limit > 0:
        used = coupon.usage_counter
        if session_id is not None and redeemed_by_session(db, tenant_id, coupon.id, session_id):
            used -= 1
        if used >= coupon.usage_limit:
            return LIMIT_REACHED
    per_profile = profile_limit(coupon)
    if per_profile is not None:
        if profile_id is None:
            return PROFILE_REQUIRED
        used = redemption_count(
            db, tenant_id, coupon.id, profile_id=profile_id, exclude_session=session_id
        )
        if used >= per_profile:
            return PROFILE_LIMIT_REACHED
    if coupon.discount_limit and coupon.discount_counter >= coupon.discount_limit:
        return BUDGET_EXHAUSTED
    return None


def redeem_coupons(
    db: Store,
    tenant_id: str,
    now: datetime,
    *,
    session_id: str,
    profile_id: str | None,
    codes: list[str],
    discounts: dict[str, float] | None = None,
) -> None:
    """Count one redemption of each code by this (closing) session; a second call is a no-op.

    `discounts` (optional): the discount each code gave, added to its coupon budget counter.
    """
    discounts = discounts or {}
    for code in dict.fromkeys(codes):
        coupon = find_coupon(db, tenant_id, code)
        if coupon is None:
            continue
        if redeemed_by_session(db, tenant_id, coupon.id, session_id):
            continue
        discount = float(discounts.get(code, 0.0))
        db.add(
            TalonCouponRedemption(
                tenant_id=tenant_id,
                coupon_id=coupon.id,
                session_id=session_id,
                profile_id=profile_id or None,
                discount=discount,
                created=now,
            )
        )
        db.execute(
            update(TalonCoupon)
            .where(TalonCoupon.tenant_id == tenant_id, TalonCoupon.id == coupon.id)
            .values(
                usage_counter=TalonCoupon.usage_counter + 1,
                discount_counter=TalonCoupon.discount_counter + discount,
            )
        )
    db.flush()
    db.expire_all()


def release_coupons(db: Store, tenant_id: str, *, session_id: str) -> None:
    """Give back the redemptions of a cancelled (or reopened) session."""
    rows = db.exec(
        select(TalonCouponRedemption).where(
            TalonCouponRedemption.tenant_id == tenant_id,
            TalonCouponRedemption.session_id == session_id,
        )
    ).all()
    for row in rows:
        db.execute(
            update(TalonCoupon)
            .where(TalonCoupon.tenant_id == tenant_id, TalonCoupon.id == row.coupon_id)
            .values(
                usage_counter=case(
                    (TalonCoupon.usage_counter > 0, TalonCoupon.usage_counter - 1), else_=0
                ),
                discount_counter=TalonCoupon.discount_counter - row.discount,
            )
        )
        db.delete(row)
    db.flush()
    db.expire_all()


# --- the profile's coupons (inventory) ---------------------------------------------------------


INACTIVE_CAMPAIGN_STATES = ("disabled", "archived", "expired")


def campaign_states(
    db: Store | fastsql.Lease, tenant_id: str, now: datetime, campaign_ids: set[int]
) -> dict[int, str]:
    """The frontend state (running, scheduled, expired, disabled, archived) of each of these
    campaigns the tenant has (only these: a tenant may have hundreds)."""
    campaigns = load_config(db, tenant_id).campaigns or []
    return {
        campaign["id"]: frontend_state(campaign, now)
        for campaign in campaigns
        if campaign["id"] in campaign_ids
    }


def coupon_state(
    coupon: CouponFields, now: datetime, profile_redemptions: int, campaign_state: str | None
) -> str:
    """active | used | expired | pending | disabled, as the inventory documents them (a coupon
    of a scheduled campaign is active, as documented)."""
    if campaign_state is None or campaign_state in INACTIVE_CAMPAIGN_STATES:
        return "disabled"
    if coupon.start_date is not None and coupon.start_date > now:
        return "pending"
    exhausted = coupon.usage_limit > 0 and coupon.usage_counter >= coupon.usage_limit
    per_profile = profile_limit(coupon)
    if per_profile is not None and profile_redemptions >= per_profile:
        exhausted = True
    expired = coupon.expiry_date is not None and coupon.expiry_date <= now
    if exhausted or (expired and profile_redemptions > 0):
        return "used"
    if expired:
        return "expired"
    return "active"


COUPONS = TalonCoupon.__table__
RESERVATIONS = TalonCouponReservation.__table__
REDEMPTIONS = TalonCouponRedemption.__table__
# A coupon's id by its value (the key's index), and its holders in reservation order: run on
# the read lease of GetReservedCustomers, and on a write's Session (`autoflush`: the
# reservations the request added are listed too).
COUPON_ID_BY_VALUE = fastsql.prepared(
    select(COUPONS.c.id).where(
        COUPONS.c.tenant_id == bindparam("tenant"), COUPONS.c.value == bindparam("value")
    )
)
RESERVED_PROFILE_IDS = fastsql.prepared(
    select(RESERVATIONS.c.profile_integration_id)
    .where(
        RESERVATIONS.c.tenant_id == bindparam("tenant"),
        RESERVATIONS.c.coupon_id == bindparam("coupon"),
    )
    .order_by(RESERVATIONS.c.created, RESERVATIONS.c.profile_integration_id),
    autoflush=True,
)
# The three ways a coupon belongs in a profile's inventory, each read on an index of its own
# (one condition OR-ing them would walk every coupon of the tenant). Built once, run on the
# DBAPI cursor (core/fastsql), on the inventory's read lease.
PROFILE_COUPON_IDS = fastsql.prepared(
    union(
        select(RESERVATIONS.c.coupon_id).where(
            RESERVATIONS.c.tenant_id == bindparam("tenant"),
            RESERVATIONS.c.profile_integration_id == bindparam("profile"),
        ),
        select(COUPONS.c.id).where(
            COUPONS.c.tenant_id == bindparam("tenant"),
            COUPONS.c.recipient_integration_id == bindparam("profile"),
        ),
        select(COUPONS.c.id).where(
            COUPONS.c.tenant_id == bindparam("tenant"),
            COUPONS.c.implicitly_reserved == true(),
        ),
    )
)
# Those coupons by primary key (as a subquery, a planner without statistics may still walk the
# tenant's), with their reservations and the profile's redemptions counted.
PROFILE_COUPONS = fastsql.prepared(
    select(
        COUPONS,
        select(func.count())
        .where(same_tenant(RESERVATIONS.c.coupon_id, COUPONS.c.id))
        .scalar_subquery()
        .label("reserved_count"),
        select(func.count())
        .where(
            same_tenant(REDEMPTIONS.c.coupon_id, COUPONS.c.id),
            REDEMPTIONS.c.profile_id == bindparam("profile"),
        )
        .scalar_subquery()
        .label("redeemed"),
    )
    .where(
        COUPONS.c.tenant_id == bindparam("tenant"),
        COUPONS.c.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(COUPONS.c.id)
)


def profile_coupons(
    db: fastsql.Lease, tenant_id: str, now: datetime, profile_id: str
) -> list[dict]:
    """The InventoryCoupon list: reserved (hard or soft), addressed to the profile, or visible
    to everyone (`implicitlyReserved`), redeemed ones included."""
    belonging = {"tenant": tenant_id, "profile": profile_id}
    coupon_ids = sorted(row[0] for row in fastsql.execute(db, PROFILE_COUPON_IDS, belonging))
    coupons = []
    for start in range(0, len(coupon_ids), ID_CHUNK):
        chunk = {**belonging, "ids": coupon_ids[start : start + ID_CHUNK]}
        coupons += fastsql.execute(db, PROFILE_COUPONS, chunk)
    if not coupons:
        return []
    states = campaign_states(db, tenant_id, now, {coupon.campaign_id for coupon in coupons})
    views = []
    for coupon in coupons:
        redeemed = int(coupon.redeemed)
        view = coupon_view(coupon, int(coupon.reserved_count))
        view["profileRedemptionCount"] = redeemed
        view["state"] = coupon_state(coupon, now, redeemed, states.get(coupon.campaign_id))
        views.append(view)
    return views


# Ids bound in one IN list at most (SQLite takes at most 32,766 parameters a statement).
ID_CHUNK = 500


def delete_profile_data(db: Store, tenant_id: str, profile_id: str) -> None:
    """DeleteCustomerData: the profile's reservations and personal coupons go; its redemptions
    stay counted (the counters are not personal data) but no longer name it."""
    db.execute(
        delete(TalonCouponReservation).where(
            TalonCouponReservation.tenant_id == tenant_id,
            TalonCouponReservation.profile_integration_id == profile_id,
        )
    )
    personal = select(TalonCoupon.id).where(
        TalonCoupon.tenant_id == tenant_id, TalonCoupon.recipient_integration_id == profile_id
    )
    personal_ids = list(db.exec(personal).all())
    if personal_ids:
        for table in (TalonCouponReservation, TalonCouponRedemption):
            db.execute(
                delete(table).where(table.tenant_id == tenant_id, table.coupon_id.in_(personal_ids))
            )
        db.execute(
            delete(TalonCoupon).where(
                TalonCoupon.tenant_id == tenant_id, TalonCoupon.id.in_(personal_ids)
            )
        )
    db.execute(
        update(TalonCouponRedemption)
        .where(
            TalonCouponRedemption.tenant_id == tenant_id,
            TalonCouponRedemption.profile_id == profile_id,
        )
        .values(profile_id=None)
    )


def session_coupons(db: Store, tenant_id: str, codes: list[str], profile_id: str) -> list[dict]:
    """The IntegrationCoupon list of a session's known coupon codes (responseContent coupons)."""
    found = []
    for code in codes:
        coupon = find_coupon(db, tenant_id, code)
        if coupon is None:
            continue
        item = coupon_view(coupon, reservation_count(db, tenant_id, coupon.id))
        item["profileRedemptionCount"] = (
            redemption_count(db, tenant_id, coupon.id, profile_id=profile_id) if profile_id else 0
        )
        found.append(item)
    return found
