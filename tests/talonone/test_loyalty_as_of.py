"""Balances as of any instant: one ledger walked through earn -> activate -> spend -> expire on
the tenant clock, each balance operation (profile, subledger, card) asked at instants between
the steps, answering what the ledger held then."""

from __future__ import annotations

from typing import Any

import pytest

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "loyaltyPrograms": [
            {"id": 1, "name": "points", "subledgers": ["food"]},
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "cards": [{"identifier": "CARD-0001", "profiles": ["ann"]}],
            },
        ]
    },
}
# The steps, one day apart from 2030-01-02T12:00Z; the points expire 30 days after activation.
BEFORE_EARN = "2030-01-02T00:00:00Z"
EARNED = "2030-01-03T00:00:00Z"
ACTIVATED = "2030-01-04T00:00:00Z"
SPENT = "2030-01-05T00:00:00Z"
EXPIRED = "2030-02-04T00:00:00Z"  # activation 2030-01-03T12:00Z + 30 days has passed


@pytest.fixture
def walked(client, new_tenant) -> tuple[dict, dict]:
    tenant = new_tenant(FIXTURES)
    headers = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    admin = f"/__admin/tenants/{tenant['id']}"

    def advance(days: float) -> None:
        response = client.post(f"{admin}/clock/advance", json={"days": days})
        assert response.status_code == 200, response.text

    def post(program: int, **entry: Any) -> dict:
        response = client.post(f"{admin}/talonone/loyalty/programs/{program}/points", json=entry)
        assert response.status_code == 200, response.text
        return response.json()

    advance(1)  # 2030-01-02T12:00Z: earn, waiting for an action
    waiting = {"amount": 100, "startDate": "on_action", "expiryDate": "30D"}
    uuids = {
        1: [
            post(1, profileId="ann", **waiting)["transactionUUID"],
            post(1, profileId="ann", subledgerId="food", **waiting)["transactionUUID"],
        ],
        2: [post(2, cardIdentifier="CARD-0001", **waiting)["transactionUUID"]],
    }
    advance(1)  # 2030-01-03T12:00Z: activate
    for program, given in uuids.items():
        response = client.post(
            f"/v1/loyalty_programs/{program}/activate_points",
            headers=headers,
            json={"transactionUUIDs": given},
        )
        assert response.status_code == 200, response.text
    advance(1)  # 2030-01-04T12:00Z: spend 40 of each
    spend = {"type": "subtraction", "amount": 40}
    post(1, profileId="ann", **spend)
    post(1, profileId="ann", subledgerId="food", **spend)
    post(2, cardIdentifier="CARD-0001", **spend)
    advance(40)  # 2030-02-13T12:00Z: long expired
    return tenant, headers


NOTHING = dict.fromkeys(("activePoints", "pendingPoints", "spentPoints", "expiredPoints"), 0)


def figures(balance: dict) -> tuple:
    return tuple(
        balance[name] for name in ("activePoints", "pendingPoints", "spentPoints", "expiredPoints")
    )


EXPECTED = {
    BEFORE_EARN: (0, 0, 0, 0),
    EARNED: (0, 100, 0, 0),
    ACTIVATED: (100, 0, 0, 0),
    SPENT: (60, 0, 40, 0),
    EXPIRED: (0, 0, 40, 60),
}


@pytest.mark.parametrize("instant", list(EXPECTED))
def test_each_balance_operation_answers_what_the_ledger_held_then(client, walked, instant):
    _tenant, headers = walked
    profile = client.get(
        "/v1/loyalty_programs/1/profile/ann/balances",
        headers=headers,
        params={"endDate": instant},
    )
    assert profile.status_code == 200, profile.text
    assert figures(profile.json()["balance"]) == EXPECTED[instant]
    # A subledger the customer had not used yet is not listed.
    food = profile.json()["subledgerBalances"].get("food", NOTHING)
    assert figures(food) == EXPECTED[instant]
    subledger = client.get(
        "/v1/loyalty_programs/1/profile/ann/balances",
        headers=headers,
        params={"endDate": instant, "subledgerId": "food"},
    )
    assert figures(subledger.json()["subledgerBalances"]["food"]) == EXPECTED[instant]
    card = client.get(
        "/v1/loyalty_programs/2/cards/CARD-0001/balances",
        headers=headers,
        params={"endDate": instant},
    )
    assert card.status_code == 200, card.text
    assert figures(card.json()["balance"]) == EXPECTED[instant]


def test_without_end_date_and_in_the_future_the_present_holds(client, walked):
    _tenant, headers = walked
    for params in ({}, {"endDate": "2031-01-01T00:00:00Z"}):
        profile = client.get(
            "/v1/loyalty_programs/1/profile/ann/balances", headers=headers, params=params
        )
        assert figures(profile.json()["balance"]) == EXPECTED[EXPIRED]


def test_points_earned_today_are_not_there_in_2000(client, new_tenant):
    tenant = new_tenant(FIXTURES)
    headers = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    added = client.post(
        f"/__admin/tenants/{tenant['id']}/talonone/loyalty/programs/1/points",
        json={"profileId": "ann", "amount": 25},
    )
    assert added.status_code == 200
    old = client.get(
        "/v1/loyalty_programs/1/profile/ann/balances",
        headers=headers,
        params={"endDate": "2000-01-01T00:00:00Z"},
    )
    assert old.status_code == 200
    assert figures(old.json()["balance"]) == (0, 0, 0, 0)
    assert old.json()["subledgerBalances"] == {}
