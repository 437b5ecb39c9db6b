"""A rule's deduction holds only when the ledger it will take from has the points, counting what
the same evaluation already deducts: every deductLoyaltyPoints answered is a subtraction of its
value in that ledger (issue 19, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

REDEEM = [{"sku": "REDEEM", "quantity": 1, "price": 1}]


def deduct(program_id: int, value: int = 100) -> dict:
    return {"deductLoyaltyPoints": {"programId": program_id, "value": value}}


def campaign(campaign_id: int, sku: str, *effects: dict, title: str = "") -> dict:
    return {
        "id": campaign_id,
        "name": f"Campaign {campaign_id}",
        "features": ["loyalty"],
        "rules": [
            {
                "title": title or f"Rule {campaign_id}",
                "conditions": [{"itemSku": sku}],
                "effects": list(effects),
            }
        ],
    }


FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            # 150 points cannot pay two deductions of 100: the first campaign's rule fails
            # whole, the second's fires, the third (another 100) finds 50 left and fails.
            campaign(1, "REDEEM", deduct(1), deduct(1), title="Two at once"),
            campaign(2, "REDEEM", deduct(1), title="One"),
            campaign(3, "REDEEM", deduct(1), title="One more"),
            # A profile program's deduction takes from the profile, card in the session or not.
            campaign(4, "PROFILE-REDEEM", deduct(1)),
            # A card program's deduction takes from the card: 40 points pay 40, not 100.
            campaign(5, "CARD-REDEEM", deduct(2, 40)),
            campaign(6, "CARD-REDEEM", deduct(2, 100)),
        ],
        "profiles": [{"integrationId": "rich"}],
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "transactions": [
                    {"profileId": "rich", "amount": 150, "created": "2029-12-01T00:00:00Z"}
                ],
            },
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "cards": [{"identifier": "CARD-D1", "profiles": ["rich"]}],
                "transactions": [
                    {"cardIdentifier": "CARD-D1", "amount": 40, "created": "2029-12-01T00:00:00Z"}
                ],
            },
        ],
    },
}


@pytest.fixture
def headers(new_tenant) -> dict:
    tenant = new_tenant(FIXTURES)
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def close(client, headers, session_id: str, cart: list[dict], **session: Any) -> dict:
    body = {
        "customerSession": {"profileId": "rich", "state": "closed", "cartItems": cart, **session},
        "responseContent": ["ruleFailureReasons"],
    }
    response = client.put(f"/v2/customer_sessions/{session_id}", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def deductions(body: dict) -> list[tuple[int, int]]:
    """(campaignId, value) of each deductLoyaltyPoints answered."""
    return [
        (e["campaignId"], e["props"]["value"])
        for e in body["effects"]
        if e["effectType"] == "deductLoyaltyPoints"
    ]


def ledger(client, headers, path: str) -> tuple[float, list[tuple[str, float, str]]]:
    """(active points, [(type, amount, session)] of the rows sessions wrote)."""
    balance = client.get(f"{path}/balances", headers=headers).json()["balance"]
    rows = client.get(f"{path}/transactions", headers=headers).json()["data"]
    written = [
        (r["type"], r["amount"], r["customerSessionId"]) for r in rows if "customerSessionId" in r
    ]
    return balance["activePoints"], written


def test_deductions_of_one_evaluation_share_the_balance(client, headers) -> None:
    body = close(client, headers, "two-rules", REDEEM)
    assert deductions(body) == [(2, 100)]
    failed = {(f["campaignID"], f["ruleName"]) for f in body["ruleFailureReasons"]}
    assert {(1, "Two at once"), (3, "One more")} <= failed
    assert ledger(client, headers, "/v1/loyalty_programs/1/profile/rich") == (
        50,
        [("subtraction", 100, "two-rules")],
    )


def test_a_profile_program_deducts_from_the_profile_when_the_session_has_a_card(
    client, headers
) -> None:
    body = close(
        client,
        headers,
        "with-card",
        [{"sku": "PROFILE-REDEEM", "quantity": 1, "price": 1}],
        loyaltyCards=["CARD-D1"],
    )
    assert deductions(body) == [(4, 100)]
    assert ledger(client, headers, "/v1/loyalty_programs/1/profile/rich") == (
        50,
        [("subtraction", 100, "with-card")],
    )


def test_a_card_program_deducts_only_what_the_card_holds(client, headers) -> None:
    body = close(
        client,
        headers,
        "card",
        [{"sku": "CARD-REDEEM", "quantity": 1, "price": 1}],
        loyaltyCards=["CARD-D1"],
    )
    assert deductions(body) == [(5, 40)]
    assert ledger(client, headers, "/v1/loyalty_programs/2/cards/CARD-D1") == (
        0,
        [("subtraction", 40, "card")],
    )


def test_a_dry_run_checks_the_same_balance_and_writes_nothing(client, headers) -> None:
    body = {
        "customerSession": {"profileId": "rich", "state": "closed", "cartItems": REDEEM},
    }
    response = client.put("/v2/customer_sessions/dry?dry=true", headers=headers, json=body)
    assert response.status_code == 200, response.text
    assert deductions(response.json()) == [(2, 100)]
    assert ledger(client, headers, "/v1/loyalty_programs/1/profile/rich") == (150, [])
