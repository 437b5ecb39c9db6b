"""The core part with the loyalty and engagement parts: codes in responses, audiences in rules,
loyalty blocks, customer data deletion, and the fixture export round trip."""

from __future__ import annotations

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]

AUDIENCE_FIXTURES = {
    "talonone": {
        "attributes": {"CustomerProfile": {"Tier": "string"}},
        "campaigns": [
            {
                "id": 1,
                "name": "VIP only",
                "rules": [
                    {
                        "title": "VIP notice",
                        "conditions": [{"audience": 1}],
                        "effects": [{"showNotification": {"title": "Hello VIP"}}],
                    }
                ],
            },
            {
                "id": 2,
                "name": "Gold tier",
                "rules": [
                    {
                        "title": "Gold custom effect",
                        "conditions": [{"profileAttribute": {"name": "Tier", "eq": "gold"}}],
                        "effects": [
                            {"customEffect": {"effectId": 7, "name": "gold", "payload": {"a": 1}}}
                        ],
                    }
                ],
            },
        ],
        "audiences": [{"name": "VIP", "members": ["vip-1"]}],
        "profiles": [{"integrationId": "vip-1"}, {"integrationId": "plain-1"}],
    }
}


def headers_for(tenant: dict) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def put(client, session_id, session, content=None, headers=AUTH):
    body = {"customerSession": session}
    if content:
        body["responseContent"] = content
    return client.put(f"/v2/customer_sessions/{session_id}", json=body, headers=headers)


def test_coupons_and_referral_in_the_response(client):
    response = put(
        client,
        "int-1",
        {"profileId": "friend-9", "couponCodes": ["WELCOME-5"], "referralCode": "ADA-FRIENDS"},
        content=["coupons", "referral"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["value"] for c in body["coupons"]] == ["WELCOME-5"]
    assert body["coupons"][0]["profileRedemptionCount"] == 0
    assert body["referral"]["code"] == "ADA-FRIENDS"
    assert body["referral"]["referredCustomers"] == []


def test_audience_and_profile_attribute_conditions(client, new_tenant):
    headers = headers_for(new_tenant(AUDIENCE_FIXTURES))
    vip = put(client, "a-1", {"profileId": "vip-1"}, headers=headers).json()["effects"]
    assert [e["effectType"] for e in vip] == ["showNotification"]
    plain = put(client, "a-2", {"profileId": "plain-1"}, headers=headers).json()["effects"]
    assert plain == []
    changed = client.put(
        "/v2/customer_profiles/plain-1",
        json={
            "attributes": {"Tier": "gold"},
            "audiencesChanges": {"adds": [1], "deletes": []},
            "responseContent": ["customerProfile"],
        },
        params={"runRuleEngine": "true"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    result = changed.json()
    assert [e["effectType"] for e in result["effects"]] == ["showNotification", "customEffect"]
    assert result["effects"][1]["props"] == {"effectId": 7, "name": "gold", "payload": {"a": 1}}
    assert result["customerProfile"]["audienceMemberships"] == [{"id": 1, "name": "VIP"}]
    again = put(client, "a-3", {"profileId": "plain-1"}, headers=headers).json()["effects"]
    assert {e["effectType"] for e in again} == {"showNotification", "customEffect"}


def test_closed_session_posts_points_shown_in_the_loyalty_block(client):
    cart = [{"sku": "SKU-SHIRT-1", "quantity": 2}]
    put(client, "loy-1", {"profileId": "points-1", "cartItems": cart})
    closed = put(client, "loy-1", {"state": "closed"}, content=["loyalty"]).json()
    program = closed["loyalty"]["programs"]["1"]
    assert program["ledger"]["currentBalance"] == 50  # 1 point per EUR on 2 x 25
    cancelled = put(client, "loy-1", {"state": "cancelled"}, content=["loyalty"]).json()
    assert "rollbackAddedLoyaltyPoints" in [e["effectType"] for e in cancelled["effects"]]
    assert cancelled["loyalty"]["programs"]["1"]["ledger"]["currentBalance"] == 0


def test_delete_customer_data_removes_sessions(client):
    put(client, "del-1", {"profileId": "to-delete", "cartItems": [{"sku": "A", "quantity": 1}]})
    deleted = client.delete("/v1/customer_data/to-delete", headers=AUTH)
    assert deleted.status_code == 204
    assert client.get("/v2/customer_sessions/del-1", headers=AUTH).status_code == 404
    fresh = client.put("/v2/customer_profiles/to-delete", json={}, headers=AUTH).json()
    assert fresh["customerProfile"]["closedSessions"] == 0


def test_export_reproduces_campaigns_catalogs_and_profiles(client, new_tenant):
    client.put("/v2/customer_profiles/exported", json={"attributes": {"Age": 3}}, headers=AUTH)
    client.put(
        "/v1/catalogs/1/sync",
        json={"actions": [{"type": "ADD", "payload": {"sku": "EXP-1", "price": 7}}]},
        headers=AUTH,
    )
    exported = client.get("/__admin/tenants/default/fixtures")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    copy = headers_for(new_tenant(document))
    cart = [{"sku": "EXP-1", "quantity": 20}]
    original = put(
        client,
        "e-1",
        {"profileId": "exported", "cartItems": cart},
        ["customerSession", "customerProfile"],
    )
    twin = put(
        client,
        "e-1",
        {"profileId": "exported", "cartItems": cart},
        ["customerSession", "customerProfile"],
        headers=copy,
    )
    assert original.json()["effects"][0]["props"] == twin.json()["effects"][0]["props"]
    assert [e["effectType"] for e in original.json()["effects"]] == [
        e["effectType"] for e in twin.json()["effects"]
    ]
    assert twin.json()["customerSession"]["cartItemTotal"] == 140
    assert twin.json()["customerProfile"]["attributes"] == {"Age": 3}


SCHEDULED = {
    "clock": {"now": "2030-01-01T00:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {
                "id": 1,
                "name": "New year sale",
                "startTime": "2030-06-01T00:00:00Z",
                "rules": [
                    {
                        "title": "5 off",
                        "conditions": [{"itemSku": "A"}],
                        "effects": [{"setDiscount": {"name": "sale", "value": 5}}],
                    }
                ],
            }
        ]
    },
}


def test_campaign_window_follows_the_tenant_clock_and_dry_now(client, new_tenant):
    tenant = new_tenant(SCHEDULED)
    headers = headers_for(tenant)
    cart = {"cartItems": [{"sku": "A", "quantity": 1, "price": 10}]}
    assert put(client, "w-1", cart, headers=headers).json()["effects"] == []
    body = {"customerSession": cart}
    later = client.put(
        "/v2/customer_sessions/w-1",
        json=body,
        params={"dry": "true", "now": "2030-07-01T00:00:00Z"},
        headers=headers,
    )
    assert [e["effectType"] for e in later.json()["effects"]] == ["setDiscount"]
    moved = client.put(
        f"/__admin/tenants/{tenant['id']}/clock", json={"now": "2030-06-02T00:00:00Z"}
    )
    assert moved.status_code == 200, moved.text
    assert put(client, "w-1", cart, headers=headers).json()["effects"][0]["props"]["value"] == 5


def test_a_bad_campaign_refuses_the_fixture_document_with_its_path(client):
    document = {
        "talonone": {
            "campaigns": [
                {
                    "id": 1,
                    "name": "Broken",
                    "rules": [
                        {"title": "r", "conditions": [{"cartTotal": {"gte": 1}, "event": "x"}]}
                    ],
                }
            ]
        }
    }
    response = client.post("/__admin/tenants", json={"fixtures": document})
    assert response.status_code == 400, response.text
    assert response.json()["path"].startswith("talonone.campaigns[0].rules[0].conditions[0]")
    unknown = {"talonone": {"campaigns": [{"id": 1, "name": "x", "colour": "red"}]}}
    response = client.post("/__admin/tenants", json={"fixtures": unknown})
    assert response.status_code == 400
    assert response.json()["path"] == "talonone.campaigns[0].colour"
