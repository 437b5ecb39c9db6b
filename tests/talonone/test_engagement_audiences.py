"""Audiences: create (duplicate integration IDs), rename, delete, memberships in bulk,
attributes of every member, and membership as the rule engine and the profile see it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from simulator.core.db import new_session
from simulator.talonone.service import audiences
from tests.conftest import DEFAULT_CREDENTIALS

HEADERS = DEFAULT_CREDENTIALS["talonone"]


def create(client: TestClient, **body) -> dict:
    response = client.post("/v2/audiences", json={"name": "Travellers", **body}, headers=HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_from_scratch(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True}
    )
    body = create(client, description="18-27")
    assert isinstance(body["id"], int) and isinstance(body["accountId"], int)
    assert body["name"] == "Travellers"
    assert body["description"] == "18-27"
    assert body["created"] == "2030-01-01T00:00:00Z"
    assert "integrationId" not in body


def test_create_from_a_third_party_and_duplicate_is_409(client: TestClient) -> None:
    first = create(
        client,
        integration="mparticle",
        integrationId="382370BKDB946",
        createdIn3rdParty=True,
        lastUpdate="2022-04-26T11:02:38Z",
    )
    assert first["integration"] == "mparticle"
    assert first["integrationId"] == "382370BKDB946"
    assert first["createdIn3rdParty"] is True
    assert first["lastUpdate"] == "2022-04-26T11:02:38Z"
    again = client.post(
        "/v2/audiences",
        json={"name": "Other", "integration": "mparticle", "integrationId": "382370BKDB946"},
        headers=HEADERS,
    )
    assert again.status_code == 409
    assert again.json()["message"] == "An Audience with this ID already exists for this integration"
    assert again.json()["StatusCode"] == 409
    # The same ID from another platform is another audience.
    other = create(client, integration="segment", integrationId="382370BKDB946")
    assert other["id"] != first["id"]


def test_ids_increase(client: TestClient) -> None:
    assert create(client)["id"] + 1 == create(client)["id"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/name"),
        ({"name": ""}, "/name"),
        ({"name": 3}, "/name"),
        ({"name": "a", "integrationId": ""}, "/integrationId"),
        ({"name": "a", "sandbox": "yes"}, "/sandbox"),
    ],
)
def test_create_refuses_bad_bodies(client: TestClient, body: dict, pointer: str) -> None:
    response = client.post("/v2/audiences", json=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


def test_rename(client: TestClient) -> None:
    audience = create(client)
    response = client.put(
        f"/v2/audiences/{audience['id']}", json={"name": "Nomads"}, headers=HEADERS
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Nomads"
    assert response.json()["id"] == audience["id"]
    assert response.json()["created"] == audience["created"]
    bad = client.put(f"/v2/audiences/{audience['id']}", json={"name": ""}, headers=HEADERS)
    assert bad.status_code == 400


def test_unknown_audience_is_404_everywhere(client: TestClient) -> None:
    calls = [
        ("PUT", "/v2/audiences/999", {"name": "x"}),
        ("DELETE", "/v2/audiences/999", None),
        ("DELETE", "/v2/audiences/999/memberships", None),
        ("PUT", "/v2/audience_customers/999/attributes", {"a": 1}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=HEADERS)
        assert response.status_code == 404, (method, path)
        assert response.json()["StatusCode"] == 404


@pytest.mark.parametrize("audience_id", ["abc", "1_0", "1.0", "%201"])
def test_non_numeric_audience_id_is_400(client: TestClient, audience_id: str) -> None:
    response = client.delete(f"/v2/audiences/{audience_id}", headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "audienceId"}


def test_delete(client: TestClient) -> None:
    audience = create(client)
    assert client.delete(f"/v2/audiences/{audience['id']}", headers=HEADERS).status_code == 204
    assert client.delete(f"/v2/audiences/{audience['id']}", headers=HEADERS).status_code == 404


def test_customer_audiences_refuses_bad_input(client: TestClient) -> None:
    audience = create(client)
    cases = [
        (
            {"data": [{"action": "join", "profileIntegrationId": "p", "audienceId": 1}]},
            "/data/0/action",
        ),
        (
            {"data": [{"action": "add", "audienceId": audience["id"]}]},
            "/data/0/profileIntegrationId",
        ),
        (
            {"data": [{"action": "add", "profileIntegrationId": "p", "audienceId": "1"}]},
            "/data/0/audienceId",
        ),
        ({"data": "all"}, "/data"),
    ]
    for body, pointer in cases:
        response = client.post("/v2/customer_audiences", json=body, headers=HEADERS)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["source"] == {"pointer": pointer}
    too_many = {
        "data": [
            {"action": "add", "profileIntegrationId": f"p{i}", "audienceId": audience["id"]}
            for i in range(1001)
        ]
    }
    assert client.post("/v2/customer_audiences", json=too_many, headers=HEADERS).status_code == 400


def test_customer_audiences_with_an_unknown_audience_writes_nothing(client: TestClient) -> None:
    audience = create(client)
    body = {
        "data": [
            {"action": "add", "profileIntegrationId": "p1", "audienceId": audience["id"]},
            {"action": "add", "profileIntegrationId": "p1", "audienceId": 999},
        ]
    }
    response = client.post("/v2/customer_audiences", json=body, headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/1/audienceId"}
    with new_session(client.app.state.engine) as session:
        assert audiences.profile_audience_ids(session, "default", "p1") == set()


def test_attributes_body_must_be_an_object(client: TestClient) -> None:
    audience = create(client)
    response = client.put(
        f"/v2/audience_customers/{audience['id']}/attributes", json=[1], headers=HEADERS
    )
    assert response.status_code == 400
