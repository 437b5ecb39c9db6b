"""Coupons as the rule engine sees them: every rejection reason, redemption on close, release
on cancel, and the coupon's state in a profile's inventory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from simulator.core.db import new_session
from simulator.talonone.models.engagement import TalonCoupon, TalonCouponReservation
from simulator.talonone.service import coupons

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
TENANT = "default"


@pytest.fixture
def db(client: TestClient):
    with new_session(client.app.state.engine) as session:
        yield session


def add_coupon(db: Session, value: str, **fields) -> TalonCoupon:
    coupon_id = 1000 + len(db.exec(select(TalonCoupon)).all())
    coupon = TalonCoupon(
        tenant_id=TENANT, id=coupon_id, campaign_id=1, value=value, created=NOW, **fields
    )
    db.add(coupon)
    db.commit()
    return coupon


def reserve(db: Session, coupon: TalonCoupon, profile: str) -> None:
    db.add(
        TalonCouponReservation(
            tenant_id=TENANT, coupon_id=coupon.id, profile_integration_id=profile, created=NOW
        )
    )
    db.commit()


def check(db: Session, code: str, profile: str | None = "p1", **kwargs) -> str | None:
    options = {"campaign_id": 1, "now": NOW, **kwargs}
    now = options.pop("now")
    return coupons.validate_coupon(db, TENANT, now, code=code, profile_id=profile, **options)


def close(db: Session, session_id: str, profile: str | None, codes: list[str], **kw) -> None:
    coupons.redeem_coupons(
        db, TENANT, NOW, session_id=session_id, profile_id=profile, codes=codes, **kw
    )
    db.commit()


def test_plain_coupon_is_accepted(db: Session) -> None:
    add_coupon(db, "PLAIN-1")
    assert check(db, "PLAIN-1") is None
    assert check(db, "PLAIN-1", profile=None) is None


def test_unknown_code_and_code_of_another_campaign(db: Session) -> None:
    add_coupon(db, "PLAIN-1")
    assert check(db, "NOPE-1") == "CouponNotFound"
    assert check(db, "plain-1") == "CouponNotFound"  # values are case-sensitive
    assert check(db, "PLAIN-1", campaign_id=2) == "CouponNotFound"
    assert coupons.coupon_campaign_id(db, TENANT, "PLAIN-1") == 1


def test_start_and_expiry_on_the_given_clock(db: Session) -> None:
    add_coupon(
        db, "DATED-1", start_date=NOW + timedelta(days=1), expiry_date=NOW + timedelta(days=2)
    )
    assert check(db, "DATED-1") == "CouponStartDateInFuture"
    assert check(db, "DATED-1", now=NOW + timedelta(days=1)) is None
    assert check(db, "DATED-1", now=NOW + timedelta(days=2)) == "CouponExpired"


def test_recipient_must_match(db: Session) -> None:
    add_coupon(db, "MINE-1", recipient_integration_id="p1")
    assert check(db, "MINE-1", profile="p1") is None
    assert check(db, "MINE-1", profile="p2") == "CouponRecipientDoesNotMatch"
    assert check(db, "MINE-1", profile=None) == "CouponRecipientDoesNotMatch"


def test_mandatory_reservation(db: Session) -> None:
    coupon = add_coupon(db, "HARD-1", is_reservation_mandatory=True)
    assert check(db, "HARD-1", profile=None) == "ProfileRequired"
    assert check(db, "HARD-1", profile="p1") == "CouponReservationRequired"
    reserve(db, coupon, "p1")
    assert check(db, "HARD-1", profile="p1") is None
    assert check(db, "HARD-1", profile="p2") == "CouponReservationRequired"


def test_soft_reservation_does_not_restrict(db: Session) -> None:
    coupon = add_coupon(db, "SOFT-1")
    reserve(db, coupon, "p1")
    assert check(db, "SOFT-1", profile="p2") is None


def test_usage_limit_close_and_cancel(db: Session) -> None:
    add_coupon(db, "ONCE-1", usage_limit=1)
    close(db, "s1", "p1", ["ONCE-1"])
    close(db, "s1", "p1", ["ONCE-1"])  # closing twice counts once
    assert check(db, "ONCE-1", profile="p2") == "CouponLimitReached"
    # The session that redeemed it may still carry it (e.g. re-evaluated after a reopen).
    assert check(db, "ONCE-1", profile="p1", session_id="s1") is None
    assert coupons.find_coupon(db, TENANT, "ONCE-1").usage_counter == 1
    coupons.release_coupons(db, TENANT, session_id="s1")
    db.commit()
    assert coupons.find_coupon(db, TENANT, "ONCE-1").usage_counter == 0
    assert check(db, "ONCE-1", profile="p2") is None


def test_release_of_a_session_that_redeemed_nothing_changes_nothing(db: Session) -> None:
    add_coupon(db, "ONCE-1", usage_limit=1)
    close(db, "s1", "p1", ["ONCE-1"])
    coupons.release_coupons(db, TENANT, session_id="other")
    db.commit()
    assert coupons.find_coupon(db, TENANT, "ONCE-1").usage_counter == 1


def test_unknown_codes_in_a_closing_session_are_ignored(db: Session) -> None:
    close(db, "s1", "p1", ["NOPE-1"])
    assert coupons.find_coupon(db, TENANT, "NOPE-1") is None


def test_per_profile_limit(db: Session) -> None:
    limits = [{"action": "redeemCoupon", "limit": 1, "entities": ["Coupon", "Profile"]}]
    add_coupon(db, "PERP-1", limits=limits)
    assert check(db, "PERP-1", profile=None) == "ProfileRequired"
    close(db, "s1", "p1", ["PERP-1"])
    assert check(db, "PERP-1", profile="p1") == "ProfileLimitReached"
    assert check(db, "PERP-1", profile="p2") is None


def test_discount_budget(db: Session) -> None:
    add_coupon(db, "GIFT-1", discount_limit=50.0)
    close(db, "s1", "p1", ["GIFT-1"], discounts={"GIFT-1": 30.0})
    assert coupons.coupon_discount_remainder(db, TENANT, "GIFT-1") == 20.0
    assert check(db, "GIFT-1") is None
    close(db, "s2", "p1", ["GIFT-1"], discounts={"GIFT-1": 20.0})
    assert check(db, "GIFT-1") == "EffectCouldNotBeApplied"
    coupons.release_coupons(db, TENANT, session_id="s2")
    db.commit()
    assert coupons.coupon_discount_remainder(db, TENANT, "GIFT-1") == 20.0


def test_inventory_states(db: Session) -> None:
    pending = add_coupon(db, "LATER-1", start_date=NOW + timedelta(days=1))
    expired = add_coupon(db, "OLD-1", expiry_date=NOW - timedelta(days=1))
    used = add_coupon(db, "USED-1", usage_limit=1)
    active = add_coupon(db, "OPEN-1")
    for coupon in (pending, expired, used, active):
        reserve(db, coupon, "p1")
    add_coupon(db, "VISIBLE-1", implicitly_reserved=True)
    add_coupon(db, "FORP1-1", recipient_integration_id="p1")
    add_coupon(db, "OTHER-1")
    close(db, "s1", "p1", ["USED-1"])
    listed = {c["value"]: c for c in coupons.profile_coupons(db, TENANT, NOW, "p1")}
    assert set(listed) == {"LATER-1", "OLD-1", "USED-1", "OPEN-1", "VISIBLE-1", "FORP1-1"}
    assert listed["LATER-1"]["state"] == "pending"
    assert listed["OLD-1"]["state"] == "expired"
    assert listed["USED-1"]["state"] == "used"
    assert listed["USED-1"]["profileRedemptionCount"] == 1
    assert listed["OPEN-1"]["state"] == "active"
    assert listed["OPEN-1"]["profileRedemptionCount"] == 0
    assert listed["OPEN-1"]["reservationCounter"] == 1
    assert listed["VISIBLE-1"]["implicitlyReserved"] is True
    other = {c["value"] for c in coupons.profile_coupons(db, TENANT, NOW, "p2")}
    assert other == {"VISIBLE-1"}


def test_inventory_state_follows_the_campaign(client: TestClient, new_tenant) -> None:
    document = {
        "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
        "talonone": {
            "campaigns": [
                {"id": 1, "name": "Running", "features": ["coupons"]},
                {"id": 2, "name": "Off", "state": "disabled", "features": ["coupons"]},
                {
                    "id": 3,
                    "name": "Later",
                    "startTime": "2031-01-01T00:00:00Z",
                    "features": ["coupons"],
                },
                {
                    "id": 4,
                    "name": "Over",
                    "endTime": "2029-01-01T00:00:00Z",
                    "features": ["coupons"],
                },
            ],
            "coupons": [
                {"value": f"CAMPAIGN-{n}", "campaignId": n, "reservedFor": ["amy"]}
                for n in (1, 2, 3, 4)
            ],
        },
    }
    tenant = new_tenant(document)
    with new_session(client.app.state.engine) as session:
        listed = coupons.profile_coupons(session, tenant["id"], NOW, "amy")
    states = {c["value"]: c["state"] for c in listed}
    assert states == {
        "CAMPAIGN-1": "active",
        "CAMPAIGN-2": "disabled",
        "CAMPAIGN-3": "active",  # documented: scheduled campaigns show active coupons
        "CAMPAIGN-4": "disabled",
    }
