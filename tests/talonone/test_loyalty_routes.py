"""Talon.One loyalty over HTTP: balances, points, transactions and cards as a client sees them,
with the tenant clock moving points from pending to active to expired, and every bad input
answered with Talon.One's error body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
LEDGER = [
    {"profileId": "ann", "amount": 100, "name": "Old", "created": "2029-12-01T00:00:00Z"},
    {
        "profileId": "ann",
        "amount": 50,
        "name": "Late",
        "startDate": "2030-01-03T12:00:00Z",
        "expiryDate": "2030-01-10T12:00:00Z",
        "created": "2029-12-20T00:00:00Z",
    },
    {"profileId": "ann", "subledgerId": "food", "amount": 7, "created": "2029-12-21T00:00:00Z"},
    {
        "profileId": "ann",
        "type": "subtraction",
        "amount": 30,
        "name": "Spent",
        "created": "2029-12-22T00:00:00Z",
        "loyaltyTransactionType": "manual",
    },
]
FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
    "talonone": {
        "loyaltyPrograms": [
            {
                "id": 1,
                "name": "points",
                "subledgers": ["food"],
                "tiers": [
                    {"id": 1, "name": "Bronze", "minPoints": 50},
                    {"id": 2, "name": "Silver", "minPoints": 100},
                ],
                "transactions": LEDGER,
            },
            {
                "id": 2,
                "name": "cards",
                "cardBased": True,
                "usersPerCardLimit": 2,
                "cardCodeSettings": {"couponPattern": "LC-######"},
                "cards": [{"identifier": "CARD-0001", "profiles": ["ann"]}],
                "transactions": [{"cardIdentifier": "CARD-0001", "amount": 40}],
            },
        ]
    },
}


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def get(client, headers, path, **params):
    return client.get(path, headers=headers, params=params)


def advance(client, tenant, days: float) -> None:
    response = client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": days})
    assert response.status_code == 200, response.text


def assert_error(response, status: int, source_key: str, source_value: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["StatusCode"] == status and isinstance(body["message"], str)
    assert body["errors"][0]["source"] == {source_key: source_value}
    return body


BALANCES = "/v1/loyalty_programs/1/profile/ann/balances"


def test_balances_per_subledger_with_pending_points(client, headers) -> None:
    body = get(client, headers, BALANCES).json()
    assert body["balance"] == {
        "activePoints": 70,
        "pendingPoints": 50,
        "spentPoints": 30,
        "expiredPoints": 0,
        "negativePoints": 0,
    }
    assert body["subledgerBalances"]["food"]["activePoints"] == 7
    only_food = get(client, headers, BALANCES, subledgerId="food").json()
    assert (
        set(only_food) == {"subledgerBalances"}
        and only_food["subledgerBalances"]["food"]["activePoints"] == 7
    )


def test_the_clock_activates_then_expires_points(client, tenant, headers) -> None:
    advance(client, tenant, 2)
    body = get(client, headers, BALANCES).json()["balance"]
    assert (body["activePoints"], body["pendingPoints"]) == (120, 0)
    advance(client, tenant, 7)
    body = get(client, headers, BALANCES).json()["balance"]
    assert (body["activePoints"], body["expiredPoints"]) == (70, 50)
    points = get(client, headers, "/v1/loyalty_programs/1/profile/ann/points", status="expired")
    assert [p["amount"] for p in points.json()["data"]] == [50]


def test_end_date_projects_balances_at_another_instant(client, headers) -> None:
    future = get(client, headers, BALANCES, endDate="2030-01-05T00:00:00Z").json()["balance"]
    assert (future["activePoints"], future["pendingPoints"]) == (120, 0)
    far = get(client, headers, BALANCES, endDate="2030-02-01T00:00:00Z").json()["balance"]
    assert far["expiredPoints"] == 50


def test_tiers_and_projected_tier(client, headers) -> None:
    body = get(client, headers, BALANCES, includeTiers="true", includeProjectedTier="true").json()
    balance = body["balance"]
    assert balance["currentTier"] == {"id": 1, "name": "Bronze", "downgradePolicy": "one_down"}
    assert balance["pointsToNextTier"] == 30 and balance["nextTierName"] == "Silver"
    assert balance["projectedTier"]["projectedActivePoints"] == 120
    assert balance["projectedTier"]["projectedTierName"] == "Silver"
    plain = get(client, headers, BALANCES).json()["balance"]
    assert "currentTier" not in plain and "projectedTier" not in plain


def test_points_list_shows_unused_remainders_by_status_with_paging(client, headers) -> None:
    path = "/v1/loyalty_programs/1/profile/ann/points"
    active = get(client, headers, path).json()
    assert active["hasMore"] is False
    assert sorted((p["subledgerId"], p["amount"]) for p in active["data"]) == [
        ("", 70),
        ("food", 7),
    ]
    first = active["data"][0]
    assert first["startDate"] == "immediate" and first["expiryDate"] == "unlimited"
    pending = get(client, headers, path, status="pending").json()["data"]
    assert [(p["amount"], p["startDate"], p["expiryDate"]) for p in pending] == [
        (50, "2030-01-03T12:00:00Z", "2030-01-10T12:00:00Z")
    ]
    page = get(client, headers, path, pageSize=1).json()
    assert page["hasMore"] is True and len(page["data"]) == 1
    second = get(client, headers, path, pageSize=1, skip=1).json()
    assert second["hasMore"] is False and second["data"][0]["id"] != page["data"][0]["id"]
    food = get(client, headers, path, subledgerId="food").json()["data"]
    assert [p["amount"] for p in food] == [7]


def test_transactions_newest_first_with_filters(client, headers) -> None:
    path = "/v1/loyalty_programs/1/profile/ann/transactions"
    data = get(client, headers, path).json()["data"]
    assert [(t["type"], t["amount"]) for t in data] == [
        ("subtraction", 30),
        ("addition", 7),
        ("addition", 50),
        ("addition", 100),
    ]
    assert all(t["flags"] == {"createsNegativeBalance": False} for t in data)
    manual = get(client, headers, path, loyaltyTransactionType="manual").json()["data"]
    assert [t["name"] for t in manual] == ["Spent"]
    window = get(
        client, headers, path, startDate="2029-12-15T00:00:00Z", endDate="2029-12-21T00:00:00Z"
    ).json()["data"]
    assert [t["amount"] for t in window] == [7, 50]
    by_uuid = get(client, headers, path, transactionUUIDs=data[0]["transactionUUID"]).json()
    assert [t["id"] for t in by_uuid["data"]] == [data[0]["id"]]
    page = get(client, headers, path, pageSize=3).json()
    assert page["hasMore"] is True and len(page["data"]) == 3


@pytest.mark.parametrize(
    ("path", "params", "status", "key", "value"),
    [
        (BALANCES.replace("/1/", "/99/"), {}, 404, "parameter", "loyaltyProgramId"),
        (BALANCES.replace("/1/", "/abc/"), {}, 400, "parameter", "loyaltyProgramId"),
        (BALANCES.replace("ann", "nobody"), {}, 404, "parameter", "integrationId"),
        (BALANCES.replace("/1/", "/2/"), {}, 400, "parameter", "loyaltyProgramId"),
        (BALANCES, {"endDate": "tomorrow"}, 400, "parameter", "endDate"),
        (BALANCES, {"includeTiers": "maybe"}, 400, "parameter", "includeTiers"),
        (BALANCES, {"subledgerId": "nope"}, 400, "parameter", "subledgerId"),
        (
            "/v1/loyalty_programs/1/profile/ann/points",
            {"status": "spent"},
            400,
            "parameter",
            "status",
        ),
        (
            "/v1/loyalty_programs/1/profile/ann/points",
            {"pageSize": "0"},
            400,
            "parameter",
            "pageSize",
        ),
        (
            "/v1/loyalty_programs/1/profile/ann/points",
            {"pageSize": "1001"},
            400,
            "parameter",
            "pageSize",
        ),
        ("/v1/loyalty_programs/1/profile/ann/points", {"skip": "-1"}, 400, "parameter", "skip"),
        ("/v1/loyalty_programs/1/profile/ann/points", {"sort": "amount"}, 400, "parameter", "sort"),
        (
            "/v1/loyalty_programs/1/profile/ann/transactions",
            {"awaitsActivation": "false"},
            400,
            "parameter",
            "awaitsActivation",
        ),
        (
            "/v1/loyalty_programs/1/profile/ann/transactions",
            {"loyaltyTransactionType": "x"},
            400,
            "parameter",
            "loyaltyTransactionType",
        ),
        ("/v1/loyalty_programs/2/cards/CARD-9999/balances", {}, 404, "parameter", "loyaltyCardId"),
        ("/v1/loyalty_programs/1/cards/CARD-0001/points", {}, 400, "parameter", "loyaltyProgramId"),
        ("/v1/loyalty_programs/2/cards/abc/transactions", {}, 400, "parameter", "loyaltyCardId"),
    ],
)
def test_bad_requests_get_talon_one_errors(client, headers, path, params, status, key, value):
    assert_error(get(client, headers, path, **params), status, key, value)


ZERO = {
    "activePoints": 0,
    "pendingPoints": 0,
    "spentPoints": 0,
    "expiredPoints": 0,
    "negativePoints": 0,
}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"subledgerId": "nope"},
        {"endDate": "2029-12-31T00:00:00Z"},
        {"endDate": "2031-01-01T00:00:00Z"},
    ],
)
def test_balances_of_an_unknown_profile_are_404_whatever_is_asked(client, headers, params) -> None:
    nobody = BALANCES.replace("ann", "nobody")
    assert_error(get(client, headers, nobody, **params), 404, "parameter", "integrationId")


@pytest.mark.parametrize("end_date", [None, "2029-11-01T00:00:00Z", "2031-01-01T00:00:00Z"])
def test_a_stored_profile_without_a_ledger_has_zero_balances(client, headers, end_date) -> None:
    stored = client.put("/v2/customer_profiles/zoe", json={"attributes": {}}, headers=headers)
    assert stored.status_code == 200, stored.text
    dated = {} if end_date is None else {"endDate": end_date}
    zoe = BALANCES.replace("ann", "zoe")
    assert get(client, headers, zoe, **dated).json() == {"balance": ZERO, "subledgerBalances": {}}
    food = get(client, headers, zoe, subledgerId="food", **dated).json()
    assert food == {"subledgerBalances": {"food": ZERO}}
    # Ann's ledgers did not exist yet then: she is known, with nothing.
    if end_date == "2029-11-01T00:00:00Z":
        before = get(client, headers, BALANCES, **dated).json()
        assert before == {"balance": ZERO, "subledgerBalances": {}}


def test_a_bad_key_is_refused(client) -> None:
    response = client.get(BALANCES, headers={"Authorization": "ApiKey-v1 wrong"})
    assert response.status_code == 401 and response.json()["StatusCode"] == 401


# --- cards -----------------------------------------------------------------------------------


def test_generate_card_with_a_seeded_identifier_and_profiles(client, headers) -> None:
    response = client.post(
        "/v1/loyalty_programs/2/cards", headers=headers, json={"customerProfileIds": ["bea"]}
    )
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["identifier"].startswith("LC-") and len(card["identifier"]) == 9
    assert card["programID"] == 2 and card["status"] == "active" and card["usersPerCardLimit"] == 2
    assert [p["integrationId"] for p in card["profiles"]] == ["bea"]
    assert card["ledger"]["currentBalance"] == 0
    balances = get(client, headers, f"/v1/loyalty_programs/2/cards/{card['identifier']}/balances")
    assert balances.status_code == 200 and balances.json()["profiles"][0]["integrationId"] == "bea"
    again = client.post("/v1/loyalty_programs/2/cards", headers=headers, json={})
    assert again.json()["identifier"] != card["identifier"]


def test_generated_identifiers_repeat_after_a_reset(client, tenant, headers) -> None:
    """Identifiers come from the seed, the tenant and a counter: a reset tenant replays them."""
    first = client.post("/v1/loyalty_programs/2/cards", headers=headers, json={})
    reset = client.post(f"/__admin/tenants/{tenant['id']}/reset")
    assert reset.status_code in (200, 204), reset.text
    again = client.post("/v1/loyalty_programs/2/cards", headers=headers, json={})
    assert first.json()["identifier"] == again.json()["identifier"]


def test_generate_card_with_a_given_identifier_and_bad_bodies(client, headers) -> None:
    path = "/v1/loyalty_programs/2/cards"
    made = client.post(
        path, headers=headers, json={"cardIdentifier": "MY_CARD-1", "status": "inactive"}
    )
    assert made.status_code == 200 and made.json()["status"] == "inactive"
    duplicate = client.post(path, headers=headers, json={"cardIdentifier": "MY_CARD-1"})
    assert_error(duplicate, 400, "pointer", "/cardIdentifier")
    for body, pointer in [
        ({"cardIdentifier": "a.b@c"}, "/cardIdentifier"),
        ({"cardIdentifier": "abc"}, "/cardIdentifier"),
        ({"status": "blocked"}, "/status"),
        ({"customerProfileIds": ["a", "b", "c"]}, "/customerProfileIds"),
        ({"customerProfileIds": "a"}, "/customerProfileIds"),
    ]:
        assert_error(client.post(path, headers=headers, json=body), 400, "pointer", pointer)
    not_json = client.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert not_json.status_code == 400 and not_json.json()["StatusCode"] == 400
    profile_program = client.post("/v1/loyalty_programs/1/cards", headers=headers, json={})
    assert_error(profile_program, 400, "parameter", "loyaltyProgramId")
    assert client.post("/v1/loyalty_programs/77/cards", headers=headers, json={}).status_code == 404


def test_link_card_to_profiles_up_to_the_limit(client, headers) -> None:
    path = "/v2/loyalty_programs/2/cards/CARD-0001/link_profile"
    linked = client.post(path, headers=headers, json={"integrationId": "cid"})
    assert linked.status_code == 200, linked.text
    assert [p["integrationId"] for p in linked.json()["profiles"]] == ["ann", "cid"]
    assert linked.json()["ledger"]["currentBalance"] == 40
    assert_error(
        client.post(path, headers=headers, json={"integrationId": "cid"}),
        400,
        "pointer",
        "/integrationId",
    )
    assert_error(
        client.post(path, headers=headers, json={"integrationId": "dee"}),
        400,
        "pointer",
        "/integrationId",
    )
    assert_error(client.post(path, headers=headers, json={}), 400, "pointer", "/integrationId")
    unknown = client.post(
        "/v2/loyalty_programs/2/cards/CARD-7777/link_profile",
        headers=headers,
        json={"integrationId": "x"},
    )
    assert_error(unknown, 404, "parameter", "loyaltyCardId")


def test_card_points_and_transactions(client, headers) -> None:
    points = get(client, headers, "/v1/loyalty_programs/2/cards/CARD-0001/points").json()
    assert [p["amount"] for p in points["data"]] == [40]
    txs = get(client, headers, "/v1/loyalty_programs/2/cards/CARD-0001/transactions").json()
    assert txs["data"][0]["cardIdentifier"] == "CARD-0001"
    assert txs["data"][0]["type"] == "addition" and "flags" not in txs["data"][0]
    sub = get(client, headers, "/v1/loyalty_programs/2/cards/CARD-0001/balances", subledgerId="x")
    assert sub.json()["subledgerBalances"] == {
        "x": {
            "activePoints": 0,
            "pendingPoints": 0,
            "spentPoints": 0,
            "expiredPoints": 0,
            "negativePoints": 0,
        }
    }


def test_fixtures_export_reproduces_the_ledger(client, tenant, headers, new_tenant) -> None:
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures")
    assert exported.status_code == 200
    document = exported.json()
    copy = new_tenant(document)
    copy_headers = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}
    assert get(client, copy_headers, BALANCES).json() == get(client, headers, BALANCES).json()


def test_bad_fixtures_are_refused_with_their_path(client) -> None:
    bad = {"talonone": {"loyaltyPrograms": [{"id": 1, "name": "x", "defaultValidity": "forever"}]}}
    response = client.post("/__admin/tenants", json={"fixtures": bad})
    assert response.status_code in (400, 422)
    assert "loyaltyPrograms" in response.text


def test_points_awaiting_activation(client, new_tenant) -> None:
    fixtures = {
        "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
        "talonone": {
            "loyaltyPrograms": [
                {
                    "id": 5,
                    "name": "on action",
                    "defaultPending": "on_action",
                    "defaultValidity": "30D",
                    "transactions": [
                        {"profileId": "oa", "amount": 12},
                        {"profileId": "oa", "amount": 3, "startDate": "immediate"},
                    ],
                }
            ]
        },
    }
    tenant = new_tenant(fixtures)
    key = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    base = "/v1/loyalty_programs/5/profile/oa"
    waiting = get(client, key, f"{base}/transactions", awaitsActivation="true").json()["data"]
    assert [(t["amount"], t["startDate"], t["validityDuration"]) for t in waiting] == [
        (12, "on_action", "30D")
    ]
    assert len(get(client, key, f"{base}/transactions").json()["data"]) == 2
    pending = get(client, key, f"{base}/points", status="pending").json()["data"]
    assert [(p["amount"], p["startDate"]) for p in pending] == [(12, "on_action")]
    balances = get(client, key, f"{base}/balances").json()["balance"]
    assert (balances["activePoints"], balances["pendingPoints"]) == (3, 12)


def test_export_keeps_negative_balances_and_rolled_back_points(client, new_tenant) -> None:
    fixtures = {
        "clock": {"now": "2030-01-01T12:00:00Z", "frozen": True},
        "talonone": {
            "loyaltyPrograms": [
                {
                    "id": 6,
                    "name": "negative",
                    "allowNegativeBalance": True,
                    "transactions": [
                        {"profileId": "neg", "amount": 10},
                        {"profileId": "neg", "amount": 25, "type": "subtraction"},
                        {"profileId": "neg", "amount": 8, "startDate": "2030-02-01T00:00:00Z"},
                    ],
                }
            ]
        },
    }
    tenant = new_tenant(fixtures)
    key = {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}
    path = "/v1/loyalty_programs/6/profile/neg/balances"
    before = get(client, key, path).json()
    assert before["balance"]["negativePoints"] == 15 and before["balance"]["pendingPoints"] == 8
    document = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    assert document["talonone"]["loyaltyPrograms"][0]["debts"] == [
        {"profileId": "neg", "subledgerId": "", "amount": 15}
    ]
    copy = new_tenant(document)
    copy_key = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}
    assert get(client, copy_key, path).json() == before
    later = get(client, copy_key, path, endDate="2030-03-01T00:00:00Z").json()["balance"]
    assert (later["activePoints"], later["negativePoints"]) == (0, 7)
