"""GET /v1/integration/campaigns (the running campaigns, filtered and paged) and advanced
events (POST /v3/events, GET /v3/events/{integrationId}): unique integration IDs, a connected
closed session, the same rule evaluation as TrackEventV2; bad input gets Talon.One's 4xx."""

from __future__ import annotations

from typing import Any

import pytest

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-06-01T00:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [
            {
                "id": 1,
                "name": "Always",
                "tags": ["core"],
                "rules": [
                    {
                        "title": "Review bonus",
                        "conditions": [{"event": "review"}],
                        "effects": [{"setDiscount": {"name": "Thanks", "value": 5}}],
                    }
                ],
            },
            {
                "id": 2,
                "name": "Summer",
                "startTime": "2030-05-01T00:00:00Z",
                "endTime": "2030-09-01T00:00:00Z",
            },
            {"id": 3, "name": "Winter", "startTime": "2030-12-01T00:00:00Z"},
            {"id": 4, "name": "Off", "state": "disabled"},
        ]
    },
}


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def campaign_ids(client, headers, **params: Any) -> list[int]:
    response = client.get("/v1/integration/campaigns", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [campaign["id"] for campaign in response.json()["data"]]


def test_running_campaigns_are_listed_with_filters_and_paging(client, headers) -> None:
    response = client.get("/v1/integration/campaigns", headers=headers)
    body = response.json()
    assert body["hasMore"] is False and [c["id"] for c in body["data"]] == [1, 2]
    first = body["data"][0]
    assert (first["state"], first["tags"], first["rules"]) == (
        "enabled",
        ["core"],
        [{"title": "Review bonus"}],
    )
    assert campaign_ids(client, headers, campaignIds="2,3") == [2]
    assert campaign_ids(client, headers, startAfter="2030-04-01T00:00:00Z") == [2]
    assert campaign_ids(client, headers, startBefore="2030-04-01T00:00:00Z") == [1]
    assert campaign_ids(client, headers, endBefore="2030-10-01T00:00:00Z") == [2]
    assert campaign_ids(client, headers, endAfter="2030-10-01T00:00:00Z") == [1]
    paged = client.get("/v1/integration/campaigns", headers=headers, params={"pageSize": 1})
    assert paged.json()["hasMore"] is True and [c["id"] for c in paged.json()["data"]] == [1]
    assert campaign_ids(client, headers, pageSize=1, skip=1) == [2]


@pytest.mark.parametrize(
    "params",
    [{"pageSize": 0}, {"pageSize": "x"}, {"skip": -1}, {"campaignIds": "a"}, {"startAfter": "x"}],
)
def test_campaign_list_refuses_bad_parameters(client, headers, params) -> None:
    response = client.get("/v1/integration/campaigns", headers=headers, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["StatusCode"] == 400


def close_session(client, headers, session_id: str, state: str = "closed") -> None:
    response = client.put(
        f"/v2/customer_sessions/{session_id}",
        headers=headers,
        json={"customerSession": {"profileId": "ann", "state": state}},
    )
    assert response.status_code == 200, response.text


def track(client, headers, body: dict, **params: Any):
    return client.post("/v3/events", headers=headers, params=params, json=body)


REVIEW = {"profileId": "ann", "type": "review", "integrationId": "ev-1"}


def test_an_advanced_event_is_tracked_once_and_read_back(client, headers) -> None:
    close_session(client, headers, "order-1")
    silent = track(client, headers, {**REVIEW, "connectedSessionId": "order-1"})
    assert silent.status_code == 204
    read = client.get("/v3/events/ev-1", headers=headers)
    assert read.status_code == 200, read.text
    event = read.json()
    assert (event["type"], event["profileId"], event["integrationId"]) == ("review", "ann", "ev-1")
    assert event["connectedSessionId"] == "order-1"
    assert [e["effectType"] for e in event["effects"]] == ["setDiscount"]
    again = track(client, headers, REVIEW, silent="no")
    assert again.status_code == 409 and again.json()["StatusCode"] == 409


def test_the_answer_carries_effects_and_the_advanced_event_when_asked(client, headers) -> None:
    body = {**REVIEW, "integrationId": "ev-2", "responseContent": ["advancedEvent"]}
    response = track(client, headers, body, silent="no")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [e["effectType"] for e in answer["effects"]] == ["setDiscount"]
    assert answer["advancedEvent"]["integrationId"] == "ev-2"
    assert "event" not in answer
    dry = track(client, headers, {**REVIEW, "integrationId": "ev-3"}, silent="no", dry="true")
    assert dry.status_code == 200
    assert client.get("/v3/events/ev-3", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"profileId": "ann", "type": "review"}, 400),
        ({**REVIEW, "integrationId": ""}, 400),
        ({**REVIEW, "type": "talon_session_closed"}, 400),
        ({**REVIEW, "connectedSessionId": "nope"}, 400),
        ({**REVIEW, "connectedSessionId": "open-1"}, 400),
        ({**REVIEW, "responseContent": ["event"]}, 400),
        ({**REVIEW, "unknown": 1}, 400),
    ],
)
def test_bad_advanced_events_are_refused(client, headers, body, status) -> None:
    close_session(client, headers, "open-1", state="open")
    response = track(client, headers, body, silent="no")
    assert response.status_code == status, response.text
    assert response.json()["StatusCode"] == status
    assert client.get("/v3/events/ev-1", headers=headers).status_code == 404
