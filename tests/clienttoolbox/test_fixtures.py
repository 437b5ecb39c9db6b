"""The `clienttoolbox:` fixture section: refusal with a path, export reproduces the state."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.clienttoolbox.helpers import post, snapshot, tenant_credentials, xml


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"campaigns": [{"id": "1", "type": "coupon"}]}, "clienttoolbox.campaigns[0].type"),
        ({"account": {"unknown_fields": "maybe"}}, "clienttoolbox.account.unknown_fields"),
        ({"customers": [{"code": "1", "colour": "red"}]}, "clienttoolbox.customers[0].colour"),
        ({"custom_fields": [{"name": "field_1"}]}, "clienttoolbox.custom_fields[0].name"),
        (
            {"customers": [{"code": "1", "custom_date": "04-03-2010"}]},
            "clienttoolbox.customers[0].custom_date",
        ),
    ],
)
def test_bad_sections_are_refused_with_their_path(client: TestClient, section, path) -> None:
    response = client.post("/__admin/tenants", json={"fixtures": {"clienttoolbox": section}})
    assert response.status_code == 400
    assert response.json()["path"] == path


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ({"customers": [{"code": "1", "balances": [{"campaign": "9"}]}]}, "unknown campaign"),
        ({"customers": [{"code": "1"}, {"code": "1"}]}, "duplicate code"),
        (
            {"customers": [{"code": "1", "custom_fields": {"custom_field_1": "x"}}]},
            "not a declared field",
        ),
        (
            {
                "campaigns": [
                    {"id": "1", "type": "points", "rewards": [{"id": 5, "level": 1}]},
                    {"id": "2", "type": "events", "rewards": [{"id": 5, "level": 1}]},
                ]
            },
            "duplicate reward id",
        ),
    ],
)
def test_cross_references_are_checked(client: TestClient, section, reason) -> None:
    response = client.post("/__admin/tenants", json={"fixtures": {"clienttoolbox": section}})
    assert response.status_code == 400
    assert reason in response.json()["reason"]
    assert response.json()["path"].startswith("clienttoolbox")  # with the sub-path it names


def test_exported_state_loads_into_an_equal_tenant(client: TestClient) -> None:
    post(
        client,
        type="customers_batch",
        delimiter="pipe",
        overwrite_duplicates="update",
        campaigns_to_include="4638472975924871,111234567890123456",
        profiles_header_1="code",
        profiles_header_2="first_name",
        profiles_header_3="custom_field_1",
        profiles_header_4="auto_add",
        Profiles_Data="E1|Eve|Single|12\n12121|Amy2||\n",
    )
    post(
        client,
        type="batch_transactions",
        delimiter="pipe",
        visits_header_1="campaign_id",
        visits_header_2="code",
        visits_header_3="redeemed",
        visits_header_4="service_product",
        visits_header_5="amount",
        visits_header_6="custom_field_2",
        Visits_Data="111234567890123456|E1|N|Cakes|2|note\n",
    )
    exported = client.get("/__admin/tenants/default/fixtures").json()
    copy = client.post("/__admin/tenants", json={"fixtures": exported}).json()
    assert snapshot(client, copy["id"], undo_log=True) == snapshot(client, undo_log=True)
    # and the copy answers the API the same way
    same = post(
        client,
        credentials=tenant_credentials(copy),
        type="customer_find",
        find_customer="eve",
        include_balances="Y",
    )
    assert (
        xml(same)["customers"]
        == xml(post(client, type="customer_find", find_customer="eve", include_balances="Y"))[
            "customers"
        ]
    )


def test_reset_returns_to_the_fixtures(client: TestClient) -> None:
    before = snapshot(client)
    post(
        client,
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include="898989889",
        profiles_header_1="code",
        Profiles_Data="R1\n",
    )
    assert snapshot(client) != before
    assert client.post("/__admin/tenants/default/reset").status_code == 200
    assert snapshot(client) == before
    assert client.get("/__admin/tenants/default/clienttoolbox/undo-states").json() == {
        "undoStates": []
    }


def test_a_tenant_without_the_section_answers_with_empty_lists(
    client: TestClient, new_tenant
) -> None:
    tenant = new_tenant(fixtures="empty")
    body = xml(post(client, credentials=tenant_credentials(tenant), type="campaigns_list"))
    assert body["@status"] == "success" and body["campaigns"] is None
    refused = post(
        client,
        credentials=tenant_credentials(tenant),
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include="1",
        profiles_header_1="code",
        Profiles_Data="X\n",
    )
    assert "Unknown campaign" in xml(refused)["error"]
