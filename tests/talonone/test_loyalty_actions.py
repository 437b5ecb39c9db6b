"""The loyalty operations of SDK 26.2 that the first version lacked: activating points that
wait for an action, deleting a customer's transactions, unlinking a card from a profile, as a
client sees them (status, body, what later reads return) and with bad input refused."""

from __future__ import annotations

from typing import Any

import pytest

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {
                "id": 1,
                "name": "Earn on review",
                "features": ["loyalty"],
                "rules": [
                    {
                        "title": "10 points once the order ships",
                        "conditions": [{"cartTotal": {"gt": 0}}],
                        "effects": [
                            {
                                "addLoyaltyPoints": {
                                    "programId": 1,
                                    "value": 10,
                                    "startDate": "on_action",
                                    "validityDuration": "30D",
                                }
                            }
                        ],
                    }
                ],
            }
        ],
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "subledgers": ["food"],
                "transactions": [
                    {"profileId": "ann", "amount": 100, "created": "2029-12-01T00:00:00Z"},
                    {
                        "profileId": "ann",
                        "subledgerId": "food",
                        "amount": 7,
                        "created": "2029-12-02T00:00:00Z",
                    },
                ],
            },
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "cards": [{"identifier": "CARD-0001", "profiles": ["ann"]}],
                "transactions": [{"cardIdentifier": "CARD-0001", "amount": 40}],
            },
        ],
    },
}
CART = [{"sku": "BOOK", "quantity": 1, "price": 20}]


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def balance(client, headers, profile: str = "ann", **params: Any) -> dict:
    response = client.get(
        f"/v1/loyalty_programs/1/profile/{profile}/balances", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def close_session(client, headers, session_id: str) -> dict:
    response = client.put(
        f"/v2/customer_sessions/{session_id}",
        headers=headers,
        json={"customerSession": {"profileId": "ann", "cartItems": CART, "state": "closed"}},
    )
    assert response.status_code == 200, response.text
    return response.json()


def activate(client, headers, body: Any, program: int = 1):
    return client.post(
        f"/v1/loyalty_programs/{program}/activate_points", headers=headers, json=body
    )


def test_points_on_action_wait_then_activate_by_session(client, tenant, headers) -> None:
    closed = close_session(client, headers, "s1")
    added = [e for e in closed["effects"] if e["effectType"] == "addLoyaltyPoints"]
    assert added[0]["props"]["awaitsActivation"] is True
    assert added[0]["props"]["validityDuration"] == "30D"
    assert balance(client, headers)["balance"]["pendingPoints"] == 10
    waiting = client.get(
        "/v1/loyalty_programs/1/profile/ann/transactions",
        headers=headers,
        params={"awaitsActivation": "true"},
    ).json()["data"]
    assert [(t["amount"], t["startDate"]) for t in waiting] == [(10, "on_action")]

    client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": 1})
    response = activate(client, headers, {"sessionId": "s1"})
    assert response.status_code == 200, response.text
    [entry] = response.json()["ledgerEntries"]
    assert entry["amount"] == 10 and entry["customerSessionID"] == "s1"
    assert entry["startDate"] == "2030-01-02T12:00:00Z"
    assert entry["expiryDate"] == "2030-02-01T12:00:00Z"  # validityDuration from activation
    assert entry["customerProfileID"] == "ann" and entry["validityDuration"] == "30D"
    now = balance(client, headers)["balance"]
    assert (now["activePoints"], now["pendingPoints"]) == (110, 0)
    listed = client.get(
        "/v1/loyalty_programs/1/profile/ann/transactions",
        headers=headers,
        params={"customerSessionIDs": "s1"},
    ).json()["data"]
    assert listed[0]["startDate"] == "2030-01-02T12:00:00Z"
    # Asked before the activation, the points were pending.
    before = balance(client, headers, endDate="2030-01-02T00:00:00Z")["balance"]
    assert (before["activePoints"], before["pendingPoints"]) == (100, 10)
    again = activate(client, headers, {"sessionId": "s1"})
    assert again.status_code == 404 and again.json()["StatusCode"] == 404

    client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": 31})
    assert balance(client, headers)["balance"]["expiredPoints"] == 10


def test_activate_by_transaction_uuids(client, headers) -> None:
    close_session(client, headers, "s2")
    close_session(client, headers, "s3")
    waiting = client.get(
        "/v1/loyalty_programs/1/profile/ann/transactions",
        headers=headers,
        params={"awaitsActivation": "true"},
    ).json()["data"]
    first = [t["transactionUUID"] for t in waiting if t["customerSessionId"] == "s2"]
    response = activate(client, headers, {"transactionUUIDs": first})
    assert response.status_code == 200, response.text
    assert [e["customerSessionID"] for e in response.json()["ledgerEntries"]] == ["s2"]
    now = balance(client, headers)["balance"]
    assert (now["activePoints"], now["pendingPoints"]) == (110, 10)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"sessionId": "s1", "transactionUUIDs": ["8f1a8d7c-9c3e-4a5e-9f0d-2c5f7a3b1cde"]},
        {"sessionId": ""},
        {"sessionId": 5},
        {"transactionUUIDs": []},
        {"transactionUUIDs": ["not-a-uuid"]},
        {"transactionUUIDs": ["8f1a8d7c-9c3e-4a5e-9f0d-2c5f7a3b1cde"] * 2},
        {"transactionUUIDs": [f"8f1a8d7c-9c3e-4a5e-9f0d-{n:012d}" for n in range(51)]},
        {"sessionId": "s1", "other": 1},
        [1],
    ],
)
def test_activate_refuses_a_bad_body(client, headers, body) -> None:
    response = activate(client, headers, body)
    assert response.status_code == 400, response.text
    assert response.json()["StatusCode"] == 400


def test_activate_in_an_unknown_program_or_without_waiting_points(client, headers) -> None:
    assert activate(client, headers, {"sessionId": "s1"}, program=99).status_code == 404
    assert activate(client, headers, {"sessionId": "nothing-here"}).status_code == 404
    assert activate(client, headers, {"sessionId": "s1"}, program="x").status_code == 400


def delete(client, headers, body: Any, profile: str = "ann", program: int = 1):
    return client.post(
        f"/v1/loyalty_programs/{program}/profile/{profile}/delete_transactions",
        headers=headers,
        json=body,
    )


def test_delete_the_transactions_of_selected_ledgers_then_all(client, tenant, headers) -> None:
    response = delete(client, headers, {"scope": "SelectedSubledgers", "subledgerIds": ["food"]})
    assert response.status_code == 204 and response.content == b""
    after = balance(client, headers)
    assert after["balance"]["activePoints"] == 100
    assert after["subledgerBalances"]["food"]["activePoints"] == 0
    listed = client.get("/v1/loyalty_programs/1/profile/ann/transactions", headers=headers).json()[
        "data"
    ]
    assert [t["subledgerId"] for t in listed] == [""]

    assert delete(client, headers, {"scope": "AllSubledgers"}).status_code == 204
    assert balance(client, headers)["balance"]["activePoints"] == 0
    listed = client.get("/v1/loyalty_programs/1/profile/ann/transactions", headers=headers).json()[
        "data"
    ]
    assert listed == []
    # The customer stays in the program and earns again.
    added = client.post(
        f"/__admin/tenants/{tenant['id']}/talonone/loyalty/programs/1/points",
        json={"profileId": "ann", "amount": 5},
    )
    assert added.status_code == 200, added.text
    assert balance(client, headers)["balance"]["activePoints"] == 5


@pytest.mark.parametrize(
    ("body", "profile", "program", "status"),
    [
        ({"scope": "Everything"}, "ann", 1, 400),
        ({}, "ann", 1, 400),
        ({"scope": "SelectedSubledgers"}, "ann", 1, 400),
        ({"scope": "SelectedSubledgers", "subledgerIds": ["drinks"]}, "ann", 1, 400),
        ({"scope": "SelectedSubledgers", "subledgerIds": [5]}, "ann", 1, 400),
        ({"scope": "AllSubledgers", "extra": True}, "ann", 1, 400),
        ({"scope": "AllSubledgers"}, "nobody", 1, 404),
        ({"scope": "AllSubledgers"}, "ann", 2, 400),
        ({"scope": "AllSubledgers"}, "ann", 99, 404),
    ],
)
def test_delete_refuses_bad_input(client, headers, body, profile, program, status) -> None:
    response = delete(client, headers, body, profile, program)
    assert response.status_code == status, response.text
    assert response.json()["StatusCode"] == status
    assert balance(client, headers)["balance"]["activePoints"] == 100  # nothing deleted


def test_unlink_a_card_keeps_its_ledger_and_linking_again_works(client, headers) -> None:
    path = "/v2/loyalty_programs/2/cards/CARD-0001"
    response = client.post(f"{path}/unlink_profile", headers=headers, json={"integrationId": "ann"})
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["profiles"] == [] and card["ledger"]["currentBalance"] == 40
    balances = client.get("/v1/loyalty_programs/2/cards/CARD-0001/balances", headers=headers)
    assert balances.json()["profiles"] == []
    assert balances.json()["balance"]["activePoints"] == 40
    again = client.post(f"{path}/unlink_profile", headers=headers, json={"integrationId": "ann"})
    assert again.status_code == 404 and again.json()["StatusCode"] == 404
    linked = client.post(f"{path}/link_profile", headers=headers, json={"integrationId": "ann"})
    assert linked.status_code == 200, linked.text
    assert [p["integrationId"] for p in linked.json()["profiles"]] == ["ann"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v2/loyalty_programs/2/cards/CARD-0001/unlink_profile", {}, 400),
        ("/v2/loyalty_programs/2/cards/CARD-0001/unlink_profile", {"integrationId": 3}, 400),
        ("/v2/loyalty_programs/2/cards/NO-SUCH/unlink_profile", {"integrationId": "ann"}, 404),
        ("/v2/loyalty_programs/2/cards/abc/unlink_profile", {"integrationId": "ann"}, 400),
        ("/v2/loyalty_programs/1/cards/CARD-0001/unlink_profile", {"integrationId": "ann"}, 400),
    ],
)
def test_unlink_refuses_bad_input(client, headers, path, body, status) -> None:
    response = client.post(path, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["StatusCode"] == status


def test_waiting_and_activated_points_round_trip_through_the_export(
    client, tenant, headers, new_tenant
) -> None:
    close_session(client, headers, "r1")
    close_session(client, headers, "r2")
    assert activate(client, headers, {"sessionId": "r1"}).status_code == 200
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    rule = exported["talonone"]["campaigns"][0]["rules"][0]["effects"][0]["addLoyaltyPoints"]
    assert (rule["startDate"], rule["validityDuration"]) == ("on_action", "30D")
    copy = new_tenant(exported)
    copy_headers = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}
    assert balance(client, copy_headers) == balance(client, headers)
    # The copy's waiting points still wait, and activate there.
    assert activate(client, copy_headers, {"sessionId": "r2"}).status_code == 200
    assert balance(client, copy_headers)["balance"]["activePoints"] == 120
