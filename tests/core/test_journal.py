"""The request journal: every API request recorded, filterable, bounded per tenant."""

from __future__ import annotations

import contextlib
import sqlite3

from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS, create_tenant
from tests.core.test_tenants_and_auth import with_test_routes

TALON = DEFAULT_CREDENTIALS["talonone"]


def journal(client: TestClient, **filters) -> list[dict]:
    response = client.get("/__admin/requests", params=filters)
    assert response.status_code == 200
    return response.json()["requests"]


def test_api_requests_are_recorded_with_tenant_api_status(client: TestClient) -> None:
    with_test_routes(client)
    client.get("/v1/test/whoami?x=1", headers=TALON)
    client.get("/customers/test/whoami", headers={"x-api-key": "bad"})
    client.get("/__admin/tenants")  # admin calls are not journaled
    entries = journal(client)
    assert [e["api"] for e in entries] == ["ecdp", "talonone"]
    talon = entries[1]
    assert talon["tenant"] == "default"
    assert talon["method"] == "GET"
    assert talon["path"] == "/v1/test/whoami"
    assert talon["query"] == "x=1"
    assert talon["status"] == 200
    assert '"tenant":"default"' in talon["responseBody"]
    assert "authorization" not in talon["requestHeaders"]
    assert entries[0]["tenant"] is None
    assert entries[0]["status"] == 401


def test_filters(client: TestClient) -> None:
    with_test_routes(client)
    for _ in range(3):
        client.get("/v1/test/whoami", headers=TALON)
    client.get("/v1/test/whoami", headers={"Authorization": "ApiKey-v1 bad"})
    client.post("/v1/test/counter", headers=TALON)
    assert len(journal(client, api="talonone")) == 5
    assert len(journal(client, status=401)) == 1
    assert len(journal(client, method="post")) == 1
    assert len(journal(client, path="counter")) == 1
    assert len(journal(client, path="/v1/*/whoami")) == 4
    assert len(journal(client, tenant="default")) == 4
    assert len(journal(client, limit=2)) == 2
    assert journal(client, api="ecdp") == []
    newest = journal(client, limit=1)[0]
    assert len(journal(client, since=newest["time"])) >= 1
    assert client.get("/__admin/requests", params={"limit": 0}).status_code == 400


def test_bounded_per_tenant_oldest_dropped(make_client) -> None:
    client = with_test_routes(make_client(journal_max_entries=5))
    for i in range(12):
        client.get(f"/v1/test/whoami?i={i}", headers=TALON)
    entries = journal(client, tenant="default")
    assert [e["query"] for e in entries] == [f"i={i}" for i in range(11, 6, -1)]


def test_the_bound_holds_at_every_read_however_the_entries_were_flushed(make_client) -> None:
    """Writes trim lazily (every tenth of the bound); a read always sees the bound exactly."""
    client = with_test_routes(make_client(journal_max_entries=20))
    for i in range(45):
        client.get(f"/v1/test/whoami?i={i}", headers=TALON)
        if i % 7 == 0:
            client.app.state.journal.flush()  # many small batches, as under load
    entries = journal(client, tenant="default", limit=100)
    assert [e["query"] for e in entries] == [f"i={i}" for i in range(44, 24, -1)]


def test_bodies_are_truncated(make_client) -> None:
    client = with_test_routes(make_client(journal_body_bytes=10))
    client.post("/v1/test/counter", headers=TALON, content=b"0123456789abcdef")
    entry = journal(client)[0]
    assert entry["requestBody"] == "0123456789…"


def test_clear_and_switch_off(make_client) -> None:
    client = with_test_routes(make_client())
    client.get("/v1/test/whoami", headers=TALON)
    assert client.delete("/__admin/requests").json()["deleted"] == 1
    assert journal(client) == []
    quiet = with_test_routes(make_client(journal_enabled=False))
    quiet.get("/v1/test/whoami", headers=TALON)
    assert journal(quiet) == []


def test_deleting_a_tenant_removes_its_journal(client: TestClient, new_tenant) -> None:
    with_test_routes(client)
    tenant = new_tenant()
    key = tenant["credentials"]["talonone"]["api_key"]
    client.get("/v1/test/whoami", headers={"Authorization": f"ApiKey-v1 {key}"})
    assert len(journal(client, tenant=tenant["id"])) == 1
    client.delete(f"/__admin/tenants/{tenant['id']}")
    assert journal(client, tenant=tenant["id"]) == []


def test_entries_are_stored_as_recorded_whatever_they_hold(client: TestClient) -> None:
    """The writer stores a batch in one statement (SQLite reads its rows from JSON): every
    column comes back as it was recorded, odd text and numbers included."""
    with_test_routes(client)
    body = 'é "quoted" \\ back\nline 😀 \x01'
    client.post("/v1/test/counter?a=%C3%A9&b=1", headers=TALON, content=body.encode())
    entry = journal(client, tenant="default")[0]
    assert entry["requestBody"] == body
    assert entry["query"] == "a=%C3%A9&b=1"
    assert entry["path"] == "/v1/test/counter"
    assert entry["fault"] is None
    assert isinstance(entry["status"], int) and isinstance(entry["durationMs"], float)
    assert entry["time"].endswith("Z")


def test_on_sqlite_the_journal_has_a_file_of_its_own(client: TestClient, new_tenant) -> None:
    """Its writes never wait for the store's write lock; deleting a tenant clears it there."""
    from simulator.core import journal as journal_module

    engine = client.app.state.engine
    path = journal_module.journal_path(engine)
    if engine.dialect.name != "sqlite":
        assert path is None and journal_module.store_of(engine) is engine
        return
    with_test_routes(client)
    tenant = new_tenant()
    key = tenant["credentials"]["talonone"]["api_key"]
    client.get("/v1/test/whoami", headers={"Authorization": f"ApiKey-v1 {key}"})
    assert len(journal(client, tenant=tenant["id"])) == 1
    assert path.name == "simulator.requests.db" and path.exists()
    assert journal_module.store_of(engine) is not engine
    with contextlib.closing(sqlite3.connect(path)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    assert page_size == journal_module.JOURNAL_PAGE_SIZE == 32_768
    client.delete(f"/__admin/tenants/{tenant['id']}")
    assert journal(client, tenant=tenant["id"]) == []


# --- hostile entries: sanitised, and one that cannot be stored costs no other entry ----------


def dropped_counter(client: TestClient) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("simulator_journal_entries_dropped_total "):
            return float(line.split()[1])
    raise AssertionError("no simulator_journal_entries_dropped_total in /metrics")


def test_a_nul_in_a_path_costs_no_entry_of_its_batch(make_client) -> None:
    """One request with %00 in its path used to fail its whole batch on PostgreSQL (every
    tenant's entries of that batch lost); it is now stored with the NUL replaced."""
    client = make_client(journal_flush_seconds=3600)  # everything lands in one batch
    other = create_tenant(client)
    keys = {
        "default": "ecdp-sandbox-key",
        other["id"]: other["credentials"]["ecdp"]["api_key"],
    }
    for i in range(30):
        for key in keys.values():
            client.get(f"/customers/email/user{i}@example.com", headers={"x-api-key": key})
        if i == 15:
            client.get(
                "/customers/email/a%00b@example.com", headers={"x-api-key": "ecdp-sandbox-key"}
            )
    for tenant_id in keys:
        entries = journal(client, tenant=tenant_id, path="/customers/email/user", limit=1000)
        assert len(entries) == 30, tenant_id
    nul = journal(client, path="a*b@example.com")
    assert [e["path"] for e in nul] == ["/customers/email/a\ufffdb@example.com"]
    assert dropped_counter(client) == 0


def test_text_the_store_refuses_is_stored_clipped_or_replaced(make_client) -> None:
    """Over-long paths (a VARCHAR on PostgreSQL), lone surrogates, NULs in every field."""
    client = make_client(journal_flush_seconds=3600)
    long_path = "/customers/email/" + "x" * 3000
    client.get(long_path, headers={"x-api-key": "ecdp-sandbox-key"})
    journal_ = client.app.state.journal
    journal_.record(
        entry(
            tenant_id="default",
            operation="op\ud800\x00" + "o" * 200,
            query="q=\udfff\x00",
            request_headers='{"user-agent":"a\\u0000b"}',
            request_body="body\x00\ud83d",
            response_body="\x00",
            fault="f\x00" * 150,
            method="G\x00ET-EXTENSION",
        )
    )
    entries = {e["path"]: e for e in journal(client, tenant="default", limit=10)}
    assert len(entries) == 2
    long = next(e for p, e in entries.items() if p.startswith("/customers/email/"))
    assert len(long["path"]) <= 2000 and long["path"].startswith("/customers/email/xxx")
    odd = entries["/odd"]
    assert odd["operation"].startswith("op\ufffd\ufffd") and len(odd["operation"]) <= 128
    assert odd["query"] == "q=\ufffd\ufffd"
    assert odd["requestBody"] == "body\ufffd\ufffd"
    assert odd["responseBody"] == "\ufffd"
    assert "\x00" not in odd["fault"] and len(odd["fault"]) <= 200
    assert len(odd["method"]) <= 10
    assert dropped_counter(client) == 0


def entry(**fields) -> dict:
    from simulator.core.clock import real_now

    return {
        "tenant_id": None,
        "request_id": None,
        "api": "ecdp",
        "operation": "",
        "method": "GET",
        "path": "/odd",
        "query": "",
        "status": 200,
        "duration_ms": 1.0,
        "fault": None,
        "request_headers": "{}",
        "request_body": "",
        "response_body": "",
        "created_at": real_now(),
        **fields,
    }


def test_an_entry_the_store_refuses_is_dropped_alone_and_counted(make_client) -> None:
    """Whatever an entry holds that no sanitising fixes, the rest of its batch is stored (of
    every tenant) and /metrics counts the one dropped."""
    client = make_client(journal_flush_seconds=3600)
    journal_ = client.app.state.journal
    for i in range(60):
        journal_.record(entry(tenant_id=("default", None)[i % 2], path=f"/ok/{i}"))
        if i == 41:
            journal_.record(entry(tenant_id="default", path="/poison", request_body=object()))
    stored = journal(client, limit=1000)
    assert sorted(e["path"] for e in stored) == sorted(f"/ok/{i}" for i in range(60))
    assert dropped_counter(client) == 1
    metrics = client.get("/metrics").text
    assert "# TYPE simulator_journal_entries_dropped_total counter" in metrics
