"""GetCustomerInventory (each flag, exactly the blocks asked for), audience memberships and
attributes of members, and DeleteCustomerData checked on every endpoint that could show the
profile afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from simulator.core.db import new_session
from simulator.talonone.service import audiences, coupons, referrals

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
WORLD = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "attributes": {"CustomerProfile": {"Tier": "string", "Score": "number"}},
        "campaigns": [
            {"id": 1, "name": "Coupons", "features": ["coupons"]},
            {"id": 2, "name": "Refer a friend", "features": ["referrals"]},
        ],
        "profiles": [
            {"integrationId": "amy", "attributes": {}},
            {"integrationId": "bob", "attributes": {}},
        ],
        "loyaltyPrograms": [
            {
                "id": 7,
                "name": "points",
                "title": "Points",
                "transactions": [{"profileId": "amy", "amount": 120}],
            }
        ],
        "coupons": [
            {"value": "AMY-WALLET", "campaignId": 1, "reservedFor": ["amy", "bob"]},
            {"value": "AMY-ONLY-1", "campaignId": 1, "recipientIntegrationId": "amy"},
            {"value": "EVERYONE-1", "campaignId": 1, "implicitlyReserved": True},
        ],
        "referrals": [
            {
                "code": "AMY-REFERS",
                "campaignId": 2,
                "advocateProfileIntegrationId": "amy",
                "redemptions": [{"sessionId": "s-bob", "profileId": "bob"}],
            },
            {
                "code": "BOB-REFERS",
                "campaignId": 2,
                "advocateProfileIntegrationId": "bob",
                "friendProfileIntegrationId": "amy",
            },
        ],
        "audiences": [
            {"name": "VIP", "members": ["amy", "bob"]},
            {"name": "Newsletter", "integration": "segment", "integrationId": "nl-1"},
        ],
        "giveaways": [{"profileIntegrationId": "amy", "id": 3, "poolId": 1, "code": "GIFT-AMY-3"}],
        "achievements": [
            {
                "profileIntegrationId": "amy",
                "achievementId": 4,
                "name": "FiveOrders",
                "title": "Five orders",
                "campaignId": 1,
                "progress": 2,
                "target": 5,
            }
        ],
    },
}
FLAGS = ("profile", "referrals", "coupons", "loyalty", "giveaways", "achievements")


class World:
    def __init__(self, tenant: dict) -> None:
        self.id = tenant["id"]
        key = tenant["credentials"]["talonone"]["api_key"]
        self.headers = {"Authorization": f"ApiKey-v1 {key}"}


@pytest.fixture
def world(new_tenant) -> World:
    return World(new_tenant(WORLD))


def inventory(client: TestClient, world: World, profile: str, *flags: str):
    query = "&".join(f"{flag}=true" for flag in flags)
    return client.get(f"/v1/customer_profiles/{profile}/inventory?{query}", headers=world.headers)


# --- inventory --------------------------------------------------------------------------------


def test_no_flag_no_block(client: TestClient, world: World) -> None:
    response = inventory(client, world, "amy")
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.parametrize("flag", FLAGS)
def test_each_flag_gives_exactly_its_block(client: TestClient, world: World, flag: str) -> None:
    response = inventory(client, world, "amy", flag)
    assert response.status_code == 200
    assert set(response.json()) == {flag}


def test_false_flags_are_left_out(client: TestClient, world: World) -> None:
    response = client.get(
        "/v1/customer_profiles/amy/inventory?profile=false&coupons=true", headers=world.headers
    )
    assert set(response.json()) == {"coupons"}


def test_blocks_in_their_documented_shapes(client: TestClient, world: World) -> None:
    body = inventory(client, world, "amy", *FLAGS).json()
    profile = body["profile"]
    assert profile["integrationId"] == "amy"
    assert profile["audienceMemberships"] == [{"id": 1, "name": "VIP"}]

    coupons_by_value = {c["value"]: c for c in body["coupons"]}
    assert set(coupons_by_value) == {"AMY-WALLET", "AMY-ONLY-1", "EVERYONE-1"}
    for coupon in body["coupons"]:
        assert coupon["state"] == "active"
        assert coupon["profileRedemptionCount"] == 0
    assert coupons_by_value["AMY-WALLET"]["reservationCounter"] == 2

    assert [r["code"] for r in body["referrals"]] == ["AMY-REFERS"]
    assert body["referrals"][0]["referredCustomers"] == ["bob"]
    assert body["referrals"][0]["usageCounter"] == 1

    assert body["loyalty"]["programs"]["7"]["ledger"]["currentBalance"] == 120
    assert body["giveaways"] == [
        {
            "id": 3,
            "poolId": 1,
            "code": "GIFT-AMY-3",
            "created": "2030-01-01T12:00:00Z",
            "profileIntegrationId": "amy",
        }
    ]
    achievement = body["achievements"][0]
    assert achievement["achievementId"] == 4
    assert achievement["status"] == "inprogress"
    assert achievement["progress"] == 2


def test_a_profile_without_extras_gets_empty_lists(client: TestClient, world: World) -> None:
    body = inventory(client, world, "bob", "giveaways", "achievements", "referrals").json()
    assert body["giveaways"] == []
    assert body["achievements"] == []
    assert body["referrals"][0]["code"] == "BOB-REFERS"
    assert body["referrals"][0]["friendProfileIntegrationId"] == "amy"


def test_unknown_profile_is_404(client: TestClient, world: World) -> None:
    for flags in (("profile",), ("coupons", "loyalty"), ()):
        response = inventory(client, world, "nobody", *flags)
        assert response.status_code == 404, flags
        assert response.json()["StatusCode"] == 404


def test_bad_flag_value_is_400(client: TestClient, world: World) -> None:
    response = client.get(
        "/v1/customer_profiles/amy/inventory?coupons=maybe", headers=world.headers
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "coupons"}


# --- memberships and attributes ---------------------------------------------------------------


def memberships(client: TestClient, world: World, profile: str) -> list[dict]:
    body = inventory(client, world, profile, "profile").json()
    return body["profile"].get("audienceMemberships", [])


def test_bulk_memberships_add_and_delete(client: TestClient, world: World) -> None:
    body = {
        "data": [
            {"action": "add", "profileIntegrationId": "amy", "audienceId": 2},
            {"action": "add", "profileIntegrationId": "carl", "audienceId": 2},
            {"action": "delete", "profileIntegrationId": "amy", "audienceId": 1},
            {"action": "delete", "profileIntegrationId": "stranger", "audienceId": 1},
        ]
    }
    response = client.post("/v2/customer_audiences", json=body, headers=world.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert memberships(client, world, "amy") == [{"id": 2, "name": "Newsletter"}]
    # `add` created the unknown profile; `delete` of a non-member changed nothing.
    assert memberships(client, world, "carl") == [{"id": 2, "name": "Newsletter"}]
    assert inventory(client, world, "stranger", "profile").status_code == 404
    with new_session(client.app.state.engine) as db:
        assert audiences.profile_audience_ids(db, world.id, "amy") == {2}


def test_memberships_are_listed_by_audience_id(client: TestClient, world: World) -> None:
    body = {
        "data": [
            {"action": "add", "profileIntegrationId": "dora", "audienceId": 2},
            {"action": "add", "profileIntegrationId": "dora", "audienceId": 1},
        ]
    }
    assert (
        client.post("/v2/customer_audiences", json=body, headers=world.headers).status_code == 204
    )
    assert memberships(client, world, "dora") == [
        {"id": 1, "name": "VIP"},
        {"id": 2, "name": "Newsletter"},
    ]
    client.put("/v2/customer_profiles/eve", json={}, headers=world.headers)
    assert memberships(client, world, "eve") == []


def test_renamed_audience_shows_its_new_name_on_members(client: TestClient, world: World) -> None:
    client.put("/v2/audiences/1", json={"name": "Very VIP"}, headers=world.headers)
    assert memberships(client, world, "bob") == [{"id": 1, "name": "Very VIP"}]


def test_delete_memberships_keeps_the_audience(client: TestClient, world: World) -> None:
    assert client.delete("/v2/audiences/1/memberships", headers=world.headers).status_code == 204
    assert memberships(client, world, "amy") == []
    renamed = client.put("/v2/audiences/1", json={"name": "Still here"}, headers=world.headers)
    assert renamed.status_code == 200


def test_delete_audience_drops_its_memberships(client: TestClient, world: World) -> None:
    assert client.delete("/v2/audiences/1", headers=world.headers).status_code == 204
    client.put("/v2/customer_profiles/eve", json={}, headers=world.headers)
    assert memberships(client, world, "eve") == []


def test_attributes_of_every_member(client: TestClient, world: World) -> None:
    response = client.put(
        "/v2/audience_customers/1/attributes",
        json={"Tier": "gold", "Score": 3},
        headers=world.headers,
    )
    assert response.status_code == 204
    for profile in ("amy", "bob"):
        body = inventory(client, world, profile, "profile").json()
        assert body["profile"]["attributes"] == {"Tier": "gold", "Score": 3}
    # Members of another audience only.
    client.post(
        "/v2/customer_audiences",
        json={"data": [{"action": "add", "profileIntegrationId": "dora", "audienceId": 2}]},
        headers=world.headers,
    )
    body = inventory(client, world, "dora", "profile").json()
    assert body["profile"]["attributes"] == {}


@pytest.mark.parametrize(
    ("body", "title", "pointer"),
    [
        ({"Colour": "red"}, "Unknown", "/Colour"),
        ({"Score": "high"}, "Invalid type", "/Score"),
    ],
)
def test_member_attributes_must_be_defined_and_typed(
    client: TestClient, world: World, body: dict, title: str, pointer: str
) -> None:
    response = client.put("/v2/audience_customers/1/attributes", json=body, headers=world.headers)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["title"] == title
    assert error["source"] == {"pointer": pointer}
    assert inventory(client, world, "amy", "profile").json()["profile"]["attributes"] == {}


# --- DeleteCustomerData -----------------------------------------------------------------------


def test_delete_customer_data_everywhere(client: TestClient, world: World) -> None:
    response = client.delete("/v1/customer_data/amy", headers=world.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert inventory(client, world, "amy", *FLAGS).status_code == 404
    assert client.delete("/v1/customer_data/amy", headers=world.headers).status_code == 404
    reserved = client.get(
        "/v1/coupon_reservations/customerprofiles/AMY-WALLET", headers=world.headers
    ).json()
    assert [p["integrationId"] for p in reserved["data"]] == ["bob"]
    balances = client.get("/v1/loyalty_programs/7/profile/amy/balances", headers=world.headers)
    assert balances.status_code == 404

    with new_session(client.app.state.engine) as db:
        assert audiences.profile_audience_ids(db, world.id, "amy") == set()
        assert coupons.find_coupon(db, world.id, "AMY-ONLY-1") is None
        assert coupons.profile_coupons(db, world.id, NOW, "amy") == [
            c for c in coupons.profile_coupons(db, world.id, NOW, "amy") if c["implicitlyReserved"]
        ]
        assert referrals.find_referral(db, world.id, "AMY-REFERS") is None
        assert referrals.find_referral(db, world.id, "BOB-REFERS") is None  # addressed to amy

    # Bob is untouched (and the VIP audience keeps him).
    bob = inventory(client, world, "bob", "profile", "coupons").json()
    assert bob["profile"]["audienceMemberships"] == [{"id": 1, "name": "VIP"}]
    assert [c["value"] for c in bob["coupons"]] == ["AMY-WALLET", "EVERYONE-1"]


def test_delete_then_recreate_starts_empty(client: TestClient, world: World) -> None:
    client.delete("/v1/customer_data/amy", headers=world.headers)
    client.post(
        "/v1/coupon_reservations/EVERYONE-1",
        json={"integrationIDs": ["amy"]},
        headers=world.headers,
    )
    body = inventory(client, world, "amy", "profile", "referrals", "loyalty").json()
    assert body["profile"]["attributes"] == {}
    assert body["profile"].get("audienceMemberships", []) == []
    assert body["referrals"] == []
    assert body["loyalty"]["programs"].get("7", {}).get("ledger", {}).get("currentBalance", 0) == 0


def test_delete_unknown_customer_is_404(client: TestClient, world: World) -> None:
    response = client.delete("/v1/customer_data/nobody", headers=world.headers)
    assert response.status_code == 404
    assert response.json()["errors"][0]["source"] == {"parameter": "integrationId"}


def test_delete_customer_data_needs_credentials(client: TestClient, world: World) -> None:
    assert client.delete("/v1/customer_data/amy").status_code == 401
    assert inventory(client, world, "amy", "profile").status_code == 200


def test_delete_customer_data_unlinks_loyalty_cards(client: TestClient, new_tenant) -> None:
    document = {
        "talonone": {
            "profiles": [{"integrationId": "amy"}, {"integrationId": "bob"}],
            "loyaltyPrograms": [
                {
                    "id": 3,
                    "name": "cards",
                    "cardBased": True,
                    "usersPerCardLimit": 2,
                    "cards": [{"identifier": "CARD-0001", "profiles": ["amy", "bob"]}],
                    "transactions": [{"cardIdentifier": "CARD-0001", "amount": 100}],
                },
                {"id": 1, "name": "points", "transactions": [{"profileId": "amy", "amount": 5}]},
            ],
        }
    }
    world = World(new_tenant(document))
    card = "/v1/loyalty_programs/3/cards/CARD-0001/balances"
    linked = client.get(card, headers=world.headers).json()
    assert [p["integrationId"] for p in linked["profiles"]] == ["amy", "bob"]
    assert client.delete("/v1/customer_data/amy", headers=world.headers).status_code == 204
    after = client.get(card, headers=world.headers).json()
    assert [p["integrationId"] for p in after["profiles"]] == ["bob"]
    assert after["balance"]["activePoints"] == 100  # the card's points are not amy's
    for path in (
        "/v1/loyalty_programs/1/profile/amy/balances",
        "/v1/loyalty_programs/1/profile/amy/points",
        "/v1/loyalty_programs/1/profile/amy/transactions",
        "/v1/customer_profiles/amy/inventory?loyalty=true",
    ):
        assert client.get(path, headers=world.headers).status_code == 404, path


def test_inventory_cards_list_every_profile_linked_to_them(client: TestClient, new_tenant) -> None:
    """Each card the profile is linked to, by card id, with all its linked profiles in the
    order GetLoyaltyCardBalances gives them (read with the cards in one statement)."""
    cards = [
        {"identifier": "CARD-0001", "profiles": ["amy", "bob", "cat"]},
        {"identifier": "CARD-0002", "profiles": ["dan"]},
        {"identifier": "CARD-0003", "profiles": ["cat", "amy"]},
    ]
    document = {
        "talonone": {
            "profiles": [{"integrationId": name} for name in ("amy", "bob", "cat", "dan")],
            "loyaltyPrograms": [
                {
                    "id": 3,
                    "name": "cards",
                    "cardBased": True,
                    "usersPerCardLimit": 3,
                    "cards": cards,
                }
            ],
        }
    }
    world = World(new_tenant(document))
    listed = inventory(client, world, "amy", "loyalty").json()["loyalty"]["cards"]
    assert [card["identifier"] for card in listed] == ["CARD-0001", "CARD-0003"]
    for card in listed:
        path = f"/v1/loyalty_programs/3/cards/{card['identifier']}/balances"
        alone = client.get(path, headers=world.headers)
        assert alone.status_code == 200, alone.text
        assert card["profiles"] == alone.json()["profiles"]
    assert [len(card["profiles"]) for card in listed] == [3, 2]
    assert (
        inventory(client, world, "bob", "loyalty").json()["loyalty"]["cards"][0]["id"]
        == (listed[0]["id"])
    )
