"""Achievements: campaigns' goals declared in fixtures, progress kept per profile as sessions
close and events arrive (with the session update's effects), taken back by a cancel, the two
read operations with their filters and paging, the inventory, the export round trip."""

from __future__ import annotations

from typing import Any

import pytest

FIXTURES: dict[str, Any] = {
    "clock": {"now": "2030-01-01T00:00:00Z", "frozen": True},
    "talonone": {
        "campaigns": [{"id": 1, "name": "Goals", "features": ["achievements"], "rules": []}],
        "campaignAchievements": [
            {
                "id": 1,
                "campaignId": 1,
                "name": "ThreeOrders",
                "title": "Three orders a month",
                "target": 3,
                "period": "30D",
                "recurrencePolicy": "on_completion",
            },
            {
                "id": 2,
                "campaignId": 1,
                "name": "Spend100",
                "title": "Spend 100",
                "target": 100,
                "measure": "total",
            },
            {
                "id": 3,
                "campaignId": 1,
                "name": "TwoReviews",
                "title": "Two reviews a week",
                "target": 2,
                "period": "7D",
                "recurrencePolicy": "on_expiration",
                "activity": "event",
                "eventType": "review",
            },
            {
                "id": 4,
                "campaignId": 1,
                "name": "NextYear",
                "title": "Next year",
                "target": 1,
                "activationPolicy": "fixed_schedule",
                "fixedStartDate": "2031-01-01T00:00:00Z",
            },
        ],
    },
}
CART = [{"sku": "BOOK", "quantity": 1, "price": 60}]


@pytest.fixture
def tenant(new_tenant) -> dict:
    return new_tenant(FIXTURES)


@pytest.fixture
def headers(tenant) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def close(client, headers, session_id: str, state: str = "closed") -> dict:
    response = client.put(
        f"/v2/customer_sessions/{session_id}",
        headers=headers,
        json={"customerSession": {"profileId": "ann", "cartItems": CART, "state": state}},
    )
    assert response.status_code == 200, response.text
    return response.json()


def progress_effects(body: dict, kind: str = "increaseAchievementProgress") -> dict[int, dict]:
    return {
        e["props"]["achievementId"]: e["props"] for e in body["effects"] if e["effectType"] == kind
    }


def listed(client, headers, profile: str = "ann", **params: Any) -> dict:
    response = client.get(
        f"/v1/customer_profiles/{profile}/achievements", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def current(client, headers) -> dict[int, tuple]:
    return {
        a["id"]: (a["status"], a["currentProgress"]["status"], a["currentProgress"]["progress"])
        for a in listed(client, headers)["data"]
    }


def review(client, headers) -> dict:
    response = client.post(
        "/v2/events",
        headers=headers,
        params={"silent": "no"},
        json={"profileId": "ann", "type": "review", "attributes": {}},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_closed_sessions_progress_and_a_cancel_takes_back(client, headers) -> None:
    first = progress_effects(close(client, headers, "s1"))
    assert (first[1]["delta"], first[1]["value"], first[1]["isJustCompleted"]) == (1, 1, False)
    assert (first[2]["delta"], first[2]["value"], first[2]["target"]) == (60, 60, 100)
    assert set(first) == {1, 2}
    assert current(client, headers) == {
        1: ("active", "inprogress", 1),
        2: ("active", "inprogress", 60),
        3: ("active", "not_started", 0),
        4: ("scheduled", "not_started", 0),
    }
    second = progress_effects(close(client, headers, "s2"))
    assert second[2]["isJustCompleted"] is True and second[1]["value"] == 2
    cancelled = progress_effects(
        close(client, headers, "s2", state="cancelled"), "rollbackIncreasedAchievementProgress"
    )
    # The completed achievement keeps its completion (no rollback after completion).
    assert set(cancelled) == {1} and cancelled[1]["currentProgress"] == 1
    assert current(client, headers)[2] == ("active", "completed", 120)
    reopened = client.put("/v2/customer_sessions/s1/reopen", headers=headers)
    assert reopened.status_code == 200
    assert (
        progress_effects(reopened.json(), "rollbackIncreasedAchievementProgress")[1][
            "currentProgress"
        ]
        == 0
    )


def test_events_progress_and_a_new_period_starts_after_expiry(client, tenant, headers) -> None:
    review(client, headers)
    done = progress_effects(review(client, headers))[3]
    assert (done["value"], done["isJustCompleted"]) == (2, True)
    assert progress_effects(review(client, headers)) == {}  # completed until the period ends
    moved = client.post(f"/__admin/tenants/{tenant['id']}/clock/advance", json={"days": 8})
    assert moved.status_code == 200
    assert progress_effects(review(client, headers))[3]["value"] == 1
    history = client.get("/v1/customer_profiles/ann/achievements/3", headers=headers).json()
    assert history["totalResultSize"] == 2
    assert [(h["status"], h["progress"]) for h in history["data"]] == [
        ("inprogress", 1),
        ("completed", 2),
    ]
    assert history["data"][1]["startDate"] == "2030-01-01T00:00:00Z"
    assert history["data"][1]["endDate"] == "2030-01-08T00:00:00Z"
    completed = client.get(
        "/v1/customer_profiles/ann/achievements/3",
        headers=headers,
        params={"progressStatus": "completed"},
    ).json()
    assert [h["status"] for h in completed["data"]] == ["completed"]
    paged = client.get(
        "/v1/customer_profiles/ann/achievements/3",
        headers=headers,
        params={"pageSize": 1, "skip": 1},
    ).json()
    assert paged["totalResultSize"] == 2 and [h["progress"] for h in paged["data"]] == [2]
    since = client.get(
        "/v1/customer_profiles/ann/achievements/3",
        headers=headers,
        params={"startDate": "2030-01-05T00:00:00Z"},
    ).json()
    assert [h["progress"] for h in since["data"]] == [1]


def test_filters_and_paging_of_the_list(client, headers) -> None:
    close(client, headers, "s1")
    assert [a["id"] for a in listed(client, headers, achievementStatus="scheduled")["data"]] == [4]
    not_started = listed(client, headers, currentProgressStatus="not_started")
    assert [a["id"] for a in not_started["data"]] == [3, 4]
    assert [a["id"] for a in listed(client, headers, achievementIds="2")["data"]] == [2]
    assert listed(client, headers, campaignIds="9")["data"] == []
    page = listed(client, headers, pageSize=1, skip=1)
    assert page["totalResultSize"] == 4 and [a["id"] for a in page["data"]] == [2]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/customer_profiles/nobody/achievements", {}, 404),
        ("/v1/customer_profiles/ann/achievements/99", {}, 404),
        ("/v1/customer_profiles/ann/achievements/x", {}, 400),
        ("/v1/customer_profiles/ann/achievements", {"achievementStatus": "done"}, 400),
        ("/v1/customer_profiles/ann/achievements", {"currentProgressStatus": "x"}, 400),
        ("/v1/customer_profiles/ann/achievements", {"pageSize": 0}, 400),
        ("/v1/customer_profiles/ann/achievements", {"campaignIds": "a"}, 400),
        ("/v1/customer_profiles/ann/achievements/1", {"progressStatus": "not_started"}, 400),
        ("/v1/customer_profiles/ann/achievements/1", {"startDate": "soon"}, 400),
        ("/v1/customer_profiles/ann/achievements/1", {"skip": -1}, 400),
    ],
)
def test_bad_requests(client, headers, path, params, status) -> None:
    close(client, headers, "s1")
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == status, response.text
    assert response.json()["StatusCode"] == status


def test_inventory_and_export_round_trip(client, tenant, headers, new_tenant) -> None:
    close(client, headers, "s1")
    inventory = client.get(
        "/v1/customer_profiles/ann/inventory", headers=headers, params={"achievements": "true"}
    ).json()
    assert [(a["achievementId"], a["progress"]) for a in inventory["achievements"]] == [
        (1, 1),
        (2, 60),
    ]
    admin = client.get(f"/__admin/tenants/{tenant['id']}/talonone/achievements").json()
    assert [t["progress"] for t in admin["achievementProgress"]] == [1, 60]
    exported = client.get(f"/__admin/tenants/{tenant['id']}/fixtures").json()
    copy = new_tenant(exported)
    copy_headers = {"Authorization": f"ApiKey-v1 {copy['credentials']['talonone']['api_key']}"}
    assert listed(client, copy_headers) == listed(client, headers)
    again = client.get(f"/__admin/tenants/{copy['id']}/fixtures").json()["talonone"]
    for key in ("campaignAchievements", "achievementProgress"):
        assert again[key] == exported["talonone"][key]


@pytest.mark.parametrize(
    "definition",
    [
        {"campaignId": 9},
        {"campaignId": 2},
        {"name": "1bad"},
        {"activity": "event"},
        {"eventType": "review"},
        {"activationPolicy": "fixed_schedule"},
        {"period": "a while"},
        {"target": 0},
    ],
)
def test_bad_definitions_refuse_the_document(client, definition) -> None:
    """Campaign 2 exists but has no achievements feature."""
    base = {"id": 1, "campaignId": 1, "name": "Good", "title": "Good", "target": 1}
    document = {
        "talonone": {
            "campaigns": [
                {"id": 1, "name": "Goals", "features": ["achievements"], "rules": []},
                {"id": 2, "name": "No achievements feature", "rules": []},
            ],
            "campaignAchievements": [{**base, **definition}],
        }
    }
    response = client.post("/__admin/tenants", json={"fixtures": document})
    assert response.status_code in (400, 422), response.text


def test_generated_profiles_get_progress_that_loads(client, new_tenant) -> None:
    document = {
        **FIXTURES,
        "generate": {"seed": 3, "customers": 20, "counts": {"talonone.achievement_percent": 50}},
    }
    tenant = new_tenant(document)
    admin = client.get(f"/__admin/tenants/{tenant['id']}/talonone/achievements").json()
    trackers = admin["achievementProgress"]
    assert trackers, "half of 20 generated profiles should have progress"
    assert {t["achievementId"] for t in trackers} == {1, 2, 3}  # not the fixed-schedule one
    assert all(t["progress"] < 100 and t["startDate"] == "2030-01-01T00:00:00Z" for t in trackers)
    again = new_tenant(document)
    second = client.get(f"/__admin/tenants/{again['id']}/talonone/achievements").json()
    assert [t["progress"] for t in second["achievementProgress"]] == [
        t["progress"] for t in trackers
    ]
