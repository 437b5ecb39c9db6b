"""UpdateCustomerProfileV2, UpdateCustomerProfilesV2 and TrackEventV2 over HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_CREDENTIALS

AUTH = DEFAULT_CREDENTIALS["talonone"]


def assert_error(response, status, pointer=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["StatusCode"] == status and body["message"]
    if pointer is not None:
        assert body["errors"][0]["source"].get("pointer") == pointer, body
    return body


def put_profile(client, integration_id, body, params=None):
    return client.put(
        f"/v2/customer_profiles/{integration_id}", json=body, params=params or {}, headers=AUTH
    )


def test_profile_upsert_creates_then_merges_attributes(client):
    created = put_profile(client, "p-1", {"attributes": {"Name": "Grace", "Age": 40}})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["effects"] == [] and body["createdCoupons"] == [] and body["createdReferrals"] == []
    profile = body["customerProfile"]
    assert profile["integrationId"] == "p-1"
    assert profile["attributes"] == {"Name": "Grace", "Age": 40}
    assert isinstance(profile["id"], int) and profile["closedSessions"] == 0
    assert profile["totalSales"] == 0
    updated = put_profile(client, "p-1", {"attributes": {"Tier": "silver"}}).json()
    assert updated["customerProfile"]["attributes"] == {
        "Name": "Grace",
        "Age": 40,
        "Tier": "silver",
    }
    assert updated["customerProfile"]["id"] == profile["id"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"attributes": {"Nope": 1}}, "/attributes/Nope"),
        ({"attributes": {"Age": "forty"}}, "/attributes/Age"),
        ({"attributes": {"BirthDate": "not a date"}}, "/attributes/BirthDate"),
        ({"attributes": []}, "/attributes"),
        ({"audiencesChanges": {"adds": [1]}}, "/audiencesChanges/deletes"),
        ({"audiencesChanges": {"adds": ["1"], "deletes": []}}, "/audiencesChanges/adds/0"),
        ({"responseContent": ["customerSession"]}, "/responseContent/0"),
        ({"unknown": True}, "/unknown"),
    ],
)
def test_bad_profile_payloads_are_400_and_write_nothing(client, body, pointer):
    assert_error(put_profile(client, "p-bad", body), 400, pointer)
    assert put_profile(client, "p-bad", {}).json()["customerProfile"]["attributes"] == {}


def test_dry_needs_run_rule_engine(client):
    assert_error(put_profile(client, "p-2", {}, params={"dry": "true"}), 400)


def test_run_rule_engine_returns_effects_and_dry_writes_nothing(client):
    response = put_profile(
        client,
        "p-3",
        {"attributes": {"Name": "Dry"}, "responseContent": ["customerProfile", "event"]},
        params={"runRuleEngine": "true", "dry": "true"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["customerProfile"]["attributes"] == {"Name": "Dry"}
    assert response.json()["event"]["type"] == "talon_customer_profile_updated"
    after = put_profile(client, "p-3", {}).json()["customerProfile"]
    assert after["attributes"] == {}


def test_bulk_update_silent_and_verbose(client):
    body = {
        "customerProfiles": [
            {"integrationId": "b-1", "attributes": {"Name": "One"}},
            {"integrationId": "customer-1", "attributes": {"Age": 36}},
        ]
    }
    silent = client.put("/v2/customer_profiles", json=body, headers=AUTH)
    assert silent.status_code == 204 and silent.content == b""
    verbose = client.put("/v2/customer_profiles", json=body, params={"silent": "no"}, headers=AUTH)
    assert verbose.status_code == 200
    states = verbose.json()["integrationStates"]
    assert [s["customerProfile"]["integrationId"] for s in states] == ["b-1", "customer-1"]
    assert states[1]["customerProfile"]["attributes"]["Name"] == "Ada Lovelace"
    assert states[1]["customerProfile"]["attributes"]["Age"] == 36


def test_bulk_update_is_all_or_nothing(client):
    body = {
        "customerProfiles": [
            {"integrationId": "bulk-ok", "attributes": {"Name": "ok"}},
            {"integrationId": "bulk-bad", "attributes": {"Age": "old"}},
        ]
    }
    response = client.put("/v2/customer_profiles", json=body, headers=AUTH)
    assert_error(response, 400, "/customerProfiles/1/attributes/Age")
    check = put_profile(client, "bulk-ok", {}).json()["customerProfile"]
    assert check["attributes"] == {}


def test_bulk_update_validates_shape(client):
    assert_error(
        client.put("/v2/customer_profiles", json={}, headers=AUTH), 400, "/customerProfiles"
    )
    missing = {"customerProfiles": [{"attributes": {}}]}
    assert_error(
        client.put("/v2/customer_profiles", json=missing, headers=AUTH),
        400,
        "/customerProfiles/0/integrationId",
    )
    bad_silent = client.put(
        "/v2/customer_profiles", json={"customerProfiles": []}, params={"silent": "x"}, headers=AUTH
    )
    assert_error(bad_silent, 400)


def track(client, body, params=None):
    return client.post("/v2/events", json=body, params=params or {}, headers=AUTH)


def test_event_is_silent_by_default(client):
    response = track(client, {"type": "page_viewed", "profileId": "customer-1"})
    assert response.status_code == 204 and response.content == b""


def test_event_runs_rules_and_returns_the_documented_response(client):
    body = {
        "type": "review_submitted",
        "profileId": "reviewer",
        "attributes": {"Rating": 5},
        "responseContent": ["customerProfile", "event", "triggeredCampaigns"],
    }
    response = track(client, body, params={"silent": "no"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert [e["effectType"] for e in result["effects"]] == ["addLoyaltyPoints", "showNotification"]
    assert result["effects"][0]["props"]["value"] == 50
    assert result["effects"][0]["props"]["recipientIntegrationId"] == "reviewer"
    assert result["event"]["type"] == "review_submitted"
    assert result["event"]["attributes"] == {"Rating": 5}
    assert isinstance(result["event"]["id"], int)
    assert result["customerProfile"]["integrationId"] == "reviewer"
    assert [c["id"] for c in result["triggeredCampaigns"]] == [6]
    low = track(client, {**body, "attributes": {"Rating": 2}}, params={"silent": "no"}).json()
    assert low["effects"] == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"profileId": "x"}, "/type"),
        ({"type": "", "profileId": "x"}, "/type"),
        ({"type": "talon_session_created", "profileId": "x"}, "/type"),
        ({"type": "a"}, "/profileId"),
        ({"type": "a", "profileId": "x", "attributes": {"Nope": 1}}, "/attributes/Nope"),
        ({"type": "a", "profileId": "x", "attributes": {"Rating": "5"}}, "/attributes/Rating"),
        ({"type": "a", "profileId": "x", "loyaltyCards": ["AB"]}, "/loyaltyCards/0"),
        ({"type": "a", "profileId": "x", "responseContent": ["coupons"]}, "/responseContent/0"),
    ],
)
def test_bad_events_are_400(client, body, pointer):
    assert_error(track(client, body, params={"silent": "no"}), 400, pointer)


def test_force_complete_evaluation_needs_dry(client):
    response = track(
        client, {"type": "a", "profileId": "x"}, params={"forceCompleteEvaluation": "true"}
    )
    assert_error(response, 400)


EVENTS = "/__admin/tenants/default/talonone/events"


def balances_of(client, program_id, profile_id):
    path = f"/v1/loyalty_programs/{program_id}/profile/{profile_id}/balances"
    return client.get(path, headers=AUTH)


def test_event_stores_itself_creates_its_profile_and_posts_its_points(client):
    body = {"type": "review_submitted", "profileId": "new-reviewer", "attributes": {"Rating": 5}}
    answer = track(client, body, params={"silent": "no"}).json()
    points = answer["effects"][0]["props"]
    stored = client.get(EVENTS, params={"profileId": "new-reviewer"}).json()
    assert [(e["type"], e["attributes"], e["effects"]) for e in stored] == [
        ("review_submitted", {"Rating": 5}, answer["effects"])
    ]
    balance = balances_of(client, points["programId"], "new-reviewer")
    assert balance.status_code == 200, balance.text
    assert (
        balance.json()["balance"]["activePoints"] + balance.json()["balance"]["pendingPoints"]
        == points["value"]
    )
    inventory = client.get(
        "/v1/customer_profiles/new-reviewer/inventory", params={"profile": "true"}, headers=AUTH
    ).json()
    assert inventory["profile"]["integrationId"] == "new-reviewer"
    assert inventory["profile"]["lastActivity"] == stored[0]["created"]


@pytest.mark.parametrize(
    ("headers", "params", "body", "status"),
    [
        ({"Authorization": "ApiKey-v1 wrong"}, {}, {"type": "a", "profileId": "ghost"}, 401),
        (AUTH, {"dry": "true"}, {"type": "review_submitted", "profileId": "ghost"}, 200),
        (AUTH, {}, {"type": "a", "profileId": "ghost", "attributes": {"Nope": 1}}, 400),
        (AUTH, {"silent": "maybe"}, {"type": "a", "profileId": "ghost"}, 400),
    ],
)
def test_refused_and_dry_events_store_nothing(client, headers, params, body, status):
    response = client.post(
        "/v2/events", json=body, params={"silent": "no", **params}, headers=headers
    )
    assert response.status_code == status, response.text
    assert client.get(EVENTS, params={"profileId": "ghost"}).json() == []
    assert balances_of(client, 1, "ghost").status_code == 404
