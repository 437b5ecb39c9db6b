"""The admin reads the Inspector added (each API's paged lists), its login and the journal's
response headers, through the HTTP API in-process: paging, filters and 4xx on bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEFAULT_CREDENTIALS

T = "/__admin/tenants/default"


def test_the_journal_keeps_the_answer_headers_and_reads_entries_after_an_id(
    client: TestClient,
) -> None:
    first = client.get("/customerconsents", headers=DEFAULT_CREDENTIALS["ecdp"])
    client.get("/customerattributes", headers=DEFAULT_CREDENTIALS["ecdp"])
    entries = client.get("/__admin/requests", params={"tenant": "default"}).json()["requests"]
    newest, older = entries[0], entries[1]
    assert older["path"] == "/customerconsents"
    assert older["responseHeaders"]["x-request-id"] == first.headers["x-request-id"]
    assert older["responseHeaders"]["content-type"].startswith("application/json")
    after = client.get("/__admin/requests", params={"after": older["id"]}).json()["requests"]
    assert [e["id"] for e in after] == [newest["id"]]
    for bad in ("-1", "x", "1.5"):
        answer = client.get("/__admin/requests", params={"after": bad})
        assert answer.status_code == 400 and "after" in answer.json()["error"]


def test_a_journal_file_of_an_older_version_gains_the_headers_column(tmp_path: Any) -> None:
    import sqlite3

    from simulator.core import journal
    from simulator.core.db import make_engine

    store = tmp_path / "old.db"
    path = tmp_path / "old.requests.db"
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE journal_entry (id INTEGER PRIMARY KEY, tenant_id VARCHAR(64), api VARCHAR(32)"
        " NOT NULL, operation VARCHAR(128) NOT NULL, method VARCHAR(10) NOT NULL, path"
        " VARCHAR(2000) NOT NULL, query TEXT NOT NULL, status INTEGER NOT NULL, duration_ms FLOAT"
        " NOT NULL, fault VARCHAR(200), request_headers TEXT NOT NULL, request_body TEXT NOT NULL,"
        " response_body TEXT NOT NULL, created_at DATETIME NOT NULL)"
    )
    connection.execute(
        "INSERT INTO journal_entry VALUES (1, 'default', 'ecdp', '', 'GET', '/x', '', 200, 1.0,"
        " NULL, '{}', '', '', '2026-01-01 00:00:00')"
    )
    connection.commit()
    connection.close()
    engine = make_engine(f"sqlite:///{store}")
    try:
        entries = journal.search(engine, journal.JournalFilter())
        assert entries[0]["responseHeaders"] == {}
    finally:
        journal.close_store(engine)
        engine.dispose()


# --- login ---------------------------------------------------------------------------------


@pytest.fixture
def guarded(make_client: Any) -> TestClient:
    return make_client(admin_token="page-token")


def test_the_login_trades_the_token_for_a_cookie_the_guard_accepts(guarded: TestClient) -> None:
    assert guarded.get("/__admin/tenants").status_code == 401
    page = guarded.get("/__admin/ui/tenants", headers={"accept": "text/html"})
    assert page.status_code == 401 and 'name="token"' in page.text
    assert guarded.get("/__admin/ui/static/inspector.css").status_code == 200
    wrong = guarded.post("/__admin/ui/login", data={"token": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not accepted" in wrong.text
    assert guarded.post("/__admin/ui/login", data={}).status_code == 400
    good = guarded.post(
        "/__admin/ui/login",
        data={"token": "page-token", "next": "/__admin/ui/traffic"},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/__admin/ui/traffic"
    cookie = good.headers["set-cookie"]
    assert "page-token" not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/__admin" in cookie
    assert guarded.get("/__admin/tenants").status_code == 200  # the client keeps the cookie
    assert guarded.get("/__admin/ui/tenants").status_code == 200
    # A change needs the page's header as well: another site's form cannot ride on the cookie.
    assert (
        guarded.post("/__admin/tenants/default/clock/advance", json={"days": 1}).status_code == 401
    )
    sent = guarded.post(
        "/__admin/tenants/default/clock/advance",
        json={"days": 1},
        headers={"x-simulator-inspector": "1"},
    )
    assert sent.status_code == 200
    guarded.cookies.clear()
    guarded.cookies.set("simulator_inspector", "forged", path="/__admin")
    assert guarded.get("/__admin/tenants").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/elsewhere"])
def test_the_login_goes_on_only_to_a_page_of_the_inspector(
    guarded: TestClient, target: str
) -> None:
    answer = guarded.post(
        "/__admin/ui/login", data={"token": "page-token", "next": target}, follow_redirects=False
    )
    assert answer.headers["location"] == "/__admin/ui/"


def test_without_a_token_the_pages_are_open_and_the_login_steps_aside(client: TestClient) -> None:
    assert client.get("/__admin/ui/").status_code == 200
    answer = client.get("/__admin/ui/login", follow_redirects=False)
    assert answer.status_code == 303


@pytest.mark.parametrize("name", ["nothing.js", "..%2Froutes.py", "routes.py", ".hidden.css"])
def test_static_serves_only_its_own_files(client: TestClient, name: str) -> None:
    assert client.get(f"/__admin/ui/static/{name}").status_code == 404


# --- ClientToolbox --------------------------------------------------------------------------


def test_clienttoolbox_customers_are_paged_searched_and_carry_balances(client: TestClient) -> None:
    campaigns = client.get(f"{T}/clienttoolbox/campaigns").json()["campaigns"]
    assert {c["type"] for c in campaigns} >= {"points"}
    every = client.get(f"{T}/clienttoolbox/customers", params={"limit": 1000}).json()["customers"]
    first = client.get(f"{T}/clienttoolbox/customers", params={"limit": 2}).json()["customers"]
    second = client.get(f"{T}/clienttoolbox/customers", params={"limit": 2, "start": 2}).json()[
        "customers"
    ]
    assert [c["code"] for c in first + second] == [c["code"] for c in every[:4]]
    found = client.get(f"{T}/clienttoolbox/customers", params={"q": "amy@"}).json()["customers"]
    assert [c["code"] for c in found] == ["12121"]
    assert any(b["balance"] == 2000 for b in found[0]["balances"])
    assert client.get(f"{T}/clienttoolbox/customers", params={"q": "%"}).json()["customers"] == []


def test_clienttoolbox_transactions_and_undo_states_are_paged(client: TestClient) -> None:
    form = {
        **DEFAULT_CREDENTIALS["clienttoolbox"],
        "type": "batch_transactions",
        "delimiter": "pipe",
        "allow-undo": "yes",
        "visits_header_1": "campaign_id",
        "visits_header_2": "code",
        "visits_header_3": "redeemed",
        "visits_header_4": "amount",
        "visits_header_5": "date",
        "Visits_Data": "\n".join(["1111222233334444|12121|N|5|2010-03-15"] * 3),
    }
    for _ in range(2):
        assert client.post("/api.php", data=form).status_code == 200
    path = f"{T}/clienttoolbox/customers/12121/transactions"
    every = client.get(path).json()["transactions"]
    assert len(every) == 6 and every[0]["id"] > every[-1]["id"]
    page = client.get(path, params={"start": 4, "limit": 5}).json()["transactions"]
    assert [t["id"] for t in page] == [t["id"] for t in every[4:]]
    states = client.get(f"{T}/clienttoolbox/undo-states").json()["undoStates"]
    newest = states[0]["id"]
    older = client.get(f"{T}/clienttoolbox/undo-states", params={"before": newest}).json()
    assert [s["id"] for s in older["undoStates"]] == [s["id"] for s in states[1:]]
    assert client.get(f"{T}/clienttoolbox/customers/none/transactions").status_code == 404
    for bad in ({"limit": 0}, {"limit": 1001}, {"start": -1}, {"start": "x"}):
        assert client.get(path, params=bad).status_code == 400, bad
    assert client.get(f"{T}/clienttoolbox/undo-states", params={"before": 0}).status_code == 400


# --- Talon.One ------------------------------------------------------------------------------


def test_talonone_lists_are_paged_and_filtered(client: TestClient) -> None:
    profiles = client.get(f"{T}/talonone/profiles", params={"limit": 2}).json()["profiles"]
    assert len(profiles) == 2 and profiles[0]["id"] > profiles[1]["id"]
    found = client.get(f"{T}/talonone/profiles", params={"q": "customer-1"}).json()["profiles"]
    assert [p["integrationId"] for p in found] == ["customer-1"]
    coupons = client.get(f"{T}/talonone/coupons", params={"q": "EXPIRED"}).json()["coupons"]
    assert [c["value"] for c in coupons] == ["EXPIRED-5"]
    referrals = client.get(f"{T}/talonone/referrals").json()["referrals"]
    assert {r["code"] for r in referrals} >= {"ADA-FRIENDS"}
    audiences = client.get(f"{T}/talonone/audiences").json()["audiences"]
    assert {a["name"]: a["members"] for a in audiences}["Newsletter"] == 2
    assert client.get(f"{T}/talonone/coupons", params={"limit": 5000}).status_code == 400


def test_a_coupon_shows_the_profiles_that_reserved_it(client: TestClient) -> None:
    coupon = client.get(f"{T}/talonone/coupons").json()["coupons"][0]["value"]
    reserved = client.post(
        f"/v1/coupon_reservations/{coupon}",
        json={"integrationIDs": ["customer-2"]},
        headers=DEFAULT_CREDENTIALS["talonone"],
    )
    assert reserved.status_code in (200, 201, 204), reserved.text
    coupons = client.get(f"{T}/talonone/coupons", params={"q": coupon}).json()["coupons"]
    assert coupons[0]["reservations"] == ["customer-2"]


def test_the_ledger_shows_lots_by_state_on_the_tenant_clock(client: TestClient) -> None:
    points = f"{T}/talonone/loyalty/programs/1/points"
    body = {"profileId": "ledger-1", "amount": 30, "startDate": "2D"}
    assert client.post(points, json=body).status_code in (200, 201)
    assert client.post(points, json={"profileId": "ledger-1", "amount": 10}).status_code in (
        200,
        201,
    )
    ledger = f"{T}/talonone/loyalty/programs/1/ledger"
    view = client.get(ledger, params={"profileId": "ledger-1"}).json()
    assert view["totals"] == {"pending": 30, "expired": 0, "active": 10, "spent": 0, "lots": 2}
    assert [lot["status"] for lot in view["lots"]] == ["active", "pending"]
    assert [p["balance"] for p in view["history"]] == [30, 40]
    assert [t["name"] for t in view["program"]["tiers"]][:1] == ["Bronze"]
    pending = client.get(ledger, params={"profileId": "ledger-1", "status": "pending"}).json()
    assert [lot["amount"] for lot in pending["lots"]] == [30]
    client.post(f"{T}/clock/advance", json={"days": 3})
    moved = client.get(ledger, params={"profileId": "ledger-1"}).json()
    assert moved["totals"]["active"] == 40 and moved["totals"]["pending"] == 0
    paged = client.get(ledger, params={"profileId": "ledger-1", "limit": 1, "start": 1}).json()
    assert [lot["amount"] for lot in paged["lots"]] == [30]
    assert client.get(ledger).status_code == 400
    assert client.get(f"{T}/talonone/loyalty/programs/999/ledger?profileId=x").status_code == 404
    assert client.get(ledger, params={"profileId": "x", "status": "gone"}).status_code == 400


# --- CustomerGauge and ECDP -----------------------------------------------------------------


def test_customergauge_unsubscribe_is_added_and_bad_addresses_refused(client: TestClient) -> None:
    added = client.post(
        f"{T}/customergauge/unsubscribes", json={"email": "gone@example.com", "reason": "asked"}
    )
    assert added.status_code == 201 and added.json()["email"] == "gone@example.com"
    listed = client.get(
        "/v4.1/lists/unsubscribe.json", headers=DEFAULT_CREDENTIALS["customergauge"]
    )
    assert "gone@example.com" in listed.text
    assert client.post(f"{T}/customergauge/unsubscribes", json={"email": "nope"}).status_code == 400
    assert client.post(f"{T}/customergauge/unsubscribes", json={}).status_code == 400


def test_ecdp_customers_are_searched_by_email_phone_and_crm_id(client: TestClient) -> None:
    every = client.get(f"{T}/ecdp/customers", params={"limit": 1000}).json()["customers"]
    assert every and every[0]["consentsData"] is not None
    target = every[0]
    by_email = client.get(f"{T}/ecdp/customers", params={"email": target["email"].upper()})
    assert [c["id"] for c in by_email.json()["customers"]] == [target["id"]]
    by_phone = client.get(f"{T}/ecdp/customers", params={"phone": target["phone"]})
    assert target["id"] in [c["id"] for c in by_phone.json()["customers"]]
    by_crm = client.get(f"{T}/ecdp/customers", params={"crmId": target["crmId"]})
    assert [c["id"] for c in by_crm.json()["customers"]] == [target["id"]]
    second = client.get(f"{T}/ecdp/customers", params={"limit": 1, "start": 1}).json()
    assert [c["id"] for c in second["customers"]] == [every[1]["id"]]
    assert client.get(f"{T}/ecdp/customers", params={"limit": "many"}).status_code == 400
    assert client.get("/__admin/tenants/none/ecdp/customers").status_code == 404


def test_talonone_sessions_are_paged(client: TestClient) -> None:
    for n in range(3):
        client.put(
            f"/v2/customer_sessions/paged-{n}",
            json={"customerSession": {"profileId": "customer-1", "cartItems": []}},
            headers=DEFAULT_CREDENTIALS["talonone"],
        )
    every = client.get(f"{T}/talonone/sessions").json()
    page = client.get(f"{T}/talonone/sessions", params={"start": 1, "limit": 1}).json()
    assert [s["customerSession"]["integrationId"] for s in every[:3]] == [
        "paged-2",
        "paged-1",
        "paged-0",
    ]
    assert [s["customerSession"]["integrationId"] for s in page] == ["paged-1"]
    assert client.get(f"{T}/talonone/sessions", params={"limit": 0}).status_code == 400


def test_customergauge_counts_give_every_status(client: TestClient) -> None:
    counts = client.get(f"{T}/customergauge/counts").json()
    assert set(counts["uploads"]) == {"Queued", "Processing", "Processed", "Failed"}
    assert set(counts["mails"]) == {"queued", "sent", "suppressed", "invalid"}
    client.post(
        "/v4.1/stream/transactional.json",
        content="<records><record><Email>counted@example.com</Email></record></records>",
        headers=DEFAULT_CREDENTIALS["customergauge"],
    )
    after = client.get(f"{T}/customergauge/counts").json()
    assert sum(after["uploads"].values()) == sum(counts["uploads"].values()) + 1
    assert client.get("/__admin/tenants/none/customergauge/counts").status_code == 404
