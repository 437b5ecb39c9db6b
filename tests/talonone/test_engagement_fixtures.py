"""The engagement keys of the `talonone` fixture section: refused documents name the path, an
exported tenant loads into a new tenant with the same coupons, referrals and audiences."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from simulator.core.db import new_session
from simulator.talonone.service import coupons, referrals

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
KEYS = ("coupons", "referrals", "audiences", "giveaways", "achievements")
BASE = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {"id": 1, "name": "Coupons", "features": ["coupons"]},
            {"id": 2, "name": "Refer a friend", "features": ["referrals"]},
        ],
        "profiles": [{"integrationId": "amy"}],
        "coupons": [
            {"value": "WALLET-1", "campaignId": 1, "reservedFor": ["amy", "bob"]},
            {
                "value": "GIFT-1",
                "campaignId": 1,
                "discountLimit": 50,
                "usageLimit": 3,
                "expiryDate": "2031-01-01T00:00:00Z",
                "attributes": {"origin": "import"},
                "reservedFor": ["amy"],
                "limits": [{"action": "redeemCoupon", "limit": 2, "entities": ["Profile"]}],
                "redemptions": [{"sessionId": "s0", "profileId": "amy", "discount": 10}],
            },
        ],
        "referrals": [{"code": "AMY-REF", "campaignId": 2, "advocateProfileIntegrationId": "amy"}],
        "audiences": [
            {"name": "VIP", "members": ["amy"]},
            {"name": "Segment", "integration": "segment", "integrationId": "s-1"},
        ],
        "giveaways": [{"profileIntegrationId": "amy", "id": 1, "poolId": 2, "code": "G-1"}],
        "achievements": [
            {
                "profileIntegrationId": "amy",
                "achievementId": 1,
                "name": "First",
                "title": "First order",
                "campaignId": 1,
            }
        ],
    },
}


def with_change(path: list, value) -> dict:
    document = copy.deepcopy(BASE)
    node = document["talonone"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["coupons", 0, "value"], "ABC", "talonone.coupons[0].value"),
        (["coupons", 1, "value"], "WALLET-1", "talonone.coupons[1].value"),
        (["coupons", 0, "campaignId"], 99, "talonone.coupons[0].campaignId"),
        (["coupons", 0, "usageLimit"], -1, "talonone.coupons[0].usageLimit"),
        (["coupons", 0, "colour"], "red", "talonone.coupons[0].colour"),
        (
            ["coupons", 1, "limits", 0, "entities"],
            ["Planet"],
            "talonone.coupons[1].limits[0].entities[0]",
        ),
        (["referrals", 0, "code"], "AB", "talonone.referrals[0].code"),
        (["referrals", 0, "campaignId"], 98, "talonone.referrals[0].campaignId"),
        (["audiences", 0, "name"], "", "talonone.audiences[0].name"),
        (["achievements", 0, "status"], "done", "talonone.achievements[0].status"),
    ],
)
def test_bad_documents_are_refused_with_their_path(
    client: TestClient, path: list, value, where: str
) -> None:
    response = client.post("/__admin/tenants", json={"fixtures": with_change(path, value)})
    assert response.status_code == 400
    assert response.json()["path"] == where


def test_personal_code_reserved_twice_is_refused(client: TestClient) -> None:
    document = with_change(["coupons", 0, "reservation"], False)
    response = client.post("/__admin/tenants", json={"fixtures": document})
    assert response.status_code == 400
    assert response.json()["path"].startswith("talonone.coupons[0]")


def test_loaded_state_is_what_the_api_shows(client: TestClient, new_tenant) -> None:
    tenant = new_tenant(BASE)
    with new_session(client.app.state.engine) as db:
        gift = coupons.find_coupon(db, tenant["id"], "GIFT-1")
        assert gift.usage_counter == 1
        assert coupons.coupon_discount_remainder(db, tenant["id"], "GIFT-1") == 40
        listed = {c["value"]: c for c in coupons.profile_coupons(db, tenant["id"], NOW, "amy")}
        assert listed["GIFT-1"]["profileRedemptionCount"] == 1
        assert referrals.find_referral(db, tenant["id"], "AMY-REF").id == 1


def test_export_then_load_gives_the_same_state(client: TestClient, new_tenant) -> None:
    first = new_tenant(BASE)
    headers = {"Authorization": f"ApiKey-v1 {first['credentials']['talonone']['api_key']}"}
    # Change the state through the API and the rule engine's calls.
    client.post("/v1/coupon_reservations/GIFT-1", json={"integrationIDs": ["cid"]}, headers=headers)
    client.post(
        "/v2/customer_audiences",
        json={"data": [{"action": "add", "profileIntegrationId": "cid", "audienceId": 2}]},
        headers=headers,
    )
    with new_session(client.app.state.engine) as db:
        coupons.redeem_coupons(
            db, first["id"], NOW, session_id="s1", profile_id="cid", codes=["GIFT-1"]
        )
        referrals.redeem_referral(
            db, first["id"], NOW, session_id="s1", profile_id="cid", code="AMY-REF"
        )
        db.commit()
    exported = client.get(f"/__admin/tenants/{first['id']}/fixtures").json()
    second = new_tenant(exported)
    again = client.get(f"/__admin/tenants/{second['id']}/fixtures").json()
    for key in KEYS:
        assert again["talonone"].get(key) == exported["talonone"].get(key), key
    assert exported["talonone"]["coupons"][1]["usageCounter"] == 2
    assert exported["talonone"]["referrals"][0]["usageCounter"] == 1
    assert exported["talonone"]["audiences"][1]["members"] == ["cid"]
    other = {"Authorization": f"ApiKey-v1 {second['credentials']['talonone']['api_key']}"}
    inventory = client.get(
        "/v1/customer_profiles/amy/inventory?referrals=true&giveaways=true", headers=other
    ).json()
    assert inventory["referrals"][0]["referredCustomers"] == ["cid"]
    assert inventory["giveaways"][0]["code"] == "G-1"


def test_instants_without_zone_are_utc(client: TestClient, new_tenant) -> None:
    document = with_change(["coupons", 0, "startDate"], "2029-06-01T00:00:00")
    document["talonone"]["coupons"][0]["expiryDate"] = "2031-01-01T00:00:00+02:00"
    tenant = new_tenant(document)
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    coupon = exported["talonone"]["coupons"][0]
    assert coupon["startDate"] == "2029-06-01T00:00:00Z"
    assert coupon["expiryDate"] == "2030-12-31T22:00:00Z"
    bad = with_change(["coupons", 0, "startDate"], "2031-01-01T00:00:00")
    bad["talonone"]["coupons"][0]["expiryDate"] = "2031-01-01T00:30:00+01:00"
    response = client.post("/__admin/tenants", json={"fixtures": bad})
    assert response.status_code == 400
    assert response.json()["path"].startswith("talonone.coupons[0]")


def test_reset_brings_the_fixtures_back(client: TestClient) -> None:
    headers = {"Authorization": "ApiKey-v1 talon-sandbox-key"}
    client.post(
        "/v1/coupon_reservations/WALLET-5", json={"integrationIDs": ["temp"]}, headers=headers
    )
    client.delete("/v2/audiences/1", headers=headers)
    created = client.post("/v2/audiences", json={"name": "Temp"}, headers=headers).json()
    assert created["id"] == 3
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    reserved = client.get(
        "/v1/coupon_reservations/customerprofiles/WALLET-5", headers=headers
    ).json()
    assert [p["integrationId"] for p in reserved["data"]] == ["customer-1", "customer-2"]
    renamed = client.put("/v2/audiences/1", json={"name": "VIP"}, headers=headers)
    assert renamed.status_code == 200
    again = client.post("/v2/audiences", json={"name": "Temp"}, headers=headers).json()
    assert again["id"] == 3


def test_declared_giveaways_and_achievements_are_read_once_and_stay_right(
    client: TestClient, make_client, new_tenant
) -> None:
    """What fixtures declared for a profile is kept between requests: each answer has lists of
    its own (the progress added to `achievements` never piles up), a reset serves them again,
    and a second process sees the same."""
    tenant = new_tenant(BASE)
    amy = "/v1/customer_profiles/amy/inventory?giveaways=true&achievements=true"
    headers = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    first = client.get(amy, headers=headers).json()
    again = client.get(amy, headers=headers).json()
    assert first == again
    assert [g["code"] for g in first["giveaways"]] == ["G-1"]
    assert [a["name"] for a in first["achievements"]] == ["First"]
    assert client.post(f"/__admin/tenants/{tenant['id']}/reset").status_code == 200
    assert client.get(amy, headers=headers).json() == first
    other = make_client()
    assert other.get(amy, headers=headers).json() == first
    nobody = other.get("/v1/customer_profiles/amy/inventory?giveaways=false", headers=headers)
    assert nobody.json() == {}
