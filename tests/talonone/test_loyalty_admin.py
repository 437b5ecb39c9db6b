"""Admin for Talon.One loyalty: the programs of a tenant, and manual points (the Management API's
add/deduct points) that the Integration API then shows as `manual` transactions."""

from __future__ import annotations

import pytest

from simulator.talonone.routes.loyalty import admin_router
from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
ADMIN = "/__admin/tenants/default/talonone/loyalty"


@pytest.fixture
def admin_client(client):
    """The admin router is registered on the SPEC by the lead; mount it here if it is not yet."""
    if not any(getattr(r, "path", "").startswith(admin_router.prefix) for r in client.app.routes):
        client.app.include_router(admin_router)
    return client


def test_programs_are_listed_without_their_ledgers(admin_client) -> None:
    response = admin_client.get(f"{ADMIN}/programs")
    assert response.status_code == 200
    programs = {p["id"]: p for p in response.json()["loyaltyPrograms"]}
    assert programs[1]["name"] == "points" and "transactions" not in programs[1]
    assert programs[3]["cardBased"] is True
    assert [c["identifier"] for c in programs[3]["cards"]] == ["CARD-0001", "CARD-0002"]


def test_manual_points_show_as_manual_transactions(admin_client) -> None:
    added = admin_client.post(
        f"{ADMIN}/programs/1/points", json={"profileId": "loyalty-demo-1", "amount": 15}
    )
    assert added.status_code == 200, added.text
    assert added.json()["type"] == "addition" and added.json()["amount"] == 15
    deducted = admin_client.post(
        f"{ADMIN}/programs/1/points",
        json={"profileId": "loyalty-demo-1", "amount": 5, "type": "subtraction"},
    )
    assert deducted.status_code == 200 and deducted.json()["type"] == "subtraction"
    balances = admin_client.get(
        "/v1/loyalty_programs/1/profile/loyalty-demo-1/balances", headers=AUTH
    ).json()["balance"]
    assert (balances["activePoints"], balances["spentPoints"]) == (260, 5)
    manual = admin_client.get(
        "/v1/loyalty_programs/1/profile/loyalty-demo-1/transactions",
        headers=AUTH,
        params={"loyaltyTransactionType": "manual"},
    ).json()["data"]
    assert [t["amount"] for t in manual] == [5, 15]
    card = admin_client.post(
        f"{ADMIN}/programs/3/points", json={"cardIdentifier": "CARD-0002", "amount": 4}
    )
    assert card.status_code == 200 and card.json()["cardIdentifier"] == "CARD-0002"


@pytest.mark.parametrize(
    ("program", "body", "status"),
    [
        (9, {"profileId": "x", "amount": 1}, 404),
        (1, {"amount": 1}, 400),
        (1, {"profileId": "x", "amount": 0}, 400),
        (1, {"profileId": "x", "amount": 1, "subledgerId": "nope"}, 400),
        (1, {"profileId": "x", "amount": 1, "expiryDate": "soon"}, 400),
        (1, {"profileId": "nobody", "amount": 1, "type": "subtraction"}, 400),
        (3, {"cardIdentifier": "CARD-9999", "amount": 1}, 400),
        (1, {"profileId": "x", "amount": 1, "bonus": True}, 400),
    ],
)
def test_bad_manual_points_are_refused(admin_client, program, body, status) -> None:
    response = admin_client.post(f"{ADMIN}/programs/{program}/points", json=body)
    assert response.status_code == status, response.text
