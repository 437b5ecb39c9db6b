"""Undo states: which batches record one, listing, undo restores exactly the prior state, and
the order rule (a later batch over the same customers must be undone first)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import post, snapshot, xml

UNDO = "/__admin/tenants/default/clienttoolbox/undo-states"
POINTS = "1111222233334444"


def customers(data: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "customers_batch",
        "delimiter": "pipe",
        "overwrite_duplicates": "update",
        "campaigns_to_include": "898989889",
        "profiles_header_1": "code",
        "profiles_header_2": "first_name",
        "profiles_header_3": "auto_add",
        "Profiles_Data": data,
        **extra,
    }


def transactions(data: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "batch_transactions",
        "delimiter": "pipe",
        "visits_header_1": "campaign_id",
        "visits_header_2": "code",
        "visits_header_3": "redeemed",
        "visits_header_4": "amount",
        "Visits_Data": data,
        **extra,
    }


def undo_id(response: Any) -> int | None:
    value = xml(response)["batch"].get("undo_state")
    return int(value) if value is not None else None


def states(client: TestClient) -> list[dict[str, Any]]:
    return client.get(UNDO).json()["undoStates"]


@pytest.mark.parametrize(
    ("extra", "recorded"),
    [
        ({}, True),  # customers_batch: saved unless no_undo (the docs' note)
        ({"allow_undo": "yes"}, True),
        ({"no_undo": "yes"}, False),
        ({"no-undo": "Y"}, False),
        ({"allow_undo": "yes", "no_undo": "yes"}, False),  # the opt-out wins
        ({"allow_undo": "no"}, False),
    ],
)
def test_customers_batch_undo_switch(client: TestClient, extra: dict, recorded: bool) -> None:
    response = post(client, **customers("K1|Kim|\n", **extra))
    assert (undo_id(response) is not None) is recorded
    assert len(states(client)) == (1 if recorded else 0)


@pytest.mark.parametrize(
    ("credentials_api", "extra", "recorded"),
    [
        (True, {}, False),  # API 1.5: opt-in with allow-undo
        (True, {"allow-undo": "yes"}, True),
        (True, {"allow_undo": "yes"}, True),
        (True, {"allow-undo": "yes", "no-undo": "yes"}, False),
        (False, {}, True),  # the older API (no `API` field): saved unless no-undo
        (False, {"no-undo": "yes"}, False),
    ],
)
def test_batch_transactions_undo_switch(
    client: TestClient, credentials_api: bool, extra: dict, recorded: bool
) -> None:
    credentials = {"user_id": "sandbox", "user_api_key": "ct-sandbox-key", "account_id": "sandbox"}
    if credentials_api:
        credentials["API"] = "1.5"
    response = post(
        client, credentials=credentials, **transactions(f"{POINTS}|12121|N|5\n", **extra)
    )
    assert (undo_id(response) is not None) is recorded


def test_undo_restores_exactly_the_prior_state(client: TestClient) -> None:
    before = snapshot(client)
    first = undo_id(post(client, **customers("12121|Changed|10\nNEW1|New|5\n")))
    second = undo_id(
        post(
            client,
            **transactions(
                f"{POINTS}|12121|Y|300\n{POINTS}|NEW2|N|4\n",
                create_new_customers="Y",
                **{"allow-undo": "yes"},
            ),
        )
    )
    listed = states(client)
    assert [s["id"] for s in listed] == [second, first]
    assert listed[0]["type"] == "batch_transactions" and listed[0]["lines"] == 2
    assert listed[1]["summary"] == {"new": 1, "updated": 1, "skipped": 0}
    assert all(s["status"] == "available" for s in listed)

    refused = client.post(f"{UNDO}/{first}/undo")
    assert refused.status_code == 409
    assert refused.json()["blockedBy"] == [second]
    assert "undo it first" in refused.json()["error"]

    done = client.post(f"{UNDO}/{second}/undo")
    assert done.status_code == 200
    assert done.json()["transactionsRemoved"] == 2 and done.json()["customersRemoved"] == 1
    after_first = snapshot(client)
    assert client.post(f"{UNDO}/{first}/undo").status_code == 200
    assert snapshot(client) == before
    assert after_first != before
    assert [s["status"] for s in states(client)] == ["undone", "undone"]
    again = client.post(f"{UNDO}/{first}/undo")
    assert again.status_code == 409 and "already undone" in again.json()["error"]


def test_a_later_batch_without_undo_state_blocks_for_good(client: TestClient) -> None:
    first = undo_id(post(client, **customers("12121|Changed|\n")))
    post(client, **transactions(f"{POINTS}|12121|N|5\n"))  # API 1.5 without allow-undo
    refused = client.post(f"{UNDO}/{first}/undo")
    assert refused.status_code == 409
    assert "no undo state" in refused.json()["error"]


def test_batches_over_other_customers_undo_in_any_order(client: TestClient) -> None:
    before = snapshot(client)
    first = undo_id(post(client, **customers("A1|Ann|\n")))
    second = undo_id(post(client, **customers("B1|Ben|\n")))
    assert client.post(f"{UNDO}/{first}/undo").status_code == 200
    assert client.post(f"{UNDO}/{second}/undo").status_code == 200
    assert snapshot(client) == before


def test_unknown_state_and_other_tenants(client: TestClient, new_tenant) -> None:
    assert client.post(f"{UNDO}/999/undo").status_code == 404
    assert client.get(f"{UNDO}/999").status_code == 404
    first = undo_id(post(client, **customers("A1|Ann|\n")))
    assert client.get(f"{UNDO}/{first}").json()["type"] == "customers_batch"
    other = new_tenant()
    path = f"/__admin/tenants/{other['id']}/clienttoolbox/undo-states"
    assert client.get(path).json() == {"undoStates": []}
    assert client.post(f"{path}/{first}/undo").status_code == 404
    assert client.get("/__admin/tenants/nope/clienttoolbox/undo-states").status_code == 404


def test_admin_token_protects_undo(make_client) -> None:
    http = make_client(admin_token="s3cret")
    assert http.get(UNDO).status_code == 401
    ok = http.get(UNDO, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_undo_state_numbers_are_checked(client: TestClient) -> None:
    for bad in ("abc", "0", "-1"):
        response = client.post(f"{UNDO}/{bad}/undo")
        assert response.status_code == 400
        assert response.json()["status"] == 400
    for beyond in (str(2**31), str(2**63)):  # no state has a number beyond its column
        for response in (client.post(f"{UNDO}/{beyond}/undo"), client.get(f"{UNDO}/{beyond}")):
            assert response.status_code == 404
            assert response.json()["status"] == 404
