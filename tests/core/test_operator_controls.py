"""Shared-sandbox controls: quotas in each API's shape, idle expiry, metrics, JSON logs."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from fastapi.testclient import TestClient

from simulator.core import quotas
from simulator.core.clock import real_now
from simulator.core.db import new_session
from simulator.core.logs import JsonFormatter
from simulator.core.models import Tenant
from tests.conftest import DEFAULT_CREDENTIALS
from tests.core.test_tenants_and_auth import with_test_routes


def talon_headers(tenant: dict) -> dict:
    return {"Authorization": f"ApiKey-v1 {tenant['credentials']['talonone']['api_key']}"}


def test_requests_per_second_quota_stops_one_tenant_only(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    limited = new_tenant()
    response = client.put(f"/__admin/tenants/{limited['id']}/quotas", json={"requestsPerSecond": 3})
    assert response.json()["requestsPerSecond"] == 3
    statuses = [
        client.get("/v1/test/whoami", headers=talon_headers(limited)).status_code for _ in range(8)
    ]
    assert 429 in statuses
    refused = client.get("/v1/test/whoami", headers=talon_headers(limited))
    if refused.status_code == 429:  # still within the same second
        assert refused.json()["StatusCode"] == 429
        assert refused.headers["Retry-After"] == "1"
    others = [
        client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"]).status_code
        for _ in range(8)
    ]
    assert others == [200] * 8


def test_quota_refusal_uses_each_api_shape(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    tenant = new_tenant()
    client.put(f"/__admin/tenants/{tenant['id']}/quotas", json={"records": 0})
    creds = tenant["credentials"]
    # A write over the records quota is refused; reads stay allowed.
    counter = client.post("/v1/test/counter", headers=talon_headers(tenant))
    assert counter.status_code == 429
    assert counter.json()["StatusCode"] == 429
    assert "quota" in counter.json()["message"]
    reads = client.get("/v1/test/whoami", headers=talon_headers(tenant))
    assert reads.status_code == 200
    ct = client.post("/api.php", data={**creds["clienttoolbox"], "output": "JSON"})
    assert ct.status_code == 429
    assert ct.json()["status"] == "error"
    lifted = client.put(f"/__admin/tenants/{tenant['id']}/quotas", json={})
    assert lifted.json()["records"] is None
    assert client.post("/v1/test/counter", headers=talon_headers(tenant)).status_code == 200


def test_journal_quota_bounds_one_tenant(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    tenant = new_tenant()
    client.put(f"/__admin/tenants/{tenant['id']}/quotas", json={"journalEntries": 2})
    for _ in range(5):
        client.get("/v1/test/whoami", headers=talon_headers(tenant))
        client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"])
    assert len(client.get(f"/__admin/requests?tenant={tenant['id']}").json()["requests"]) == 2
    assert len(client.get("/__admin/requests?tenant=default").json()["requests"]) == 5


def test_idle_tenants_expire_but_default_stays(client: TestClient, new_tenant) -> None:
    idle = new_tenant()
    active = new_tenant()
    engine = client.app.state.engine
    with new_session(engine) as session:
        for tenant_id in (idle["id"], "default"):
            row = session.get(Tenant, tenant_id)
            row.created_at = real_now() - timedelta(hours=3)
            row.last_seen_at = None
            session.add(row)
        session.commit()
    removed = quotas.expire_idle(engine, idle_seconds=3600, keep={"default"})
    assert removed == [idle["id"]]
    assert client.get(f"/__admin/tenants/{idle['id']}").status_code == 404
    assert client.get(f"/__admin/tenants/{active['id']}").status_code == 200
    assert client.get("/__admin/tenants/default").status_code == 200


def test_metrics_count_requests_by_api_operation_status(client: TestClient) -> None:
    with_test_routes(client)
    client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"])
    client.get("/v1/test/whoami", headers={"Authorization": "ApiKey-v1 bad"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'simulator_requests_total{api="talonone",operation="",status="200"} 1' in text
    assert 'simulator_requests_total{api="talonone",operation="",status="401"} 1' in text
    assert 'simulator_request_duration_seconds_count{api="talonone"} 2' in text
    assert "simulator_tenants 1" in text


def test_json_log_lines_carry_request_fields() -> None:
    record = logging.LogRecord("simulator.access", logging.INFO, "", 0, "GET /x 200", (), None)
    record.request_id = "abc"
    record.tenant = "default"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x 200"
    assert line["request_id"] == "abc"
    assert line["tenant"] == "default"
    assert line["level"] == "info"


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    with_test_routes(client)
    given = client.get(
        "/v1/test/whoami", headers={**DEFAULT_CREDENTIALS["talonone"], "X-Request-Id": "req-42"}
    )
    assert given.headers["x-request-id"] == "req-42"
    made = client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"])
    assert len(made.headers["x-request-id"]) == 32


def test_metrics_count_even_with_the_journal_off(make_client) -> None:
    client = with_test_routes(make_client(journal_enabled=False))
    client.get("/v1/test/whoami", headers=DEFAULT_CREDENTIALS["talonone"])
    assert 'api="talonone",operation="",status="200"} 1' in client.get("/metrics").text


def test_access_log_line_has_request_id_and_tenant(make_client, caplog) -> None:
    client = with_test_routes(make_client(access_log=True))
    with caplog.at_level(logging.INFO, logger="simulator.access"):
        client.get(
            "/v1/test/whoami", headers={**DEFAULT_CREDENTIALS["talonone"], "X-Request-Id": "r-1"}
        )
    records = [r for r in caplog.records if r.name == "simulator.access"]
    assert records and records[-1].request_id == "r-1"
    assert records[-1].tenant == "default"
    assert records[-1].status == 200


def test_ecdp_lookups_count_towards_the_rate_quota(client: TestClient, new_tenant) -> None:
    tenant = new_tenant()
    client.put(f"/__admin/tenants/{tenant['id']}/quotas", json={"requestsPerSecond": 2})
    headers = {"x-api-key": tenant["credentials"]["ecdp"]["api_key"]}
    statuses = [
        client.get("/customers/email/adam@example.com", headers=headers).status_code
        for _ in range(6)
    ]
    assert statuses.count(200) >= 2 and 429 in statuses


def test_a_database_write_conflict_is_a_native_409(client: TestClient) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from tests.core.routers import router as test_router

    @test_router.get("/v1/test/conflict")
    async def conflict():
        raise OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))

    with_test_routes(client)
    response = client.get("/v1/test/conflict", headers=DEFAULT_CREDENTIALS["talonone"])
    assert response.status_code == 409
    assert response.json()["StatusCode"] == 409
    test_router.routes.pop()


def test_metrics_labels_are_bounded_whatever_the_clients_send(client: TestClient) -> None:
    """ClientToolbox names its call in a form field: unknown values share one label, so a
    client cannot grow the metrics without bound (nor break them with odd text)."""
    fields = {**DEFAULT_CREDENTIALS["clienttoolbox"], "output": "JSON"}
    for value in ("made-up-1", "made-up-2", "x" * 500):
        response = client.post("/api.php", data={**fields, "type": value})
        assert response.status_code == 400
    response = client.get("/metrics")
    assert response.status_code == 200
    operations = {
        line.split('operation="')[1].split('"')[0]
        for line in response.text.splitlines()
        if line.startswith('simulator_requests_total{api="clienttoolbox"')
    }
    assert operations == {"unknown"}
