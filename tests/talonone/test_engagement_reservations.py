"""Coupon reservations over HTTP: CreateCouponReservation, DeleteCouponReservation (a DELETE
with a JSON body), GetReservedCustomers; hard reservations as the rule engine sees them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from simulator.core.db import new_session
from simulator.talonone.service import coupons

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
WORLD = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [{"id": 1, "name": "Coupons", "features": ["coupons"]}],
        "profiles": [{"integrationId": "amy", "attributes": {}}],
        "coupons": [
            {"value": "SOFT-2030", "campaignId": 1, "usageLimit": 5, "reservationLimit": 1},
            {"value": "HARD-2030", "campaignId": 1, "isReservationMandatory": True},
            {"value": "SOLO-2030", "campaignId": 1, "reservation": False},
            {"value": "SUMMER25%OFF", "campaignId": 1},
        ],
    },
}


class World:
    def __init__(self, tenant: dict) -> None:
        self.id = tenant["id"]
        key = tenant["credentials"]["talonone"]["api_key"]
        self.headers = {"Authorization": f"ApiKey-v1 {key}"}


@pytest.fixture
def world(new_tenant) -> World:
    return World(new_tenant(WORLD))


def reserve(client: TestClient, world: World, code: str, ids: list[str]):
    return client.post(
        f"/v1/coupon_reservations/{code}", json={"integrationIDs": ids}, headers=world.headers
    )


def reserved(client: TestClient, world: World, code: str) -> list[str]:
    response = client.get(f"/v1/coupon_reservations/customerprofiles/{code}", headers=world.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["totalResultSize"] == len(body["data"])
    return [profile["integrationId"] for profile in body["data"]]


def test_reserve_returns_the_coupon_with_its_counter(client: TestClient, world: World) -> None:
    response = reserve(client, world, "SOFT-2030", ["amy", "bob", "amy"])
    assert response.status_code == 201
    coupon = response.json()
    assert coupon["value"] == "SOFT-2030"
    assert coupon["campaignId"] == 1
    assert coupon["usageLimit"] == 5
    assert coupon["usageCounter"] == 0
    assert coupon["reservationCounter"] == 2
    assert isinstance(coupon["id"], int)
    assert coupon["created"] == "2030-01-01T12:00:00Z"


def test_reservation_limit_does_not_apply_and_repeats_are_idempotent(
    client: TestClient, world: World
) -> None:
    reserve(client, world, "SOFT-2030", ["amy"])
    again = reserve(client, world, "SOFT-2030", ["amy", "cid"])  # limit 1: overridden
    assert again.status_code == 201
    assert again.json()["reservationCounter"] == 2
    assert reserved(client, world, "SOFT-2030") == ["amy", "cid"]


def test_reserved_customers_are_full_profiles_and_unknown_ones_are_created(
    client: TestClient, world: World
) -> None:
    reserve(client, world, "SOFT-2030", ["new-customer"])
    response = client.get(
        "/v1/coupon_reservations/customerprofiles/SOFT-2030", headers=world.headers
    )
    profile = response.json()["data"][0]
    assert profile["integrationId"] == "new-customer"
    for key in ("id", "created", "accountId", "closedSessions", "totalSales", "lastActivity"):
        assert key in profile
    inventory = client.get(
        "/v1/customer_profiles/new-customer/inventory?coupons=true", headers=world.headers
    )
    assert [c["value"] for c in inventory.json()["coupons"]] == ["SOFT-2030"]


def test_delete_reservations_with_a_json_body(client: TestClient, world: World) -> None:
    reserve(client, world, "SOFT-2030", ["amy", "bob"])
    response = client.request(
        "DELETE",
        "/v1/coupon_reservations/SOFT-2030",
        json={"integrationIDs": ["amy", "nobody"]},
        headers=world.headers,
    )
    assert response.status_code == 204
    assert response.content == b""
    assert reserved(client, world, "SOFT-2030") == ["bob"]


def test_personal_code_is_reserved_for_one_profile_only(client: TestClient, world: World) -> None:
    assert reserve(client, world, "SOLO-2030", ["amy"]).status_code == 201
    assert reserve(client, world, "SOLO-2030", ["amy"]).status_code == 201
    refused = reserve(client, world, "SOLO-2030", ["bob"])
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["source"] == {"pointer": "/integrationIDs"}
    assert reserved(client, world, "SOLO-2030") == ["amy"]
    assert reserve(client, world, "SOLO-2030", ["cid", "dan"]).status_code == 400


def test_hard_reservation_gates_redemption(client: TestClient, world: World) -> None:
    def check(profile: str) -> str | None:
        with new_session(client.app.state.engine) as db:
            return coupons.validate_coupon(
                db, world.id, NOW, code="HARD-2030", campaign_id=1, profile_id=profile
            )

    assert check("amy") == "CouponReservationRequired"
    reserve(client, world, "HARD-2030", ["amy"])
    assert check("amy") is None
    client.request(
        "DELETE",
        "/v1/coupon_reservations/HARD-2030",
        json={"integrationIDs": ["amy"]},
        headers=world.headers,
    )
    assert check("amy") == "CouponReservationRequired"


def test_coupon_value_with_special_characters_is_url_decoded(
    client: TestClient, world: World
) -> None:
    response = reserve(client, world, "SUMMER25%25OFF", ["amy"])
    assert response.status_code == 201
    assert response.json()["value"] == "SUMMER25%OFF"


def test_unknown_coupon_is_404_on_all_three(client: TestClient, world: World) -> None:
    body = {"integrationIDs": ["amy"]}
    calls = [
        client.post("/v1/coupon_reservations/NOPE-1", json=body, headers=world.headers),
        client.request(
            "DELETE", "/v1/coupon_reservations/NOPE-1", json=body, headers=world.headers
        ),
        client.get("/v1/coupon_reservations/customerprofiles/NOPE-1", headers=world.headers),
    ]
    for response in calls:
        assert response.status_code == 404
        assert response.json()["StatusCode"] == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/integrationIDs"),
        ({"integrationIDs": "amy"}, "/integrationIDs"),
        ({"integrationIDs": []}, "/integrationIDs"),
        ({"integrationIDs": ["amy", 7]}, "/integrationIDs/1"),
        ({"integrationIDs": [""]}, "/integrationIDs/0"),
        ({"integrationIDs": ["x"] * 1001}, "/integrationIDs"),
    ],
)
def test_bad_reservation_bodies(client: TestClient, world: World, body: dict, pointer: str):
    for method in ("POST", "DELETE"):
        response = client.request(
            method, "/v1/coupon_reservations/SOFT-2030", json=body, headers=world.headers
        )
        assert response.status_code == 400, method
        assert response.json()["errors"][0]["source"] == {"pointer": pointer}
    assert reserved(client, world, "SOFT-2030") == []


def test_missing_or_broken_body(client: TestClient, world: World) -> None:
    for content in (b"", b"not json", b"[]"):
        response = client.request(
            "DELETE",
            "/v1/coupon_reservations/SOFT-2030",
            content=content,
            headers={**world.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "message" in response.json()


def test_reservations_need_credentials(client: TestClient, world: World) -> None:
    response = client.post("/v1/coupon_reservations/SOFT-2030", json={"integrationIDs": ["a"]})
    assert response.status_code == 401
