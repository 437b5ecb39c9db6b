"""Fault rules through the admin API, applied in-process: each API's error shape, matching,
tenant isolation, limits on the tenant clock, the header, the faults file, the journal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS, ROOT

CG = DEFAULT_CREDENTIALS["customergauge"]
TALON = DEFAULT_CREDENTIALS["talonone"]
ECDP = DEFAULT_CREDENTIALS["ecdp"]
CT = DEFAULT_CREDENTIALS["clienttoolbox"]
CT_BATCH = {
    "type": "customers_batch",
    "delimiter": "pipe",
    "profiles_header_1": "code",
    "profiles_header_2": "first_name",
    "campaigns_to_include": "1111222233334444",
}


def add(client: TestClient, document: Any, status: int = 201) -> list[dict]:
    response = client.post("/__admin/faults", json=document)
    assert response.status_code == status, response.text
    return response.json().get("faults", [])


def rule_view(client: TestClient, rule_id: int) -> dict:
    response = client.get(f"/__admin/faults/{rule_id}")
    assert response.status_code == 200, response.text
    return response.json()


def journal(client: TestClient, **filters: Any) -> list[dict]:
    time.sleep(0.15)  # the journal is flushed a few times a second
    return client.get("/__admin/requests", params=filters).json()["requests"]


def ecdp_get(client: TestClient, headers: dict | None = None) -> Any:
    return client.get("/customers/id/1", headers={**ECDP, **(headers or {})})


def ct_post(client: TestClient, credentials: dict | None = None, **fields: str) -> Any:
    return client.post("/", data={**(credentials or CT), **fields})


# --- the admin API -------------------------------------------------------------------------


def test_rules_are_listed_with_hit_counts_and_deleted(client: TestClient) -> None:
    (rule,) = add(client, {"api": "ecdp", "method": "GET", "error": 503, "count": 2})
    assert rule["hits"] == 0 and rule["tenant"] is None and rule["source"] == "admin"
    assert [ecdp_get(client).status_code for _ in range(3)] == [503, 503, 200]
    listed = client.get("/__admin/faults").json()
    assert [(f["id"], f["hits"], f["matched"]) for f in listed["faults"]] == [(rule["id"], 2, 3)]
    assert set(listed["profiles"]) == {"flaky", "slow", "outage", "degraded"}
    assert client.delete(f"/__admin/faults/{rule['id']}").status_code == 204
    assert client.delete(f"/__admin/faults/{rule['id']}").status_code == 404
    assert client.get(f"/__admin/faults/{rule['id']}").status_code == 404
    assert client.get("/__admin/faults").json()["faults"] == []


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"error": 503, "tenant": "nobody"}, "[0].tenant"),
        ({"faults": [{"error": 503}, {"latency": "x"}]}, "faults[1].latency"),
        ({"error": 503, "count": 0}, "count"),
        ([{"profile": "nope"}], "[0].profile"),
    ],
)
def test_a_refused_document_stores_nothing(client: TestClient, document: Any, path: str) -> None:
    response = client.post("/__admin/faults", json=document)
    assert response.status_code == 400
    assert response.json()["path"] == path
    assert client.get("/__admin/faults").json()["faults"] == []


def test_a_body_that_is_not_json_is_refused(client: TestClient) -> None:
    response = client.post("/__admin/faults", content=b"{oops")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    assert client.post("/__admin/faults", content=b"").status_code == 400
    assert client.post("/__admin/faults", json=[]).status_code == 400


def test_the_admin_token_guards_faults(make_client) -> None:
    client = make_client(admin_token="s3cret")
    assert client.get("/__admin/faults").status_code == 401
    assert client.post("/__admin/faults", json={"error": 503}).status_code == 401
    assert client.delete("/__admin/faults").status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    assert client.post("/__admin/faults", json={"error": 503}, headers=auth).status_code == 201


def test_profiles_are_stored_as_their_rules(client: TestClient) -> None:
    rules = add(client, {"profile": "outage", "api": "talonone"})
    assert [(r["source"], r["api"], r["error"]["status"]) for r in rules] == [
        ("profile:outage", "talonone", 503)
    ]
    response = client.get("/v2/customer_sessions/s1", headers=TALON)
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert ecdp_get(client).status_code == 200  # scoped to Talon.One
    assert client.delete("/__admin/faults").json() == {"deleted": 1}


# --- each API's own error shape -------------------------------------------------------------


def test_customergauge_errors_in_json_and_xml(client: TestClient) -> None:
    add(client, {"api": "customergauge", "operation": "stream/transactional", "error": 503})
    response = client.post("/v4.1/stream/transactional.json", headers=CG, content=b"<x/>")
    assert response.status_code == 503
    assert response.json() == {
        "Error": {"Message": "Service temporarily unavailable", "Code": 500000}
    }
    response = client.post("/v4.1/stream/transactional.xml", headers=CG, content=b"<x/>")
    assert xmltodict.parse(response.text)["Error"]["Code"] == "500000"
    client.delete("/__admin/faults")
    add(client, {"api": "customergauge", "error": {"status": 429, "code": 300001}})
    response = client.post("/v4.1/stream/transactional.json", headers=CG, content=b"<x/>")
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["Error"]["Code"] == 300001


def test_talonone_409_on_parallel_writes_is_the_documented_one(client: TestClient) -> None:
    add(client, {"api": "talonone", "operation": "updatecustomersessionv2", "error": 409})
    response = client.put("/v2/customer_sessions/s1", headers=TALON, json={})
    assert response.status_code == 409
    body = response.json()
    assert body["StatusCode"] == 409
    assert body["message"] == "Too many requests or limit reached - Avoid parallel requests"
    assert isinstance(body["errors"], list) and body["errors"]
    # Another operation on the same path is left alone.
    assert client.get("/v2/customer_sessions/s1", headers=TALON).status_code != 409


def test_ecdp_errors_are_problem_json_with_retry_after(client: TestClient) -> None:
    add(client, {"api": "ecdp", "error": {"status": 503, "retry_after": 12, "message": "Down"}})
    response = ecdp_get(client)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "12"
    assert response.json()["detail"] == "Down" and response.json()["status"] == 503


def test_clienttoolbox_errors_follow_the_output_field(client: TestClient) -> None:
    add(client, {"api": "clienttoolbox", "error": 500})
    response = ct_post(client, **CT_BATCH, Profiles_Data="Z1|Zed\n")
    assert response.status_code == 500
    assert xmltodict.parse(response.text)["response"]["@status"] == "error"
    response = ct_post(client, **CT_BATCH, Profiles_Data="Z1|Zed\n", output="JSON")
    assert response.json() == {"status": "error", "error": "Internal server error"}


# --- matching --------------------------------------------------------------------------------


def test_clienttoolbox_operation_is_the_type_field_and_the_body_still_arrives(
    client: TestClient,
) -> None:
    add(client, {"api": "clienttoolbox", "operation": "batch_transactions", "error": 503})
    # Another type: the rule reads the form, and the handler still gets the whole body.
    response = ct_post(client, **CT_BATCH, Profiles_Data="Z2|Zed\n")
    assert response.status_code == 200, response.text
    assert client.get("/__admin/tenants/default/clienttoolbox/customers/Z2").status_code == 200
    response = ct_post(client, type="batch_transactions")
    assert response.status_code == 503


def test_path_method_and_header_narrow_a_rule(client: TestClient) -> None:
    add(
        client,
        {"path": "/customers/id/*", "method": "GET", "headers": {"X-Team": "blue*"}, "error": 502},
    )
    assert ecdp_get(client).status_code == 200
    assert ecdp_get(client, {"X-Team": "red"}).status_code == 200
    assert ecdp_get(client, {"X-Team": "blue-7"}).status_code == 502
    response = client.get("/customers/email/adam@example.com", headers={**ECDP, "X-Team": "blue"})
    assert response.status_code == 200


def test_tenant_rules_never_touch_other_tenants(client: TestClient, new_tenant) -> None:
    mine, other = new_tenant(), new_tenant()
    (rule,) = add(client, {"tenant": mine["id"], "api": "ecdp", "error": 503})
    mine_key = {"x-api-key": mine["credentials"]["ecdp"]["api_key"]}
    other_key = {"x-api-key": other["credentials"]["ecdp"]["api_key"]}
    assert client.get("/customers/id/1", headers=mine_key).status_code == 503
    assert client.get("/customers/id/1", headers=other_key).status_code == 200
    assert ecdp_get(client).status_code == 200
    assert client.get("/customers/id/1", headers={"x-api-key": "wrong"}).status_code == 401
    assert [
        f["id"] for f in client.get(f"/__admin/faults?tenant={mine['id']}").json()["faults"]
    ] == [rule["id"]]
    assert client.get(f"/__admin/faults?tenant={other['id']}").json()["faults"] == []
    entries = journal(client, tenant=mine["id"])
    assert [(e["status"], e["fault"]) for e in entries] == [(503, str(rule["id"]))]
    # A tenant's rules go with the tenant.
    assert client.delete(f"/__admin/tenants/{mine['id']}").status_code == 204
    assert client.get("/__admin/faults").json()["faults"] == []


def test_clienttoolbox_tenant_rules_use_its_credentials(client: TestClient, new_tenant) -> None:
    other = new_tenant()
    add(client, {"tenant": other["id"], "api": "clienttoolbox", "error": 503})
    assert ct_post(client, **CT_BATCH, Profiles_Data="Z3|Zed\n").status_code == 200
    credentials = {"API": "1.5", **other["credentials"]["clienttoolbox"]}
    assert ct_post(client, credentials, **CT_BATCH, Profiles_Data="Z3|Zed\n").status_code == 503


def test_ttl_runs_on_the_tenant_clock(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True}
    )
    (rule,) = add(client, {"tenant": "default", "api": "ecdp", "error": 503, "ttl_seconds": 60})
    assert rule["expires"] == "2030-01-01T00:01:00Z"
    assert ecdp_get(client).status_code == 503
    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 61})
    assert ecdp_get(client).status_code == 200


def test_a_window_on_the_tenant_clock(client: TestClient) -> None:
    client.put(
        "/__admin/tenants/default/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True}
    )
    window = {"start": "2030-01-01T01:00:00Z", "end": "2030-01-01T02:00:00Z"}
    add(client, {"tenant": "default", "api": "ecdp", "error": 503, "window": window})
    assert ecdp_get(client).status_code == 200
    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 3600})
    assert ecdp_get(client).status_code == 503
    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 3600})
    assert ecdp_get(client).status_code == 200


def test_after_lets_calls_through_first(client: TestClient) -> None:
    add(client, {"api": "ecdp", "error": 503, "after": 2, "count": 1})
    assert [ecdp_get(client).status_code for _ in range(4)] == [200, 200, 503, 200]


def test_probability_is_repeatable_with_the_seed(make_client) -> None:
    def run(seed: int) -> list[int]:
        client = make_client(seed=seed)
        client.delete("/__admin/faults")
        add(client, {"api": "ecdp", "error": 503, "probability": 0.5})
        return [ecdp_get(client).status_code for _ in range(30)]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert 5 < first.count(503) < 25


def test_error_outranks_latency_and_the_journal_names_both(client: TestClient) -> None:
    (slow,) = add(client, {"api": "ecdp", "latency": "5ms"})
    (failing,) = add(client, {"api": "ecdp", "error": 503})
    assert ecdp_get(client).status_code == 503
    (entry,) = journal(client, api="ecdp")
    assert entry["fault"] == f"{slow['id']},{failing['id']}"
    assert entry["tenant"] == "default" and entry["status"] == 503


def test_damaged_bodies_in_process(client: TestClient) -> None:
    add(client, {"api": "ecdp", "network": "malformed"})
    response = ecdp_get(client)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    client.delete("/__admin/faults")
    add(client, {"api": "ecdp", "network": {"action": "slow", "seconds": 0.05}})
    response = ecdp_get(client)
    assert response.status_code == 200 and response.json()["data"]["id"] == 1


def test_drops_without_the_socket_hook_answer_the_apis_500(client: TestClient) -> None:
    add(client, {"api": "ecdp", "network": "reset"})
    response = ecdp_get(client)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")


# --- the header ------------------------------------------------------------------------------


def test_the_header_injects_and_can_be_switched_off(make_client) -> None:
    client = make_client()
    response = ecdp_get(client, {"X-Simulator-Fault": "error=429, retry-after=3"})
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    (entry,) = journal(client, api="ecdp")
    assert entry["fault"] == "header" and entry["tenant"] == "default"
    bad = ecdp_get(client, {"X-Simulator-Fault": "explode"})
    assert bad.status_code == 400 and "X-Simulator-Fault" in bad.json()["detail"]
    sandbox = make_client(allow_fault_header=False)
    assert ecdp_get(sandbox, {"X-Simulator-Fault": "error=503"}).status_code == 200
    assert ecdp_get(sandbox, {"X-Simulator-Fault": "explode"}).status_code == 200


# --- the faults file -------------------------------------------------------------------------


def test_a_faults_file_is_loaded_once_at_start(make_client, tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "faults:\n"
        "  - {api: ecdp, method: GET, error: 503, count: 1}\n"
        "  - {profile: slow, api: talonone}\n"
    )
    client = make_client(faults=str(path))
    rules = client.get("/__admin/faults").json()["faults"]
    assert [r["source"] for r in rules] == ["file:faults.yaml"] * 2
    assert ecdp_get(client).status_code == 503
    assert ecdp_get(client).status_code == 200
    # A second process on the same store keeps the rules and their counts.
    again = make_client(faults=str(path))
    assert [(r["id"], r["hits"]) for r in again.get("/__admin/faults").json()["faults"]] == [
        (rules[0]["id"], 1),
        (rules[1]["id"], 0),
    ]


def test_a_bad_faults_file_stops_the_start(make_client, tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("- {api: ecdp, error: 99}\n")
    with pytest.raises(ValueError, match=r"\[0\]\.error\.status"):
        make_client(faults=str(path))


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "fixtures" / "faults").glob("*.yaml"))
)
def test_the_example_files_load(make_client, name: str) -> None:
    client = make_client(faults=str(ROOT / "fixtures" / "faults" / name))
    assert client.get("/__admin/faults").json()["faults"]
