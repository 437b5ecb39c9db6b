"""POST /customers: modes, matching, attributes, consents, atomic batches."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from simulator.ecdp import routes
from simulator.ecdp.service import upsert
from tests.ecdp.helpers import KEY, customer, errors, get, post, problem

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_add_creates_a_customer_with_numeric_id_and_guid(client: TestClient) -> None:
    response = post(
        client,
        "Add",
        "Email",
        {
            "email": "new@example.com",
            "phone": "+48500600700",
            "crmId": "CRM-9",
            "visitorId": "v-123",
            "firstName": "Nina",
            "lastName": "Nowa",
            "dateOfBirth": "1990-02-03T04:05:06.789Z",
            "gender": "Female",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": 0, "data": {"added": 1, "updated": 0}}
    data = customer(client, "email", "new@example.com")
    assert data["id"] == 4  # after the three fixture customers
    assert GUID.match(data["guid"])
    assert data["guid"] != customer(client, "id", 2)["guid"]
    assert data["phone"] == "+48500600700" and data["crmId"] == "CRM-9"
    assert data["visitorId"] == "v-123"
    assert data["firstName"] == "Nina" and data["lastName"] == "Nowa"
    assert data["dateOfBirth"] == "1990-02-03T04:05:06.789Z"
    assert data["gender"] == "Female"
    assert data["totalSpent"] == 0 and data["rfmSegment"] is None
    assert customer(client, "crmId", "CRM-9")["id"] == 4
    assert customer(client, "phone", "+48500600700")["id"] == 4


def test_ids_are_sequential_and_guids_repeat_after_reset(client: TestClient) -> None:
    post(client, "Add", "Email", {"email": "a@example.com"}, {"email": "b@example.com"})
    first = customer(client, "email", "b@example.com")
    assert first["id"] == 5
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    problem(get(client, "email", "a@example.com"), 404)
    post(client, "Add", "Email", {"email": "a@example.com"}, {"email": "b@example.com"})
    assert customer(client, "email", "b@example.com") == first


def test_update_changes_given_fields_and_keeps_the_rest(client: TestClient) -> None:
    response = post(client, "Update", "Email", {"email": "adam@example.com", "lastName": "Kowal"})
    assert response.status_code == 201
    assert response.json()["data"] == {"added": 0, "updated": 1}
    data = customer(client, "id", 1)
    assert data["lastName"] == "Kowal"
    assert data["firstName"] == "Adam"
    assert data["totalSpent"] == 1249.5  # figures are not touched by the API
    assert data["customAttributes"][0] == {"name": "loyaltyTier", "value": "Gold"}


def test_add_of_existing_customer_is_refused_and_writes_nothing(client: TestClient) -> None:
    response = post(
        client, "Add", "Email", {"email": "fresh@example.com"}, {"email": "ADAM@example.com"}
    )
    found = errors(response)
    assert list(found) == ["data[1].email"]
    assert "already exists" in found["data[1].email"][0]
    problem(get(client, "email", "fresh@example.com"), 404)


def test_update_of_missing_customer_is_refused(client: TestClient) -> None:
    response = post(
        client,
        "Update",
        "Email",
        {"email": "adam@example.com", "firstName": "Changed"},
        {"email": "ghost@example.com"},
    )
    assert list(errors(response)) == ["data[1].email"]
    assert customer(client, "id", 1)["firstName"] == "Adam"


def test_add_or_update_mixes_new_and_existing(client: TestClient) -> None:
    response = post(
        client,
        "AddOrUpdate",
        "Email",
        {"email": "eve@example.com", "firstName": "Ewa"},
        {"email": "zed@example.com", "firstName": "Zed"},
    )
    assert response.status_code == 201
    assert response.json()["data"] == {"added": 1, "updated": 1}
    assert customer(client, "id", 2)["firstName"] == "Ewa"
    assert customer(client, "email", "zed@example.com")["firstName"] == "Zed"


def test_same_customer_twice_in_one_batch(client: TestClient) -> None:
    response = post(
        client,
        "AddOrUpdate",
        "Email",
        {"email": "twice@example.com", "firstName": "One"},
        {"email": "TWICE@example.com", "lastName": "Two"},
    )
    assert response.json()["data"] == {"added": 1, "updated": 0}
    data = customer(client, "email", "twice@example.com")
    assert (data["firstName"], data["lastName"], data["email"]) == (
        "One",
        "Two",
        "TWICE@example.com",
    )
    response = post(
        client, "Add", "Email", {"email": "x1@example.com"}, {"email": "x1@example.com"}
    )
    assert list(errors(response)) == ["data[1].email"]
    problem(get(client, "email", "x1@example.com"), 404)


def test_match_by_phone_crm_id_and_visitor_id(client: TestClient) -> None:
    assert (
        post(
            client, "Update", "PhoneNumber", {"phone": "+447700900123", "lastName": "B"}
        ).status_code
        == 201
    )
    assert customer(client, "id", 3)["lastName"] == "B"
    assert (
        post(client, "Update", "CrmId", {"crmId": "CRM-0002", "lastName": "K"}).status_code == 201
    )
    assert customer(client, "id", 2)["lastName"] == "K"
    assert post(client, "AddOrUpdate", "VisitorId", {"visitorId": "vis-1"}).status_code == 201
    assert (
        post(client, "Update", "VisitorId", {"visitorId": "vis-1", "crmId": "C-V"}).status_code
        == 201
    )
    assert customer(client, "crmId", "C-V")["visitorId"] == "vis-1"
    found = errors(post(client, "Update", "PhoneNumber", {"email": "adam@example.com"}))
    assert list(found) == ["data[0].phone"]


def test_match_by_guid_updates_known_customers_only(client: TestClient) -> None:
    guid = customer(client, "id", 2)["guid"]
    response = post(client, "Update", "GUID", {"guid": guid.upper(), "firstName": "G"})
    assert response.status_code == 201, response.text
    assert customer(client, "id", 2)["firstName"] == "G"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert list(errors(post(client, "AddOrUpdate", "GUID", {"guid": unknown}))) == ["data[0].guid"]


def test_an_identifier_belongs_to_one_customer(client: TestClient) -> None:
    found = errors(
        post(client, "Update", "Email", {"email": "adam@example.com", "crmId": "CRM-0002"})
    )
    assert list(found) == ["data[0].crmId"]
    found = errors(
        post(client, "Update", "CrmId", {"crmId": "CRM-0002", "email": "Adam@Example.com"})
    )
    assert list(found) == ["data[0].email"]
    assert customer(client, "id", 1)["crmId"] == "CRM-0001"


def test_case_variants_of_public_clients_are_accepted(client: TestClient) -> None:
    body = {
        "Mode": "addorupdate",
        "MatchBy": "email",
        "Data": [
            {
                "Email": "case@example.com",
                "FirstName": "Cas",
                "Gender": "notspecified",
                "CustomAttributes": [{"Name": "LOYALTYTIER", "Value": "silver"}],
                "ConsentsData": {"Consents": [{"Id": 3, "Value": "true"}]},
            }
        ],
    }
    assert client.post("/customers", json=body, headers=KEY).status_code == 201
    data = customer(client, "email", "case@example.com")
    assert data["firstName"] == "Cas" and data["gender"] == "NotSpecified"
    assert data["customAttributes"] == [{"name": "loyaltyTier", "value": "Silver"}]
    assert data["consentsData"]["consents"] == [{"id": 3, "value": "True"}]


def test_default_identification_field_refuses_other_match_by(
    client: TestClient, new_tenant
) -> None:
    tenant = new_tenant({"ecdp": {"defaultIdentificationField": "CrmId"}})
    key = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    found = errors(post(client, "Add", "Email", {"email": "a@example.com"}, headers=key))
    assert list(found) == ["matchBy"]
    assert "CrmId" in found["matchBy"][0]
    assert post(client, "Add", "CrmId", {"crmId": "C1"}, headers=key).status_code == 201
    assert customer(client, "crmId", "C1", headers=key)["id"] == 1


def test_custom_attributes_of_every_type(client: TestClient) -> None:
    values = {
        "loyaltyTier": "Bronze",
        "favouriteColour": "teal",
        "bio": "x" * 1000,
        "shoeSize": "42.5",
        "creditLimit": "1000.50",
        "memberSince": "2020-01-31",
        "lastLogin": "2026-11-01T10:00:00Z",
        "vip": "TRUE",
        "website": "https://example.com/me",
    }
    item = {
        "email": "attrs@example.com",
        "customAttributes": [{"name": n, "value": v} for n, v in values.items()],
    }
    assert post(client, "Add", "Email", item).status_code == 201
    stored = {
        a["name"]: a["value"]
        for a in customer(client, "email", "attrs@example.com")["customAttributes"]
    }
    assert stored == {**values, "vip": "true"}
    # A null value clears the attribute; others are kept.
    clear = {"email": "attrs@example.com", "customAttributes": [{"name": "vip", "value": None}]}
    assert post(client, "Update", "Email", clear).status_code == 201
    names = [a["name"] for a in customer(client, "email", "attrs@example.com")["customAttributes"]]
    assert "vip" not in names and "loyaltyTier" in names


def test_attribute_values_that_do_not_match_their_type(client: TestClient) -> None:
    bad = {
        "loyaltyTier": "Platinum",
        "favouriteColour": "x" * 257,
        "shoeSize": "forty",
        "creditLimit": "10.555",
        "memberSince": "2020-02-30",
        "lastLogin": "yesterday",
        "vip": "yes",
        "website": "ftp://example.com",
    }
    item = {
        "email": "bad-attrs@example.com",
        "customAttributes": [{"name": n, "value": v} for n, v in bad.items()]
        + [{"name": "nope", "value": "1"}, {"name": "shoeSize", "value": 42}, {"value": "1"}],
    }
    found = errors(post(client, "Add", "Email", item))
    expected = {f"data[0].customAttributes[{i}].value" for i in range(len(bad))}
    expected |= {
        "data[0].customAttributes[8].name",
        "data[0].customAttributes[9].value",
        "data[0].customAttributes[10].name",
    }
    assert set(found) == expected
    assert "does not exist" in found["data[0].customAttributes[8].name"][0]
    problem(get(client, "email", "bad-attrs@example.com"), 404)


def test_consents_and_confirmation_messages(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2026-05-01T12:00:00Z", "frozen": True}
    )
    item = {
        "email": "optin@example.com",
        "consentsData": {
            "consents": [{"id": 1, "value": "AwaitingConfirmation"}, {"id": 3, "value": "True"}],
            "confirmationMessageId": 77,
        },
    }
    assert post(client, "Add", "Email", item).status_code == 201
    data = customer(client, "email", "optin@example.com")
    assert data["consentsData"]["consents"] == [
        {"id": 1, "value": "AwaitingConfirmation"},
        {"id": 3, "value": "True"},
    ]
    sent = client.get("/__admin/tenants/default/ecdp/confirmations").json()["confirmations"]
    assert sent == [
        {
            "id": 1,
            "customerId": data["id"],
            "email": "optin@example.com",
            "phone": None,
            "consentIds": [1],
            "confirmationMessageId": 77,
            "forced": False,
            "confirmed": False,
            "sentAt": "2026-05-01T12:00:00Z",
        }
    ]
    # Still awaiting: no second message unless forced.
    again = {
        "email": "optin@example.com",
        "consentsData": {"consents": [{"id": 1, "value": "AwaitingConfirmation"}]},
    }
    post(client, "Update", "Email", again)
    assert (
        len(client.get("/__admin/tenants/default/ecdp/confirmations").json()["confirmations"]) == 1
    )
    again["consentsData"]["force"] = True
    post(client, "Update", "Email", again)
    sent = client.get(
        "/__admin/tenants/default/ecdp/confirmations", params={"customerId": data["id"]}
    ).json()["confirmations"]
    assert [m["forced"] for m in sent] == [False, True]
    # The customer clicks the link: the consent becomes True.
    confirmed = client.post("/__admin/tenants/default/ecdp/confirmations/2/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"] is True
    consents = customer(client, "email", "optin@example.com")["consentsData"]["consents"]
    assert consents[0] == {"id": 1, "value": "True"}
    assert client.post("/__admin/tenants/default/ecdp/confirmations/99/confirm").status_code == 404


def test_consent_errors_name_each_field(client: TestClient) -> None:
    item = {
        "email": "c@example.com",
        "consentsData": {
            "consents": [
                {"id": 42, "value": "True"},
                {"id": "1", "value": "True"},
                {"id": 1, "value": "Maybe"},
                {"value": "True"},
                {"id": 2},
            ],
            "force": "yes",
            "confirmationMessageId": 2**31,
        },
    }
    found = errors(post(client, "Add", "Email", item))
    assert set(found) == {
        "data[0].consentsData.consents[0].id",
        "data[0].consentsData.consents[1].id",
        "data[0].consentsData.consents[2].value",
        "data[0].consentsData.consents[3].id",
        "data[0].consentsData.consents[4].value",
        "data[0].consentsData.force",
        "data[0].consentsData.confirmationMessageId",
    }


def test_a_concurrent_insert_of_the_same_customer_is_retried(
    client: TestClient, monkeypatch
) -> None:
    """Another request stored the email between our read and our write: the unique index
    refuses our insert, and the batch runs again against what is stored (an update)."""
    real_fetch = upsert.fetch_related
    calls = []

    def stale_first_read(session, tenant_id, inputs):
        calls.append(1)
        return {} if len(calls) == 1 else real_fetch(session, tenant_id, inputs)

    monkeypatch.setattr(upsert, "fetch_related", stale_first_read)
    response = post(
        client, "AddOrUpdate", "Email", {"email": "adam@example.com", "firstName": "Ad"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"] == {"added": 0, "updated": 1}
    assert len(calls) == 2
    assert customer(client, "id", 1)["firstName"] == "Ad"
    assert customer(client, "email", "adam@example.com")["id"] == 1


def test_the_same_email_lives_separately_in_two_tenants(client: TestClient, new_tenant) -> None:
    other = {"x-api-key": new_tenant()["credentials"]["ecdp"]["api_key"]}
    assert (
        post(client, "Add", "Email", {"email": "both@example.com", "firstName": "A"}).status_code
        == 201
    )
    response = post(
        client, "Add", "Email", {"email": "both@example.com", "firstName": "B"}, headers=other
    )
    assert response.status_code == 201
    assert customer(client, "email", "both@example.com")["firstName"] == "A"
    assert customer(client, "email", "both@example.com", headers=other)["firstName"] == "B"
    entries = client.get("/__admin/requests", params={"api": "ecdp", "method": "POST"}).json()
    assert {e["operation"] for e in entries["requests"]} == {"PostCustomers"}


def many(count: int, first: int = 0, name: str = "N") -> list[dict]:
    return [{"email": f"m{first + i}@example.com", "lastName": name} for i in range(count)]


@pytest.mark.parametrize("count", [1, routes.INLINE_ITEMS, routes.INLINE_ITEMS + 1, 40])
def test_batches_either_side_of_the_inline_bound_answer_alike(
    client: TestClient, count: int
) -> None:
    """Small batches are written on the event loop, larger ones in a worker thread: the
    answers and what a later read returns are the same."""
    added = post(client, "AddOrUpdate", "Email", *many(count))
    assert added.status_code == 201, added.text
    assert added.json() == {"status": 0, "data": {"added": count, "updated": 0}}
    updated = post(client, "AddOrUpdate", "Email", *many(count, name="U"))
    assert updated.json() == {"status": 0, "data": {"added": 0, "updated": count}}
    assert customer(client, "email", f"m{count - 1}@example.com")["lastName"] == "U"
    refused = post(client, "Add", "Email", *many(count, first=count), *many(1))
    assert list(errors(refused)) == [f"data[{count}].email"]
    problem(get(client, "email", f"m{count}@example.com"), 404)  # nothing of it written


def test_a_small_batch_in_a_large_body_answers_alike(client: TestClient) -> None:
    body = {"mode": "AddOrUpdate", "matchBy": "Email", "data": many(2)}
    raw = json.dumps(body, indent=routes.INLINE_BODY_BYTES // 10).encode()
    assert len(raw) > routes.INLINE_BODY_BYTES
    response = client.post(
        "/customers", content=raw, headers={**KEY, "content-type": "application/json"}
    )
    assert response.json() == {"status": 0, "data": {"added": 2, "updated": 0}}
    assert customer(client, "email", "m1@example.com")["lastName"] == "N"


@pytest.mark.parametrize("count", [1, routes.INLINE_ITEMS + 1])
def test_a_concurrent_insert_is_retried_on_and_off_the_loop(
    client: TestClient, monkeypatch, count: int
) -> None:
    real_fetch = upsert.fetch_related
    calls = []

    def stale_first_read(session, tenant_id, inputs):
        calls.append(1)
        return {} if len(calls) == 1 else real_fetch(session, tenant_id, inputs)

    assert post(client, "Add", "Email", *many(count)).status_code == 201
    monkeypatch.setattr(upsert, "fetch_related", stale_first_read)
    response = post(client, "AddOrUpdate", "Email", *many(count, name="R"))
    assert response.status_code == 201, response.text
    assert response.json()["data"] == {"added": 0, "updated": count}
    assert len(calls) == 2
    assert customer(client, "email", "m0@example.com")["lastName"] == "R"


def test_a_batch_refused_twice_by_the_unique_index_is_409_and_leaves_no_trace(
    client: TestClient, monkeypatch
) -> None:
    monkeypatch.setattr(upsert, "fetch_related", lambda session, tenant_id, inputs: {})
    response = post(
        client,
        "AddOrUpdate",
        "Email",
        {"email": "new-one@example.com"},
        {"email": "adam@example.com", "firstName": "Never"},
    )
    problem(response, 409)
    problem(get(client, "email", "new-one@example.com"), 404)
    assert customer(client, "id", 1)["firstName"] != "Never"
