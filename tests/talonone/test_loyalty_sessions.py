"""Loyalty end to end through UpdateCustomerSessionV2: points earned by rules are tentative while
the session is open, posted on close, rolled back on cancel and partly on return; deductions
spend points; sessions carrying a loyalty card post to the card; the clock activates points."""

from __future__ import annotations

from typing import Any

import pytest

PROGRAM = "/v1/loyalty_programs/1/profile"
FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "catalogs": [
            {
                "id": 1,
                "name": "Shop",
                "items": [{"sku": "SHOE", "price": 50}, {"sku": "REDEEM", "price": 0}],
            }
        ],
        "campaigns": [
            {
                "id": 1,
                "name": "Earn",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "A point per EUR",
                        "conditions": [{"itemSku": "SHOE"}],
                        "effects": [
                            {
                                "addLoyaltyPoints": {
                                    "programId": 1,
                                    "perCurrency": 1,
                                    "name": "Order",
                                }
                            }
                        ],
                    }
                ],
            },
            {
                "id": 2,
                "name": "Burn",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "Redeem 30",
                        "conditions": [{"itemSku": "REDEEM"}],
                        "effects": [{"deductLoyaltyPoints": {"programId": 1, "value": 30}}],
                    }
                ],
            },
            {
                "id": 3,
                "name": "Card points",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "Card bonus",
                        "conditions": [{"itemSku": "SHOE"}],
                        "effects": [{"addLoyaltyPoints": {"programId": 2, "value": 5}}],
                    }
                ],
            },
            {
                "id": 4,
                "name": "Later points",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "Pending bonus",
                        "conditions": [{"itemSku": "SHOE"}],
                        "effects": [{"addLoyaltyPoints": {"programId": 3, "value": 7}}],
                    }
                ],
            },
        ],
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "transactions": [
                    {"profileId": "rich", "amount": 100, "created": "2029-12-01T00:00:00Z"}
                ],
            },
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "cards": [{"identifier": "CARD-E2E1"}],
            },
            {"id": 3, "name": "later", "defaultPending": "2D", "defaultValidity": "10D"},
        ],
    },
}


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def put_session(client, headers, session_id: str, **session: Any) -> dict:
    response = client.put(
        f"/v2/customer_sessions/{session_id}", headers=headers, json={"customerSession": session}
    )
    assert response.status_code == 200, response.text
    return response.json()


def balance(client, headers, profile: str, program: int = 1) -> dict:
    path = f"/v1/loyalty_programs/{program}/profile/{profile}/balances"
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["balance"]


def effect_types(body: dict) -> list[str]:
    return [effect["effectType"] for effect in body["effects"]]


SHOES = [{"sku": "SHOE", "quantity": 2}]


def test_points_are_posted_when_the_session_closes(client, headers) -> None:
    opened = put_session(client, headers, "s1", profileId="ann", cartItems=SHOES)
    assert "addLoyaltyPoints" in effect_types(opened)
    missing = client.get(f"{PROGRAM}/ann/balances", headers=headers)
    # the profile exists (sessions created it) but nothing is posted while the session is open
    assert missing.status_code == 200 and missing.json()["balance"]["activePoints"] == 0
    put_session(client, headers, "s1", profileId="ann", cartItems=SHOES, state="closed")
    assert balance(client, headers, "ann")["activePoints"] == 100
    transactions = client.get(
        f"{PROGRAM}/ann/transactions", headers=headers, params={"loyaltyTransactionType": "session"}
    ).json()["data"]
    assert [(t["type"], t["amount"], t["customerSessionId"]) for t in transactions] == [
        ("addition", 100, "s1")
    ]
    assert transactions[0]["ruleName"] == "A point per EUR"
    by_session = client.get(
        f"{PROGRAM}/ann/points", headers=headers, params={"customerSessionIDs": "s1"}
    ).json()["data"]
    assert [p["amount"] for p in by_session] == [100]


def test_a_session_created_closed_posts_at_once_and_a_dry_run_does_not(client, headers) -> None:
    client.put(
        "/v2/customer_sessions/dry1?dry=true",
        headers=headers,
        json={"customerSession": {"profileId": "bo", "cartItems": SHOES, "state": "closed"}},
    )
    put_session(client, headers, "s2", profileId="bo", cartItems=SHOES, state="closed")
    assert balance(client, headers, "bo")["activePoints"] == 100


def test_cancelling_a_closed_session_rolls_the_points_back(client, headers) -> None:
    put_session(client, headers, "s3", profileId="cy", cartItems=SHOES, state="closed")
    cancelled = put_session(
        client, headers, "s3", profileId="cy", cartItems=SHOES, state="cancelled"
    )
    rollbacks = [e for e in cancelled["effects"] if e["effectType"] == "rollbackAddedLoyaltyPoints"]
    assert [e["props"]["value"] for e in rollbacks if e["props"]["programId"] == 1] == [100]
    assert balance(client, headers, "cy")["activePoints"] == 0
    types = [
        t["type"] for t in client.get(f"{PROGRAM}/cy/transactions", headers=headers).json()["data"]
    ]
    assert types.count("subtraction") == 1 and types.count("addition") == 1


def test_a_return_takes_back_the_returned_share(client, headers) -> None:
    put_session(client, headers, "s4", profileId="di", cartItems=SHOES, state="closed")
    response = client.post(
        "/v2/customer_sessions/s4/returns",
        headers=headers,
        json={"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]}},
    )
    assert response.status_code == 200, response.text
    assert "rollbackAddedLoyaltyPoints" in effect_types(response.json())
    assert balance(client, headers, "di")["activePoints"] == 50


def test_deductions_spend_points_and_cancel_gives_them_back(client, headers) -> None:
    redeem = [{"sku": "REDEEM", "quantity": 1}]
    closed = put_session(client, headers, "s5", profileId="rich", cartItems=redeem, state="closed")
    assert "deductLoyaltyPoints" in effect_types(closed)
    after = balance(client, headers, "rich")
    assert (after["activePoints"], after["spentPoints"]) == (70, 30)
    cancelled = put_session(
        client, headers, "s5", profileId="rich", cartItems=redeem, state="cancelled"
    )
    assert "rollbackDeductedLoyaltyPoints" in effect_types(cancelled)
    after = balance(client, headers, "rich")
    assert (after["activePoints"], after["spentPoints"]) == (100, 0)


def test_a_session_with_a_loyalty_card_posts_to_the_card(client, headers) -> None:
    put_session(
        client,
        headers,
        "s6",
        profileId="eve",
        cartItems=SHOES,
        loyaltyCards=["CARD-E2E1"],
        state="closed",
    )
    card = client.get("/v1/loyalty_programs/2/cards/CARD-E2E1/balances", headers=headers).json()
    assert card["balance"]["activePoints"] == 5
    transactions = client.get(
        "/v1/loyalty_programs/2/cards/CARD-E2E1/transactions", headers=headers
    ).json()["data"]
    assert [(t["cardIdentifier"], t["customerSessionId"]) for t in transactions] == [
        ("CARD-E2E1", "s6")
    ]


def test_pending_points_activate_when_the_clock_passes(client, tenant, headers) -> None:
    put_session(client, headers, "s7", profileId="fay", cartItems=SHOES, state="closed")
    now = balance(client, headers, "fay", program=3)
    assert (now["activePoints"], now["pendingPoints"]) == (0, 7)
    advanced = client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": 2})
    assert advanced.status_code == 200
    later = balance(client, headers, "fay", program=3)
    assert (later["activePoints"], later["pendingPoints"]) == (7, 0)
    client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": 10})
    assert balance(client, headers, "fay", program=3)["expiredPoints"] == 7


def test_an_open_session_shows_in_the_tentative_balances(client, headers) -> None:
    response = client.put(
        "/v2/customer_sessions/s8",
        headers=headers,
        json={
            "customerSession": {"profileId": "rich", "cartItems": SHOES},
            "responseContent": ["loyalty"],
        },
    )
    assert response.status_code == 200, response.text
    ledger = response.json()["loyalty"]["programs"]["1"]["ledger"]
    assert (ledger["currentBalance"], ledger["tentativeCurrentBalance"]) == (100, 200)
    assert balance(client, headers, "rich")["activePoints"] == 100


def test_reopening_a_closed_session_rolls_back_and_closing_again_posts_again(
    client, headers
) -> None:
    put_session(client, headers, "s9", profileId="gil", cartItems=SHOES, state="closed")
    reopened = client.put("/v2/customer_sessions/s9/reopen", headers=headers)
    assert reopened.status_code == 200, reopened.text
    assert "rollbackAddedLoyaltyPoints" in effect_types(reopened.json())
    assert balance(client, headers, "gil")["activePoints"] == 0
    put_session(client, headers, "s9", profileId="gil", cartItems=SHOES, state="closed")
    assert balance(client, headers, "gil")["activePoints"] == 100


def test_fixture_export_reproduces_the_ledger_after_sessions(client, tenant, headers, new_tenant):
    redeem = [{"sku": "REDEEM", "quantity": 1}]
    put_session(client, headers, "x1", profileId="rich", cartItems=SHOES, state="closed")
    put_session(client, headers, "x2", profileId="rich", cartItems=redeem, state="closed")
    put_session(client, headers, "x3", profileId="rich", cartItems=SHOES, state="closed")
    put_session(client, headers, "x3", profileId="rich", cartItems=SHOES, state="cancelled")
    put_session(client, headers, "x4", profileId="fay", cartItems=SHOES, state="closed")
    put_session(
        client,
        headers,
        "x5",
        profileId="eve",
        cartItems=SHOES,
        loyaltyCards=["CARD-E2E1"],
        state="closed",
    )
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures")
    assert exported.status_code == 200
    copy = new_tenant(exported.json())
    copy_headers = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}

    def snapshot(auth: dict) -> list:
        paths = [
            "/v1/loyalty_programs/1/profile/rich/balances",
            "/v1/loyalty_programs/3/profile/fay/balances?endDate=2030-01-04T00:00:00Z",
            "/v1/loyalty_programs/1/profile/rich/points",
            "/v1/loyalty_programs/2/cards/CARD-E2E1/balances",
        ]
        found = [client.get(path, headers=auth).json() for path in paths]
        found[3].pop("profiles", None)
        transactions = client.get(
            "/v1/loyalty_programs/1/profile/rich/transactions", headers=auth
        ).json()["data"]
        found.append(
            [
                (t["type"], t["amount"], t["transactionUUID"], t.get("customerSessionId"))
                for t in transactions
            ]
        )
        return found

    assert snapshot(copy_headers) == snapshot(headers)
