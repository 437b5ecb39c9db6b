"""The `ecdp:` fixture section: loading, refusal with a path, export round trip, reset."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from simulator.core import fixtures
from tests.ecdp.helpers import customer, post, problem


def key_of(tenant: dict) -> dict:
    return {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}


def refused(client: TestClient, section: dict) -> dict:
    response = client.post("/__admin/tenants", json={"fixtures": {"ecdp": section}})
    assert response.status_code == 400, response.text
    return response.json()


def test_inline_fixtures_define_a_tenant(client: TestClient, new_tenant) -> None:
    tenant = new_tenant(
        {
            "ecdp": {
                "attributes": [{"id": 10, "name": "city", "type": "String"}],
                "consents": [{"id": 5, "name": "Mail", "type": "Email"}],
                "customers": [
                    {
                        "email": "Ann@Example.com",
                        "customAttributes": [{"name": "city", "value": "Oslo"}],
                        "consents": [{"id": 5, "value": "True"}],
                        "totalOrders": 3,
                        "totalSpent": 30.25,
                    }
                ],
            }
        }
    )
    data = customer(client, "email", "ann@example.com", headers=key_of(tenant))
    assert data["id"] == 1
    assert data["customAttributes"] == [{"name": "city", "value": "Oslo"}]
    assert data["totalOrders"] == 3 and data["totalSpent"] == 30.25
    response = post(client, "Add", "Email", {"email": "b@example.com"}, headers=key_of(tenant))
    assert response.status_code == 201
    assert customer(client, "email", "b@example.com", headers=key_of(tenant))["id"] == 2


def test_bad_fixture_documents_are_refused_with_their_path(client: TestClient) -> None:
    body = refused(client, {"attributes": [{"id": 1, "name": "x", "type": "Colour"}]})
    assert body["path"].startswith("ecdp.attributes[0].type")
    body = refused(
        client,
        {
            "customers": [
                {"email": "a@example.com", "customAttributes": [{"name": "nope", "value": "1"}]}
            ]
        },
    )
    assert body["path"] == "ecdp.customers[0].customAttributes[0].name"
    body = refused(client, {"customers": [{"email": "bad"}]})
    assert body["path"] == "ecdp.customers[0].email"
    body = refused(client, {"customers": [{"email": "a@example.com"}, {"email": "A@example.com"}]})
    assert body["path"] == "ecdp.customers[1].email"
    body = refused(
        client, {"customers": [{"id": 1, "email": "a@x.com"}, {"id": 1, "email": "b@x.com"}]}
    )
    assert body["path"] == "ecdp.customers[1].id"
    body = refused(client, {"customers": [{"firstName": "nobody"}]})
    assert body["path"].startswith("ecdp.customers[0]")
    body = refused(client, {"defaultIdentificationField": "Name"})
    assert body["path"].startswith("ecdp.defaultIdentificationField")
    body = refused(client, {"customers": [{"id": 2**31, "email": "a@x.com"}]})
    assert body["path"] == "ecdp.customers[0].id"
    body = refused(client, {"unknown": 1})
    assert body["path"] == "ecdp.unknown"


def test_export_reproduces_the_state_in_a_new_tenant(client: TestClient, new_tenant) -> None:
    item = {
        "email": "exp@example.com",
        "dateOfBirth": "2000-01-01T08:00:00Z",
        "customAttributes": [{"name": "shoeSize", "value": "44"}],
        "consentsData": {"consents": [{"id": 1, "value": "AwaitingConfirmation"}]},
    }
    assert post(client, "Add", "Email", item).status_code == 201
    document = client.get("/__admin/tenants/default/fixtures").json()
    copy = new_tenant(document)
    for kind, value in (("email", "exp@example.com"), ("id", 1), ("id", 2), ("id", 3)):
        original = customer(client, kind, value)
        assert customer(client, kind, value, headers=key_of(copy)) == original
    sent = client.get(f"/__admin/tenants/{copy['id']}/ecdp/confirmations").json()
    assert [m["consentIds"] for m in sent["confirmations"]] == [[1]]
    assert (
        post(
            client, "Add", "Email", {"email": "next@example.com"}, headers=key_of(copy)
        ).status_code
        == 201
    )
    assert customer(client, "email", "next@example.com", headers=key_of(copy))["id"] == 5


def test_reset_restores_the_fixture_customers(client: TestClient) -> None:
    post(client, "Update", "Email", {"email": "adam@example.com", "firstName": "Changed"})
    post(client, "Add", "Email", {"email": "gone@example.com"})
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    assert customer(client, "id", 1)["firstName"] == "Adam"
    problem(
        client.get("/customers/email/gone@example.com", headers={"x-api-key": "ecdp-sandbox-key"}),
        404,
    )


def test_deleting_a_tenant_removes_its_customers(client: TestClient, new_tenant) -> None:
    tenant = new_tenant()
    assert customer(client, "id", 1, headers=key_of(tenant))["email"] == "adam@example.com"
    assert client.delete(f"/__admin/tenants/{tenant['id']}").status_code == 204
    assert client.get("/customers/id/1", headers=key_of(tenant)).status_code == 401
    assert customer(client, "id", 1)["email"] == "adam@example.com"


def test_a_yaml_infinity_in_figures_is_refused() -> None:
    document = fixtures.parse_document(
        "ecdp:\n  customers:\n    - {email: a@x.com, totalSpent: .inf}\n", "inline.yaml"
    )
    with pytest.raises(fixtures.FixtureError) as refused:
        fixtures.validate(document, "inline.yaml")
    assert refused.value.path == "ecdp.customers[0].totalSpent"
