"""Request verification (WireMock's `verify`): the journal filtered by every field it shows,
`POST /__admin/requests/count` and `/find` with matchers, and the requests no route answered."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS

TALON = DEFAULT_CREDENTIALS["talonone"]
ECDP = DEFAULT_CREDENTIALS["ecdp"]
CG = DEFAULT_CREDENTIALS["customergauge"]
CT = DEFAULT_CREDENTIALS["clienttoolbox"]
SESSION = {"customerSession": {"profileId": "customer-1", "state": "open", "cartItems": []}}


def requests(client: TestClient, **filters: Any) -> list[dict]:
    response = client.get("/__admin/requests", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def count(client: TestClient, matcher: dict, status: int = 200) -> Any:
    response = client.post("/__admin/requests/count", json=matcher)
    assert response.status_code == status, response.text
    return response.json()["count"] if status == 200 else response.json()


def find(client: TestClient, matcher: dict) -> list[dict]:
    response = client.post("/__admin/requests/find", json=matcher)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


@pytest.fixture
def traffic(client: TestClient) -> TestClient:
    """Two session updates, a session read, an ECDP import, a CustomerGauge upload, a
    ClientToolbox call and a call the Talon.One API does not have (older SDKs' V1 events)."""
    client.put("/v2/customer_sessions/s-1", headers=TALON, json=SESSION)
    client.put(
        "/v2/customer_sessions/s-2",
        headers=TALON,
        json={"customerSession": {"profileId": "customer-2", "state": "open"}},
    )
    client.get("/v2/customer_sessions/s-1", headers=TALON)
    client.post(
        "/customers",
        headers=ECDP,
        json={"mode": "AddOrUpdate", "matchBy": "Email", "data": [{"email": "v@example.com"}]},
    )
    client.post(
        "/v4.1/stream/transactional.xml",
        headers=CG,
        content=b"<records><record><Email>x@example.com</Email></record></records>",
    )
    client.post("/api.php", data={**CT, "type": "campaigns_list"})
    client.post("/v1/events", headers=TALON, json={"type": "x", "profileId": "customer-1"})
    return client


# --- GET /__admin/requests: every field it shows filters ------------------------------------


def test_operation_filters_the_journal(traffic: TestClient) -> None:
    """It was accepted and ignored."""
    found = requests(traffic, operation="UpdateCustomerSessionV2")
    assert [e["path"] for e in found] == ["/v2/customer_sessions/s-2", "/v2/customer_sessions/s-1"]
    assert requests(traffic, operation="updatecustomersessionv2") == found
    assert [e["operation"] for e in requests(traffic, api="ecdp")] == ["PostCustomers"]
    assert len(requests(traffic, operation="PostCustomers")) == 1
    assert len(requests(traffic, operation="campaigns_list")) == 1


def test_every_shown_field_filters(traffic: TestClient) -> None:
    newest = requests(traffic, limit=1)[0]
    assert newest["path"] == "/v1/events"
    assert len(requests(traffic, status="4xx")) == 1
    assert len(requests(traffic, status=404)) == 1
    assert {e["api"] for e in requests(traffic, status="2xx")} == {
        "talonone",
        "ecdp",
        "customergauge",
        "clienttoolbox",
    }
    assert len(requests(traffic, query="type")) == 0
    assert [e["path"] for e in requests(traffic, until=requests(traffic)[-1]["time"])][-1] == (
        "/v2/customer_sessions/s-1"
    )
    older = requests(traffic, before=newest["id"])
    assert newest["id"] not in [e["id"] for e in older] and len(older) == 6
    assert [e["path"] for e in requests(traffic, q="customer-2")] == ["/v2/customer_sessions/s-2"]


def test_unknown_filters_and_names_are_refused(traffic: TestClient) -> None:
    for params in (
        {"operaton": "x"},
        {"operation": "NoSuchOperation"},
        {"api": "stripe"},
        {"status": "2yy"},
        {"since": "yesterday"},
    ):
        response = traffic.get("/__admin/requests", params=params)
        assert response.status_code == 400, params
        assert "error" in response.json()


# --- POST /__admin/requests/count and /find ---------------------------------------------------


def test_count_and_find_by_request_fields(traffic: TestClient) -> None:
    assert count(traffic, {"operation": "UpdateCustomerSessionV2"}) == 2
    assert count(traffic, {"api": "talonone", "method": "GET"}) == 1
    assert count(traffic, {"path": "/v2/customer_sessions/s-1"}) == 2
    assert count(traffic, {"pathPattern": "/v2/customer_sessions/*"}) == 3
    assert count(traffic, {"tenant": "default", "status": 201}) == 1
    assert count(traffic, {"tenant": "nobody"}) == 0
    (entry,) = find(traffic, {"operation": "GetCustomerSession"})
    assert entry["path"] == "/v2/customer_sessions/s-1" and entry["status"] == 200
    everything = find(traffic, {})
    assert len(everything) == 7
    window = {"since": everything[-1]["time"], "until": everything[0]["time"]}
    assert count(traffic, window) == 7


def test_body_matchers(traffic: TestClient) -> None:
    by_profile = {"jsonPath": "$.customerSession.profileId", "equals": "customer-2"}
    assert count(traffic, {"body": [by_profile]}) == 1
    contains = {"jsonPath": "$.data[*].email", "contains": "v@example"}
    assert count(traffic, {"api": "ecdp", "body": [contains]}) == 1
    assert count(traffic, {"body": [{"jsonPath": "$.mode", "equals": "AddOrUpdate"}]}) == 1
    assert (
        count(traffic, {"body": [{"jsonPath": "$.data", "contains": {"email": "v@example.com"}}]})
        == 1
    )
    assert count(traffic, {"body": [{"form": "type", "equals": "campaigns_list"}]}) == 1
    multipart = {k: (None, v) for k, v in {**CT, "type": "manage_fields", "action": "list"}.items()}
    assert traffic.post("/", files=multipart).status_code == 200
    assert count(traffic, {"body": [{"form": "type", "equals": "manage_fields"}]}) == 1
    assert count(traffic, {"body": [{"form": "ACTION", "equals": "list"}]}) == 1
    assert count(traffic, {"body": [{"xml": "Email", "equals": "x@example.com"}]}) == 1
    assert count(traffic, {"body": [{"xml": "record/Email", "equals": "x@example.com"}]}) == 1
    assert count(traffic, {"body": [{"xml": "Email", "equals": "y@example.com"}]}) == 0
    both = [by_profile, {"jsonPath": "$.customerSession.state", "equals": "open"}]
    assert count(traffic, {"body": both}) == 1
    # A body that is not JSON (or not XML) simply does not match.
    assert count(traffic, {"api": "customergauge", "body": [by_profile]}) == 0


@pytest.mark.parametrize(
    "matcher",
    [
        {"operaton": "x"},
        {"operation": "NoSuchOperation"},
        {"api": "talonone", "operation": "PostCustomers"},
        {"status": "2yy"},
        {"pathPattern": ""},
        {"body": [{"jsonPath": "customerSession", "equals": 1}]},
        {"body": [{"jsonPath": "$.a", "equals": 1, "contains": 2}]},
        {"body": [{"jsonPath": "$.a"}]},
        {"body": [{"form": "type", "contains": "x"}]},
        {"body": [{"xml": "a[", "equals": "x"}]},
        {"body": {"jsonPath": "$.a", "equals": 1}},
        [],
    ],
)
def test_refused_matchers_say_why(client: TestClient, matcher: Any) -> None:
    body = count(client, matcher, status=400)
    assert body["error"]


def test_a_body_that_is_not_json_is_refused(client: TestClient) -> None:
    response = client.post(
        "/__admin/requests/count", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


# --- GET /__admin/requests/unmatched -----------------------------------------------------------


def test_unmatched_requests_name_the_nearest_operation(traffic: TestClient) -> None:
    traffic.delete("/customers/id/1", headers=ECDP)  # a method the path does not answer
    traffic.post("/api.php", data={**CT, "type": "customer_serch"})  # a type it does not have
    response = traffic.get("/__admin/requests/unmatched")
    assert response.status_code == 200
    found = {(e["method"], e["path"]): e for e in response.json()["requests"]}
    assert set(found) == {
        ("POST", "/v1/events"),
        ("DELETE", "/customers/id/1"),
        ("POST", "/api.php"),
    }
    assert found[("POST", "/v1/events")]["nearest"] == {
        "operation": "TrackEventV2",
        "method": "POST",
        "path": "/v2/events",
    }
    assert found[("POST", "/v1/events")]["status"] == 404
    assert found[("DELETE", "/customers/id/1")]["nearest"]["operation"] == "GetCustomerById"
    assert found[("DELETE", "/customers/id/1")]["status"] == 405
    assert found[("POST", "/api.php")]["nearest"]["operation"] == "customer_search"
    assert (
        len(traffic.get("/__admin/requests/unmatched", params={"api": "ecdp"}).json()["requests"])
        == 1
    )
    assert traffic.get("/__admin/requests/unmatched", params={"x": "1"}).status_code == 400


def test_customergauge_paths_it_does_not_have_are_unmatched(client: TestClient) -> None:
    client.get("/v4.1/reports/nps.json", headers=CG)
    (entry,) = client.get("/__admin/requests/unmatched").json()["requests"]
    assert entry["api"] == "customergauge" and entry["status"] == 404
    assert entry["nearest"]["operation"]


# --- a request answered by a fault carries its operation ------------------------------------


def test_a_fault_answer_is_journaled_and_counted_with_its_operation(client: TestClient) -> None:
    rule = {"api": "talonone", "operation": "GetCustomerSession", "error": 503}
    assert client.post("/__admin/faults", json=rule).status_code == 201
    assert client.get("/v2/customer_sessions/s-9", headers=TALON).status_code == 503
    (entry,) = requests(client, status=503)
    assert entry["operation"] == "GetCustomerSession"
    metrics = client.get("/metrics").text
    assert (
        'simulator_requests_total{api="talonone",operation="GetCustomerSession",status="503"} 1'
        in metrics
    )
    # The header's faults too.
    response = client.get("/customers/id/1", headers={**ECDP, "X-Simulator-Fault": "error=502"})
    assert response.status_code == 502
    assert requests(client, status=502)[0]["operation"] == "GetCustomerById"
