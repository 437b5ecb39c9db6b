"""The stream queue: processing into the mail queue, sending on the tenant clock, suppression,
retries with back-off, arrival order, the background worker, pause and restart."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_tenant
from tests.customergauge.helpers import (
    ADMIN,
    file_status,
    mails,
    process,
    set_clock,
    upload,
    uploads,
)


def wait_until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def fail_next_attempts(client: TestClient, tenant: str, *messages: str) -> None:
    """The tenant's next processing attempts fail, one for each message, in order (stream
    fault rules, as an integrator would set them)."""
    for message in messages:
        rule = {
            "api": "customergauge",
            "operation": "stream.process",
            "tenant": tenant,
            "count": 1,
            "error": {"status": 500, "message": message},
        }
        assert client.post("/__admin/faults", json=rule).status_code == 201


@pytest.fixture
def quiet(make_client) -> TestClient:
    """A server without the background worker: only admin `process` moves the queue."""
    return make_client(run_worker=False)


def tenant_with(client: TestClient, _unused=None, **section) -> tuple[str, dict[str, str]]:
    tenant = create_tenant(client, {"customergauge": section})
    key = tenant["credentials"]["customergauge"]["api_key"]
    return tenant["id"], {"Authorization": f"api_key {key}"}


def test_processing_sends_immediately_by_default(quiet: TestClient) -> None:
    set_clock(quiet, "2026-03-01T09:00:00Z")
    upload(quiet, {"Email": "Ann@Example.com", "FirstName": "Ann"})
    summary = process(quiet)
    assert summary["processed"] == [1]
    assert summary["sent"] == 1
    [mail] = mails(quiet)
    assert mail["status"] == "sent"
    assert mail["sendAt"] == mail["sentAt"] == "2026-03-01T09:00:00Z"
    [status] = file_status(quiet)
    assert (status["status"], status["successful_records"], status["logs"]) == (
        "Processed",
        "1",
        [],
    )


def test_send_delay_holds_mail_until_the_tenant_clock_passes_it(quiet: TestClient) -> None:
    tenant, auth = tenant_with(quiet, send_delay_seconds=3600)
    set_clock(quiet, "2026-03-01T09:00:00Z", tenant)
    upload(quiet, {"Email": "a@example.com"}, headers=auth)
    process(quiet, tenant)
    [mail] = mails(quiet, tenant)
    assert (mail["status"], mail["sendAt"], mail["sentAt"]) == (
        "queued",
        "2026-03-01T10:00:00Z",
        None,
    )
    quiet.post(f"/__admin/tenants/{tenant}/clock/advance", json={"seconds": 3599})
    assert mails(quiet, tenant)[0]["status"] == "queued"
    quiet.post(f"/__admin/tenants/{tenant}/clock/advance", json={"seconds": 1})
    [mail] = mails(quiet, tenant)
    assert (mail["status"], mail["sentAt"]) == ("sent", "2026-03-01T10:00:00Z")


def test_order_date_sets_the_send_time_and_a_renamed_field_is_honoured(quiet: TestClient) -> None:
    set_clock(quiet, "2026-03-01T09:00:00Z")
    upload(
        quiet,
        {"Email": "past@example.com", "order_date": "2026-02-01 08:00:00"},
        {"Email": "future@example.com", "order_date": "2026-03-05 12:30:00"},
        {"Email": "dayonly@example.com", "order_date": "2026-03-02"},
    )
    process(quiet)
    by_email = {m["email"]: m for m in mails(quiet)}
    assert by_email["past@example.com"]["status"] == "sent"
    assert by_email["future@example.com"]["status"] == "queued"
    assert by_email["future@example.com"]["sendAt"] == "2026-03-05T12:30:00Z"
    assert by_email["dayonly@example.com"]["sendAt"] == "2026-03-02T00:00:00Z"
    set_clock(quiet, "2026-03-05T12:30:00Z")
    assert {m["email"] for m in mails(quiet, status="sent")} == {
        "past@example.com",
        "future@example.com",
        "dayonly@example.com",
    }

    tenant, auth = tenant_with(quiet, send_date_field="visit_date", send_delay_seconds=86400)
    set_clock(quiet, "2026-03-01T09:00:00Z", tenant)
    upload(
        quiet,
        {"Email": "v@example.com", "visit_date": "2026-03-01 10:00:00", "order_date": "x"},
        headers=auth,
    )
    process(quiet, tenant)
    [mail] = mails(quiet, tenant)
    assert (mail["status"], mail["sendAt"]) == ("queued", "2026-03-02T10:00:00Z")


def test_unsubscribed_and_bounced_addresses_are_suppressed(quiet: TestClient) -> None:
    upload(
        quiet,
        {"Email": "UNSUBSCRIBED@example.com"},
        {"Email": "bounced@example.com"},
        {"Email": "fine@example.com"},
    )
    process(quiet)
    statuses = {m["email"]: (m["status"], m["reason"]) for m in mails(quiet)}
    assert statuses == {
        "UNSUBSCRIBED@example.com": ("suppressed", "Email address is on the unsubscribe list"),
        "bounced@example.com": ("suppressed", "Email address is on the bounce list"),
        "fine@example.com": ("sent", None),
    }
    # Suppressed records were imported: they count as successful and are not in the log.
    [status] = file_status(quiet)
    assert (status["successful_records"], status["logs"]) == ("3", [])


def test_an_address_unsubscribed_before_its_send_time_is_suppressed_then(quiet: TestClient) -> None:
    tenant, auth = tenant_with(quiet, send_delay_seconds=600)
    set_clock(quiet, "2026-03-01T09:00:00Z", tenant)
    upload(
        quiet, {"Email": "late@example.com"}, {"Email": "bounce-later@example.com"}, headers=auth
    )
    process(quiet, tenant)
    response = quiet.post(
        "/v4.1/lists/unsubscribe.json", data={"email": "late@example.com"}, headers=auth
    )
    assert response.json() == {"Data": {"Message": "Record added"}}
    bounce = quiet.post(
        ADMIN.format(tenant=tenant) + "/bounces",
        json={"email": "bounce-later@example.com", "reason": "550"},
    )
    assert bounce.status_code == 201
    quiet.post(f"/__admin/tenants/{tenant}/clock/advance", json={"minutes": 10})
    statuses = {m["email"]: (m["status"], m["reason"]) for m in mails(quiet, tenant)}
    assert statuses == {
        "late@example.com": ("suppressed", "Email address is on the unsubscribe list"),
        "bounce-later@example.com": ("suppressed", "Email address is on the bounce list"),
    }


def test_mail_queue_filters(quiet: TestClient) -> None:
    upload(quiet, {"Email": "a@example.com"}, {"FirstName": "no mail"})
    upload(quiet, {"Email": "a@example.com"}, {"Email": "b@example.com"})
    process(quiet)
    assert len(mails(quiet)) == 4
    assert [(m["upload"], m["record"]) for m in mails(quiet, email="A@example.com")] == [
        (1, 1),
        (2, 1),
    ]
    assert [m["email"] for m in mails(quiet, upload=2)] == ["a@example.com", "b@example.com"]
    assert [m["record"] for m in mails(quiet, status="invalid")] == [2]
    bad = quiet.get(ADMIN.format(tenant="default") + "/mail-queue", params={"status": "lost"})
    assert bad.status_code == 400
    assert [u["id"] for u in uploads(quiet, status="Processed")] == [1, 2]


def test_a_failing_attempt_is_retried_then_failed_and_later_uploads_wait(
    quiet: TestClient,
) -> None:
    tenant, auth = tenant_with(quiet, max_attempts=2, retry_backoff_seconds=30)
    quiet.post(ADMIN.format(tenant=tenant) + "/worker/pause")
    upload(quiet, {"Email": "first@example.com"}, headers=auth)
    upload(quiet, {"Email": "second@example.com"}, headers=auth)
    fail_next_attempts(quiet, tenant, "store unavailable", "store still unavailable")

    summary = process(quiet, tenant)
    assert (summary["retrying"], summary["processed"]) == ([1], [])
    first, second = uploads(quiet, tenant)
    assert (first["status"], first["attempts"], first["lastError"]) == (
        "Queued",
        1,
        "store unavailable",
    )
    assert first["nextAttempt"] is not None
    assert second["status"] == "Queued"  # arrival order: it waits behind the first

    # The first fails for good; the second, no longer behind it, goes in the same pass.
    summary = process(quiet, tenant)
    assert (summary["failed"], summary["processed"]) == ([1], [2])
    first = uploads(quiet, tenant)[0]
    assert (first["status"], first["attempts"]) == ("Failed", 2)
    [status] = file_status(quiet, auth=auth, id=1)
    assert status["status"] == "Failed"
    assert status["logs"] == ["Processing failed after 2 attempts: store still unavailable"]
    assert mails(quiet, tenant, upload=1) == []
    assert [m["email"] for m in mails(quiet, tenant)] == ["second@example.com"]


def test_the_background_worker_processes_uploads_by_itself(client: TestClient) -> None:
    upload(client, {"Email": "bg@example.com"})
    wait_until(lambda: file_status(client)[0]["status"] == "Processed")
    wait_until(lambda: [m["status"] for m in mails(client)] == ["sent"])


def test_a_paused_tenant_is_skipped_by_the_worker_and_resumes(client: TestClient) -> None:
    paused = client.post(ADMIN.format(tenant="default") + "/worker/pause")
    assert paused.json()["paused"] is True
    upload(client, {"Email": "waits@example.com"})
    other, other_auth = tenant_with(client)
    upload(client, {"Email": "goes@example.com"}, headers=other_auth)
    # The worker takes uploads in id order: once the later one is done, it passed the first.
    wait_until(lambda: file_status(client, auth=other_auth)[0]["status"] == "Processed")
    assert file_status(client)[0]["status"] == "Queued"
    state = client.get(ADMIN.format(tenant="default") + "/worker").json()
    assert state == {"tenant": "default", "paused": True, "workerInThisProcess": True}
    client.post(ADMIN.format(tenant="default") + "/worker/resume")
    wait_until(lambda: file_status(client)[0]["status"] == "Processed")


def test_queued_uploads_resume_after_a_restart(make_client) -> None:
    first = make_client(run_worker=False)
    for n in range(3):
        assert upload(first, {"Email": f"r{n}@example.com"}).status_code == 200
    first.__exit__(None, None, None)
    second = make_client()
    wait_until(lambda: [s["status"] for s in file_status(second)] == ["Processed"] * 3)
    assert [m["email"] for m in mails(second)] == [f"r{n}@example.com" for n in range(3)]


def test_simulated_processing_time_keeps_an_upload_processing(client: TestClient) -> None:
    tenant, auth = tenant_with(client, processing_ms_per_upload=400)
    upload(client, {"Email": "slow@example.com"}, headers=auth)
    wait_until(lambda: file_status(client, auth=auth)[0]["status"] == "Processing")
    wait_until(lambda: file_status(client, auth=auth)[0]["status"] == "Processed")
    assert uploads(client, tenant)[0]["attempts"] == 1


def test_a_stream_fault_rule_fails_attempts_until_it_is_spent(quiet: TestClient) -> None:
    rule = {
        "api": "customergauge",
        "operation": "stream.process",
        "tenant": "default",
        "count": 1,
        "error": {"status": 500, "message": "mail server unavailable"},
    }
    assert quiet.post("/__admin/faults", json=rule).status_code == 201
    upload(quiet, {"Email": "f@example.com"})
    assert process(quiet)["retrying"] == [1]
    [first] = uploads(quiet)
    assert (first["status"], first["lastError"]) == ("Queued", "mail server unavailable")
    assert process(quiet)["processed"] == [1]
    assert uploads(quiet)[0]["attempts"] == 2


def test_run_worker_forever_is_a_worker_of_its_own(quiet: TestClient) -> None:
    """What `simulator worker` runs: the same loop, outside any server."""
    import asyncio
    import contextlib

    from simulator.customergauge.worker import run_worker_forever

    upload(quiet, {"Email": "standalone@example.com"})
    engine = quiet.app.state.engine

    async def run_until_processed() -> None:
        task = asyncio.create_task(run_worker_forever(engine, quiet.app.state.settings))
        try:
            deadline = time.monotonic() + 20
            while file_status(quiet)[0]["status"] != "Processed":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(run_until_processed())
    assert [m["email"] for m in mails(quiet)] == ["standalone@example.com"]
