"""Stream-queue faults: a `stream.process` rule fails the CustomerGauge worker's attempt, the
worker retries, and the queue recovers."""

from __future__ import annotations

from tests.conftest import DEFAULT_CREDENTIALS, create_tenant

UPLOAD = (
    "<?xml version='1.0' encoding='utf-8'?><records><record><Email>a@example.com</Email>"
    "<FirstName>Lee</FirstName><order_date>2026-01-02 10:00:00</order_date></record></records>"
)
HEADERS = {**DEFAULT_CREDENTIALS["customergauge"], "content-type": "application/xml"}


def test_the_queue_recovers_after_injected_processing_failures(make_client) -> None:
    client = make_client(run_worker=False)
    rule = {
        "tenant": "default",
        "api": "customergauge",
        "operation": "stream.process",
        "count": 1,
        "error": {"status": 500, "message": "Mail server unavailable"},
    }
    assert client.post("/__admin/faults", json=rule).status_code == 201
    upload = client.post("/v4.1/stream/transactional.json", content=UPLOAD, headers=HEADERS)
    assert upload.status_code == 200
    upload_id = upload.headers["x-upload-id"]

    first = client.post("/__admin/tenants/default/customergauge/process").json()
    assert first["retrying"] == [int(upload_id)] and first["processed"] == []
    state = client.get(f"/__admin/tenants/default/customergauge/uploads/{upload_id}").json()
    assert state["status"] == "Queued" and state["lastError"] == "Mail server unavailable"

    client.post("/__admin/tenants/default/clock/advance", json={"seconds": 120})
    second = client.post("/__admin/tenants/default/customergauge/process").json()
    assert second["processed"] == [int(upload_id)]
    state = client.get(f"/__admin/tenants/default/customergauge/uploads/{upload_id}").json()
    assert state["status"] == "Processed" and state["attempts"] == 2
    (view,) = client.get("/__admin/faults").json()["faults"]
    assert view["hits"] == 1


def test_another_tenants_stream_rule_leaves_this_queue_alone(make_client) -> None:
    client = make_client(run_worker=False)  # the only app on this store: no worker races us
    other = create_tenant(client)
    rule = {
        "tenant": other["id"],
        "api": "customergauge",
        "operation": "stream.process",
        "error": 500,
    }
    assert client.post("/__admin/faults", json=rule).status_code == 201
    upload = client.post("/v4.1/stream/transactional.json", content=UPLOAD, headers=HEADERS)
    result = client.post("/__admin/tenants/default/customergauge/process").json()
    assert result["processed"] == [int(upload.headers["x-upload-id"])]
