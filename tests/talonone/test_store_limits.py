"""Issue 19 items 3, 4, 5 and 7 on Talon.One: numbers beyond the store's columns, NUL, amounts
that overflow, carts past the documented size. Each answer is Talon.One's own 4xx, alike on
SQLite and PostgreSQL, and nothing of a refused request is stored."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]
BEYOND = ("2147483648", "9223372036854775808", "-2147483649")  # PostgreSQL int4, int8
PROGRAM_PATHS = (
    ("GET", "/v1/loyalty_programs/{}/profile/loyalty-demo-1/balances"),
    ("GET", "/v1/loyalty_programs/{}/profile/loyalty-demo-1/points"),
    ("GET", "/v1/loyalty_programs/{}/profile/loyalty-demo-1/transactions"),
    ("GET", "/v1/loyalty_programs/{}/cards/CARD-0001/balances"),
    ("GET", "/v1/loyalty_programs/{}/cards/CARD-0001/points"),
    ("GET", "/v1/loyalty_programs/{}/cards/CARD-0001/transactions"),
    ("POST", "/v1/loyalty_programs/{}/cards"),
    ("POST", "/v2/loyalty_programs/{}/cards/CARD-0002/link_profile"),
)


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["StatusCode"] == status and body["message"]
    return body["errors"][0]


def session(client: TestClient, session_id: str, **fields: Any) -> Any:
    body = {"customerSession": {"profileId": "customer-1", **fields}}
    return client.put(f"/v2/customer_sessions/{session_id}", json=body, headers=AUTH)


@pytest.mark.parametrize("program", BEYOND)
@pytest.mark.parametrize(("method", "path"), PROGRAM_PATHS)
def test_program_ids_beyond_the_store_are_unknown(
    client: TestClient, method: str, path: str, program: str
) -> None:
    body = {"integrationId": "customer-1"} if method == "POST" else None
    response = client.request(method, path.format(program), json=body, headers=AUTH)
    assert error(response, 404)["source"] == {"parameter": "loyaltyProgramId"}


def test_catalog_and_audience_ids_beyond_the_store_are_unknown(client: TestClient) -> None:
    for beyond in BEYOND:
        actions = {"actions": [{"type": "ADD", "payload": {"sku": "S", "price": 1}}]}
        sync = client.put(f"/v1/catalogs/{beyond.lstrip('-')}/sync", json=actions, headers=AUTH)
        assert error(sync, 404)["source"] == {"parameter": "catalogId"}
        for method in ("PUT", "DELETE"):
            response = client.request(
                method, f"/v2/audiences/{beyond}", json={"name": "x"}, headers=AUTH
            )
            assert error(response, 404)["source"] == {"parameter": "audienceId"}


def test_paging_beyond_64_bits_is_a_400(client: TestClient) -> None:
    path = "/v1/loyalty_programs/1/profile/loyalty-demo-1/points"
    for skip in ("9223372036854775808", "1e3", "²"):
        response = client.get(path, params={"skip": skip}, headers=AUTH)
        assert error(response, 400)["source"] == {"parameter": "skip"}
    assert client.get(path, params={"skip": 2**63 - 1}, headers=AUTH).status_code == 200


def test_nul_in_a_session_id_or_body_is_a_400_and_stores_nothing(client: TestClient) -> None:
    assert client.get("/v2/customer_sessions/a%00b", headers=AUTH).status_code == 400
    assert client.put("/v2/customer_sessions/a%00b", json={}, headers=AUTH).status_code == 400
    nul_sku = b'{"customerSession": {"cartItems": [{"sku": "A\\u0000", "quantity": 1}]}}'
    response = client.put("/v2/customer_sessions/nul-1", content=nul_sku, headers=AUTH)
    assert error(response, 400)["source"] == {"pointer": "/customerSession/cartItems/0/sku"}
    lone = b'{"customerSession": {"attributes": {"\\ud800": 1}}}'
    response = client.put("/v2/customer_sessions/nul-1", content=lone, headers=AUTH)
    assert error(response, 400)["source"] == {"pointer": "/customerSession/attributes/\\ud800"}
    assert client.get("/v2/customer_sessions/nul-1", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("item", "pointer"),
    [
        ({"sku": "X", "quantity": 1, "price": 1.7e308}, "/customerSession/cartItems/0/price"),
        ({"sku": "X", "quantity": 10, "price": 1e308}, "/customerSession/cartItems/0/price"),
        ({"sku": "X", "quantity": 1, "price": 1e15 + 1}, "/customerSession/cartItems/0/price"),
        (
            {"sku": "X", "quantity": 1, "additionalCosts": {"wrap": {"price": 1e300}}},
            "/customerSession/cartItems/0/additionalCosts/wrap/price",
        ),
    ],
)
def test_overflowing_amounts_are_refused(client: TestClient, item: dict, pointer: str) -> None:
    response = session(client, "big-1", state="closed", cartItems=[item])
    assert error(response, 400)["source"] == {"pointer": pointer}
    assert client.get("/v2/customer_sessions/big-1", headers=AUTH).status_code == 404


def test_points_beyond_the_range_are_refused_never_posted(client: TestClient) -> None:
    before = balances(client, "customer-1")
    # 1 point per EUR (campaign 3): 2 × 1e15 earns 2e15 points, beyond the range.
    item = {"sku": "X", "quantity": 2, "price": 1e15}
    response = session(client, "big-2", state="closed", cartItems=[item])
    assert error(response, 400)["source"] == {"pointer": "/customerSession/cartItems"}
    assert balances(client, "customer-1") == before
    assert client.get("/v2/customer_sessions/big-2", headers=AUTH).status_code == 404


def balances(client: TestClient, profile: str) -> dict:
    path = f"/v1/loyalty_programs/1/profile/{profile}/balances"
    response = client.get(path, headers=AUTH)
    return response.json() if response.status_code == 200 else {"status": response.status_code}


def test_number_attributes_beyond_the_range_are_refused(client: TestClient) -> None:
    body = {"attributes": {"Age": 1e16}}
    response = client.put("/v2/customer_profiles/customer-2", json=body, headers=AUTH)
    assert error(response, 400)["source"] == {"pointer": "/attributes/Age"}
    event = {"profileId": "customer-1", "type": "review_submitted", "attributes": {"Rating": 1e300}}
    response = client.post("/v2/events", json=event, headers=AUTH)
    assert error(response, 400)["source"] == {"pointer": "/attributes/Rating"}


def test_admin_manual_points_beyond_the_range_leave_the_balances_readable(
    client: TestClient,
) -> None:
    before = balances(client, "loyalty-demo-1")
    points = "/__admin/tenants/default/talonone/loyalty/programs/1/points"
    for raw in (b"Infinity", b"1.7e308", b"1.7e308", b"NaN", b"1e16"):
        body = b'{"profileId": "loyalty-demo-1", "amount": ' + raw + b"}"
        response = client.post(points, content=body)
        assert response.status_code == 400, (raw, response.text)
    assert balances(client, "loyalty-demo-1") == before
    ok = client.post(points, json={"profileId": "loyalty-demo-1", "amount": 1e15})
    assert ok.status_code == 200, ok.text


def test_carts_past_the_documented_size_are_refused(client: TestClient) -> None:
    items = [{"sku": f"SKU-{i}", "quantity": 1} for i in range(1001)]
    response = session(client, "cart-1", cartItems=items)
    assert error(response, 400)["source"] == {"pointer": "/customerSession/cartItems"}
    items = [{"sku": "SKU-A", "quantity": 5000}, {"sku": "SKU-B", "quantity": 5001}]
    response = session(client, "cart-1", cartItems=items)
    assert error(response, 400)["source"] == {"pointer": "/customerSession/cartItems"}
    response = session(client, "cart-1", cartItems=[{"sku": "SKU-A", "quantity": 10_001}])
    assert error(response, 400)["source"] == {"pointer": "/customerSession/cartItems/0/quantity"}
    assert client.get("/v2/customer_sessions/cart-1", headers=AUTH).status_code == 404


def test_a_cart_of_1000_distinct_skus_is_served(client: TestClient) -> None:
    """The catalog lookup of 1,000 SKUs (one IN list) works on PostgreSQL too."""
    items = [{"sku": f"SKU-{i}", "quantity": 10, "price": 1} for i in range(1000)]
    response = session(client, "cart-2", state="closed", cartItems=items)
    assert response.status_code == 200, response.text
    stored = client.get("/v2/customer_sessions/cart-2", headers=AUTH).json()
    assert len(stored["customerSession"]["cartItems"]) == 1000
    assert stored["customerSession"]["cartItemTotal"] == 10_000


def test_lists_from_a_request_never_overflow_a_statement(client: TestClient) -> None:
    """IN lists built from a request: chunked, or capped with a 400 (PostgreSQL takes at most
    65,535 parameters a statement)."""
    changes = {"adds": list(range(100, 70_100)), "deletes": []}
    response = client.put(
        "/v2/customer_profiles/customer-1", json={"audiencesChanges": changes}, headers=AUTH
    )
    assert error(response, 404)["source"] == {"pointer": "/audiencesChanges"}
    path = "/v1/loyalty_programs/1/profile/loyalty-demo-1/transactions"
    many = [("customerSessionIDs", f"s{i}") for i in range(1001)]
    response = client.get(path, params=many, headers=AUTH)
    assert error(response, 400)["source"] == {"parameter": "customerSessionIDs"}
    assert client.get(path, params=many[:1000], headers=AUTH).status_code == 200


def test_text_longer_than_its_column_is_a_400(client: TestClient) -> None:
    """PostgreSQL enforces the columns' lengths (SQLite does not): both answer alike."""
    long = "x" * 1001
    cards = client.post(
        "/v1/loyalty_programs/3/cards", json={"customerProfileIds": [long]}, headers=AUTH
    )
    assert error(cards, 400)["source"] == {"pointer": "/customerProfileIds"}
    actions = {"actions": [{"type": "ADD", "payload": {"sku": long, "price": 1}}]}
    sync = client.put("/v1/catalogs/1/sync", json=actions, headers=AUTH)
    assert error(sync, 400)["source"] == {"pointer": "/actions/0/payload/sku"}
    points = "/__admin/tenants/default/talonone/loyalty/programs/1/points"
    for entry in ({"profileId": long, "amount": 1}, {"profileId": "p", "name": long, "amount": 1}):
        assert client.post(points, json=entry).status_code == 400
