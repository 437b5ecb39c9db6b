"""GET /customers/{id|email|phone|crmId}, /customerattributes, /customerconsents."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.ecdp.helpers import KEY, customer, errors, get, problem

DOCUMENTED_FIELDS = {
    "email",
    "phone",
    "crmId",
    "firstName",
    "lastName",
    "dateOfBirth",
    "gender",
    "rfmSegment",
    "totalSpent",
    "totalOrders",
    "totalOrderReturns",
    "avgOrder",
    "avgPricePoint",
    "lastOrder",
    "avgTimeBetweenOrdersInDays",
    "currencySymbol",
    "customAttributes",
    "consentsData",
}


def test_lookup_by_id_returns_documented_shape_with_fixture_figures(client: TestClient) -> None:
    response = get(client, "id", 1)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == 0
    data = body["data"]
    assert set(data) >= DOCUMENTED_FIELDS
    assert data["id"] == 1
    assert data["guid"] == "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
    assert data["email"] == "adam@example.com"
    assert data["dateOfBirth"] == "1985-04-12T00:00:00Z"
    assert data["gender"] == "Male"
    assert data["rfmSegment"] == "Champions"
    assert data["totalSpent"] == 1249.5
    assert data["totalOrders"] == 7 and isinstance(data["totalOrders"], int)
    assert data["totalOrderReturns"] == 1
    assert data["avgOrder"] == 178.5
    assert data["lastOrder"] == "2026-10-30T14:05:00Z"
    assert data["currencySymbol"] == "€"
    assert data["customAttributes"] == [
        {"name": "loyaltyTier", "value": "Gold"},
        {"name": "vip", "value": "true"},
    ]
    assert data["consentsData"] == {
        "consents": [{"id": 1, "value": "True"}, {"id": 2, "value": "False"}]
    }


def test_customer_without_figures_reads_zero_and_null(client: TestClient) -> None:
    data = customer(client, "id", 3)
    assert data["totalSpent"] == 0 and data["totalOrders"] == 0 and data["avgOrder"] == 0
    assert data["rfmSegment"] is None and data["lastOrder"] is None
    assert data["currencySymbol"] is None
    assert data["customAttributes"] == []
    assert data["consentsData"] == {"consents": []}


def test_email_lookup_is_case_insensitive_and_url_encoded(client: TestClient) -> None:
    assert customer(client, "email", "ADAM@Example.COM")["id"] == 1
    assert customer(client, "email", quote("adam@example.com"))["id"] == 1


def test_phone_lookup_ignores_spaces(client: TestClient) -> None:
    assert customer(client, "phone", "48123456789")["id"] == 1
    assert customer(client, "phone", "48 123 456 789")["id"] == 1
    assert customer(client, "phone", quote("+44 7700 900123"))["id"] == 3


def test_crm_id_lookup(client: TestClient) -> None:
    assert customer(client, "crmId", "CRM-0002")["email"] == "eve@example.com"


def test_unknown_customers_are_404_problems(client: TestClient) -> None:
    for kind, value in (
        ("id", 999),
        ("email", "nobody@example.com"),
        ("phone", "1"),
        ("crmId", "x"),
    ):
        body = problem(get(client, kind, value), 404)
        assert body["title"] == "Not Found"
        assert body["instance"] == f"/customers/{kind}/{value}"


def test_non_numeric_id_is_a_400_naming_the_id(client: TestClient) -> None:
    assert list(errors(get(client, "id", "abc"))) == ["id"]
    problem(get(client, "id", "99999999999999999999999"), 404)
    problem(get(client, "id", "9999999999"), 404)  # beyond int32: still a plain miss


def test_missing_or_wrong_key_is_401_even_for_existing_customers(client: TestClient) -> None:
    for headers in ({}, {"x-api-key": "nope"}):
        for kind, value in (("id", 1), ("email", "adam@example.com"), ("id", "abc")):
            body = problem(client.get(f"/customers/{kind}/{value}", headers=headers), 401)
            assert "x-api-key" in body["detail"]
        problem(client.get("/customerattributes", headers=headers), 401)
        problem(client.get("/customerconsents", headers=headers), 401)
        problem(client.post("/customers", headers=headers, json={}), 401)


def test_customers_of_another_tenant_are_invisible(client: TestClient, new_tenant) -> None:
    other = new_tenant("empty")
    other_key = {"x-api-key": other["credentials"]["ecdp"]["api_key"]}
    problem(get(client, "email", "adam@example.com", headers=other_key), 404)
    assert client.get("/customerattributes", headers=other_key).json() == {"status": 0, "data": []}
    assert client.get("/customerconsents", headers=other_key).json() == {"status": 0, "data": []}


def test_attribute_and_consent_definitions(client: TestClient) -> None:
    attributes = client.get("/customerattributes", headers=KEY)
    assert attributes.status_code == 200
    body = attributes.json()
    assert body["status"] == 0
    assert body["data"][0] == {"id": 1, "name": "loyaltyTier", "type": "SingleSelect"}
    assert {a["type"] for a in body["data"]} == {
        "String",
        "Text",
        "Number",
        "Money",
        "Date",
        "DateTime",
        "SingleSelect",
        "Boolean",
        "Url",
    }
    consents = client.get("/customerconsents", headers=KEY).json()
    assert consents["data"] == [
        {"id": 1, "name": "Newsletter subscription", "type": "Email"},
        {"id": 2, "name": "SMS marketing", "type": "Sms"},
        {"id": 3, "name": "Profiling", "type": "General"},
    ]


def test_lookups_are_journaled_with_operation_and_tenant(client: TestClient) -> None:
    get(client, "email", "adam@example.com")
    entries = client.get("/__admin/requests", params={"api": "ecdp"}).json()
    entry = next(e for e in entries["requests"] if e["path"] == "/customers/email/adam@example.com")
    assert entry["operation"] == "GetCustomerByEmail"
    assert entry["tenant"] == "default"


def test_a_miss_is_journaled_with_its_tenant_and_a_wrong_key_without(client: TestClient) -> None:
    problem(get(client, "email", "nobody@example.com"), 404)
    problem(get(client, "email", "nobody@example.com", headers={"x-api-key": "nope"}), 401)
    entries = client.get("/__admin/requests", params={"api": "ecdp"}).json()["requests"]
    by_status = {e["status"]: e for e in entries if e["path"].endswith("/nobody@example.com")}
    assert by_status[404]["operation"] == "GetCustomerByEmail"
    assert by_status[404]["tenant"] == "default"
    assert by_status[401]["tenant"] is None
