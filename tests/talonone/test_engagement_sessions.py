"""Coupons, referral codes and audiences inside customer sessions (the rule engine of part 1):
accepted or rejected with the documented reason, redeemed when the session closes, given back
when it is cancelled; audience membership as a rule condition."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

DISCOUNT = {"setDiscount": {"name": "5 off", "value": 5}}
WORLD = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {
                "id": 4,
                "name": "Coupons",
                "features": ["coupons"],
                "rules": [
                    {"title": "5 off", "conditions": [{"coupon": True}], "effects": [DISCOUNT]}
                ],
            },
            {
                "id": 5,
                "name": "Refer a friend",
                "features": ["referrals"],
                "rules": [
                    {"title": "5 off", "conditions": [{"referral": True}], "effects": [DISCOUNT]}
                ],
            },
            {
                "id": 6,
                "name": "VIP only",
                "rules": [
                    {
                        "title": "VIP 5 off",
                        "conditions": [{"audience": 1}],
                        "effects": [{"setDiscount": {"name": "VIP", "value": 5}}],
                    }
                ],
            },
        ],
        "profiles": [{"integrationId": "amy"}, {"integrationId": "bob"}],
        "coupons": [
            {"value": "WELCOME-5", "campaignId": 4},
            {"value": "ONCE-ONLY-5", "campaignId": 4, "usageLimit": 1},
            {"value": "AMY-ONLY-5", "campaignId": 4, "recipientIntegrationId": "amy"},
            {"value": "VIP-HARD-5", "campaignId": 4, "isReservationMandatory": True},
            {"value": "EXPIRED-5", "campaignId": 4, "expiryDate": "2029-01-01T00:00:00Z"},
            {"value": "FUTURE-5", "campaignId": 4, "startDate": "2031-01-01T00:00:00Z"},
            {
                "value": "SPENT-GIFT",
                "campaignId": 4,
                "discountLimit": 10,
                "redemptions": [{"sessionId": "old", "profileId": "bob", "discount": 10}],
            },
            {
                "value": "PER-PROFILE",
                "campaignId": 4,
                "limits": [{"action": "redeemCoupon", "limit": 1, "entities": ["Profile"]}],
            },
        ],
        "referrals": [
            {"code": "AMY-FRIENDS", "campaignId": 5, "advocateProfileIntegrationId": "amy"},
            {
                "code": "AMY-TO-BOB",
                "campaignId": 5,
                "advocateProfileIntegrationId": "amy",
                "friendProfileIntegrationId": "bob",
                "usageLimit": 1,
            },
            {
                "code": "OLD-REFERRAL",
                "campaignId": 5,
                "advocateProfileIntegrationId": "amy",
                "expiryDate": "2029-01-01T00:00:00Z",
            },
            {
                "code": "LATER-REFERRAL",
                "campaignId": 5,
                "advocateProfileIntegrationId": "amy",
                "startDate": "2031-01-01T00:00:00Z",
            },
        ],
        "audiences": [{"name": "VIP", "members": ["amy"]}],
    },
}


class World:
    def __init__(self, client: TestClient, tenant: dict) -> None:
        self.client = client
        self.id = tenant["id"]
        key = tenant["credentials"]["talonone"]["api_key"]
        self.headers = {"Authorization": f"ApiKey-v1 {key}"}

    def session(self, session_id: str, profile: str = "", **fields) -> dict:
        body = {
            "customerSession": {
                "profileId": profile,
                "cartItems": [{"sku": "SKU-1", "quantity": 1, "price": 50}],
                **fields,
            }
        }
        response = self.client.put(
            f"/v2/customer_sessions/{session_id}", json=body, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def coupon(self, code: str) -> dict:
        """The coupon as CreateCouponReservation shows it (for its counters)."""
        response = self.client.post(
            f"/v1/coupon_reservations/{code}",
            json={"integrationIDs": ["observer"]},
            headers=self.headers,
        )
        assert response.status_code == 201
        return response.json()

    def referral_uses(self, advocate: str, code: str) -> dict:
        response = self.client.get(
            f"/v1/customer_profiles/{advocate}/inventory?referrals=true", headers=self.headers
        )
        return next(r for r in response.json()["referrals"] if r["code"] == code)


@pytest.fixture
def world(client: TestClient, new_tenant) -> World:
    return World(client, new_tenant(WORLD))


def effect_types(state: dict) -> list[str]:
    return [effect["effectType"] for effect in state["effects"]]


def rejection(state: dict, kind: str = "rejectCoupon") -> str | None:
    for effect in state["effects"]:
        if effect["effectType"] == kind:
            return effect["props"]["rejectionReason"]
    return None


# --- coupons ----------------------------------------------------------------------------------


def test_a_valid_coupon_is_accepted(world: World) -> None:
    state = world.session("s1", "amy", couponCodes=["WELCOME-5"])
    assert "acceptCoupon" in effect_types(state)
    assert "setDiscount" in effect_types(state)
    assert rejection(state) is None


@pytest.mark.parametrize(
    ("code", "profile", "reason"),
    [
        ("NOPE-NOPE", "amy", "CouponNotFound"),
        ("EXPIRED-5", "amy", "CouponExpired"),
        ("FUTURE-5", "amy", "CouponStartDateInFuture"),
        ("AMY-ONLY-5", "bob", "CouponRecipientDoesNotMatch"),
        ("AMY-ONLY-5", "", "CouponRecipientDoesNotMatch"),
        ("VIP-HARD-5", "bob", "CouponReservationRequired"),
        ("VIP-HARD-5", "", "ProfileRequired"),
        ("SPENT-GIFT", "amy", "EffectCouldNotBeApplied"),
    ],
)
def test_coupon_rejections(world: World, code: str, profile: str, reason: str) -> None:
    state = world.session("s1", profile, couponCodes=[code])
    assert rejection(state) == reason
    assert "acceptCoupon" not in effect_types(state)
    assert not [
        e for e in state["effects"] if e["effectType"] == "setDiscount" and e["campaignId"] == 4
    ]


def test_hard_reservation_lets_the_holder_in(world: World) -> None:
    world.client.post(
        "/v1/coupon_reservations/VIP-HARD-5",
        json={"integrationIDs": ["bob"]},
        headers=world.headers,
    )
    assert "acceptCoupon" in effect_types(world.session("s1", "bob", couponCodes=["VIP-HARD-5"]))


def test_redeemed_on_close_restored_on_cancel(world: World) -> None:
    world.session("s1", "amy", couponCodes=["ONCE-ONLY-5"])
    assert world.coupon("ONCE-ONLY-5")["usageCounter"] == 0  # an open session redeems nothing
    world.session("s1", "amy", couponCodes=["ONCE-ONLY-5"], state="closed")
    assert world.coupon("ONCE-ONLY-5")["usageCounter"] == 1
    assert rejection(world.session("s2", "bob", couponCodes=["ONCE-ONLY-5"])) == (
        "CouponLimitReached"
    )
    world.session("s1", "amy", state="cancelled")
    assert world.coupon("ONCE-ONLY-5")["usageCounter"] == 0
    assert "acceptCoupon" in effect_types(world.session("s2", "bob", couponCodes=["ONCE-ONLY-5"]))


def test_profile_limit_in_sessions(world: World) -> None:
    world.session("s1", "amy", couponCodes=["PER-PROFILE"], state="closed")
    assert rejection(world.session("s2", "amy", couponCodes=["PER-PROFILE"])) == (
        "ProfileLimitReached"
    )
    assert "acceptCoupon" in effect_types(world.session("s3", "bob", couponCodes=["PER-PROFILE"]))


def test_redemption_shows_in_the_inventory(world: World) -> None:
    world.session("s1", "amy", couponCodes=["AMY-ONLY-5"], state="closed")
    response = world.client.get(
        "/v1/customer_profiles/amy/inventory?coupons=true", headers=world.headers
    )
    coupon = next(c for c in response.json()["coupons"] if c["value"] == "AMY-ONLY-5")
    assert coupon["profileRedemptionCount"] == 1
    assert coupon["usageCounter"] == 1


# --- referrals --------------------------------------------------------------------------------


def test_a_valid_referral_is_accepted_and_counted_on_close(world: World) -> None:
    state = world.session("s1", "bob", referralCode="AMY-FRIENDS")
    assert "acceptReferral" in effect_types(state)
    assert world.referral_uses("amy", "AMY-FRIENDS")["usageCounter"] == 0
    world.session("s1", "bob", referralCode="AMY-FRIENDS", state="closed")
    used = world.referral_uses("amy", "AMY-FRIENDS")
    assert used["usageCounter"] == 1
    assert used["referredCustomers"] == ["bob"]
    world.session("s1", "bob", state="cancelled")
    assert world.referral_uses("amy", "AMY-FRIENDS")["usageCounter"] == 0


@pytest.mark.parametrize(
    ("code", "profile", "reason"),
    [
        ("NOPE-NOPE", "bob", "ReferralNotFound"),
        ("AMY-FRIENDS", "amy", "ReferralRecipientIdSameAsAdvocate"),
        ("AMY-TO-BOB", "carl", "ReferralRecipientDoesNotMatch"),
        ("OLD-REFERRAL", "bob", "ReferralExpired"),
        ("LATER-REFERRAL", "bob", "ReferralStartDateInFuture"),
    ],
)
def test_referral_rejections(world: World, code: str, profile: str, reason: str) -> None:
    state = world.session("s1", profile, referralCode=code)
    assert rejection(state, "rejectReferral") == reason
    assert "acceptReferral" not in effect_types(state)


def test_referral_limit(world: World) -> None:
    world.session("s1", "bob", referralCode="AMY-TO-BOB", state="closed")
    state = world.session("s2", "bob", referralCode="AMY-TO-BOB")
    assert rejection(state, "rejectReferral") == "ReferralLimitReached"


# --- audiences as rule conditions -------------------------------------------------------------


def test_audience_membership_drives_a_rule(world: World) -> None:
    def vip_discount(profile: str) -> bool:
        state = world.session(f"s-{profile}", profile)
        return any(e["props"].get("name") == "VIP" for e in state["effects"])

    assert vip_discount("amy")
    assert not vip_discount("bob")
    world.client.post(
        "/v2/customer_audiences",
        json={
            "data": [
                {"action": "add", "profileIntegrationId": "bob", "audienceId": 1},
                {"action": "delete", "profileIntegrationId": "amy", "audienceId": 1},
            ]
        },
        headers=world.headers,
    )
    assert vip_discount("bob")
    assert not vip_discount("amy")


def test_delete_customer_data_removes_sessions_too(world: World) -> None:
    world.session("s-amy", "amy", couponCodes=["WELCOME-5"], state="closed")
    assert world.client.delete("/v1/customer_data/amy", headers=world.headers).status_code == 204
    response = world.client.get("/v2/customer_sessions/s-amy", headers=world.headers)
    assert response.status_code == 404
    profile = world.client.put(
        "/v2/customer_profiles/amy?runRuleEngine=true",
        json={"responseContent": ["customerProfile"]},
        headers=world.headers,
    )
    assert profile.status_code == 200
    fresh = profile.json()["customerProfile"]
    assert fresh["closedSessions"] == 0
    assert fresh.get("audienceMemberships", []) == []


def test_audience_changes_through_the_profile_update(world: World) -> None:
    response = world.client.put(
        "/v2/customer_profiles/bob",
        json={"audiencesChanges": {"adds": [1], "deletes": []}},
        headers=world.headers,
    )
    assert response.status_code == 200
    assert response.json()["customerProfile"]["audienceMemberships"] == [{"id": 1, "name": "VIP"}]
    state = world.session("s-bob", "bob")
    assert any(e["props"].get("name") == "VIP" for e in state["effects"])
    unknown = world.client.put(
        "/v2/customer_profiles/bob",
        json={"audiencesChanges": {"adds": [77], "deletes": []}},
        headers=world.headers,
    )
    assert unknown.status_code == 404
    removed = world.client.put(
        "/v2/customer_profiles/bob",
        json={"audiencesChanges": {"adds": [], "deletes": [1]}},
        headers=world.headers,
    )
    assert removed.json()["customerProfile"]["audienceMemberships"] == []
